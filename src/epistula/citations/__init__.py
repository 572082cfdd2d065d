"""Citations on documents: the model's reply is aligned with the documents' sentences
after generation, and the event stream re-cut into cited text blocks (see
:mod:`epistula.citations.stream` and :mod:`epistula.citations.align`)."""

from .segments import segments
from .sources import Chunk
from .stream import cite_events, with_citations

__all__ = ["Chunk", "cite_events", "segments", "with_citations"]
