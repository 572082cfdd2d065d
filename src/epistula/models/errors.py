"""What can go wrong finding, downloading or reading a model (one base: :class:`ModelError`)."""

from __future__ import annotations


class ModelError(Exception):
    """A model could not be found, fetched or read; the message says what to do."""


class RefError(ModelError, ValueError):
    """A reference that names no model (bad syntax, or no file of a repository fits)."""


class ModelNotFound(ModelError, LookupError):
    """The reference names nothing on this machine (a hub model may be pulled)."""


class HubError(ModelError):
    """The hub (or its mirror) could not be asked, or refused."""


class OllamaError(ModelNotFound):
    """The Ollama store has no such model, or its manifest is unreadable."""


class DownloadError(ModelError):
    """The transfer failed (what arrived is kept: the next pull resumes it)."""


class IntegrityError(DownloadError):
    """The downloaded bytes do not have the published sha256 (or size)."""


class GGUFError(ModelError, ValueError):
    """The file is not a GGUF this reader understands."""
