"""An uploaded skill checked before anything is stored: the file names (one top-level
directory, ``SKILL.md`` at its root, no absolute paths, no ``..``), the budgets (total
bytes, file count) and the ``SKILL.md`` front matter (``name``, ``description``).

The checks that cost nothing (names, counts, sizes) run before any file is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import yaml

from epistula.errors import InvalidRequestError, RequestTooLargeError

SKILL_FILE = "SKILL.md"
MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_DISPLAY_NAME = 255
MAX_PATH = 1024
RESERVED_WORDS = ("anthropic", "claude")
_NAME = re.compile(r"[a-z0-9-]+")
_XML_TAG = re.compile(r"<[^<>]*>")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)^---[ \t]*\r?$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One ``files[]`` part: its name as sent, its bytes, and their count."""

    path: str | None
    source: BinaryIO
    size: int


@dataclass(frozen=True, slots=True)
class SkillLimits:
    max_bytes: int
    """The total size of one upload's files."""
    max_files: int


@dataclass(frozen=True, slots=True)
class SkillBundle:
    """An upload that passed every check: ``files`` are paths relative to ``directory``."""

    directory: str
    name: str
    description: str
    files: tuple[tuple[str, BinaryIO], ...]
    size_bytes: int


def too_large(limits: SkillLimits) -> RequestTooLargeError:
    return RequestTooLargeError(f"files: the skill's files exceed the maximum total size of {limits.max_bytes} bytes")


def _relative_path(raw: str | None, where: str) -> tuple[str, str]:
    """``(top-level directory, path inside it)`` of a safe relative name."""
    if not raw:
        raise InvalidRequestError(f"{where}: every file needs a file name (its path in the skill directory)")
    if len(raw) > MAX_PATH:
        raise InvalidRequestError(f"{where}: the file path is longer than {MAX_PATH} characters")
    if _UNSAFE_CHARS.search(raw):
        raise InvalidRequestError(f"{where}: the file path {raw!r} holds a backslash or a control character")
    if raw.startswith("/"):
        raise InvalidRequestError(f"{where}: the file path {raw!r} is absolute; paths are relative to the skill")
    parts = raw.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidRequestError(f"{where}: the file path {raw!r} has an empty, `.` or `..` component")
    if len(parts) < 2:
        raise InvalidRequestError(
            f"{where}: {raw!r} is not inside a directory; all files must be in one top-level directory"
        )
    return parts[0], "/".join(parts[1:])


def check_files(files: Sequence[UploadedFile], limits: SkillLimits) -> tuple[str, list[str]]:
    """The budgets and the names, before anything is read: the top-level directory and
    each file's path inside it."""
    if not files:
        raise InvalidRequestError("files: at least one file (the skill's SKILL.md) is required")
    if len(files) > limits.max_files:
        raise InvalidRequestError(f"files: a skill may have at most {limits.max_files} files")
    if sum(f.size for f in files) > limits.max_bytes:
        raise too_large(limits)
    directories: set[str] = set()
    paths: list[str] = []
    for i, upload in enumerate(files):
        directory, path = _relative_path(upload.path, f"files.{i}")
        directories.add(directory)
        paths.append(path)
    if len(directories) > 1:
        raise InvalidRequestError(
            f"files: all files must be in the same top-level directory (found {', '.join(sorted(directories))})"
        )
    if len(set(paths)) != len(paths):
        raise InvalidRequestError("files: the same file path is given twice")
    directory = directories.pop()
    if SKILL_FILE not in paths:
        raise InvalidRequestError(f"files: a {SKILL_FILE} file is required at the root of `{directory}/`")
    return directory, paths


def check_text(field: str, value: str, limit: int) -> str:
    if _XML_TAG.search(value):
        raise InvalidRequestError(f"{field}: must not contain XML tags")
    if len(value) > limit:
        raise InvalidRequestError(f"{field}: must be at most {limit} characters")
    return value


def check_name(value: str, where: str) -> str:
    check_text(where, value, MAX_NAME)
    if not _NAME.fullmatch(value):
        raise InvalidRequestError(f"{where}: {value!r} may use only lowercase letters, numbers and hyphens")
    reserved = [word for word in RESERVED_WORDS if word in value]
    if reserved:
        raise InvalidRequestError(f"{where}: {value!r} contains the reserved word {reserved[0]!r}")
    return value


def check_display_name(value: str) -> str:
    if not value.strip() or "\n" in value or "\r" in value:
        raise InvalidRequestError("display_name: must be one non-empty line")
    return check_text("display_name", value, MAX_DISPLAY_NAME)


def front_matter(text: str) -> dict[str, object]:
    """The YAML between the ``---`` lines that open ``SKILL.md``."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise InvalidRequestError(f"{SKILL_FILE}: must begin with YAML front matter between `---` lines")
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise InvalidRequestError(f"{SKILL_FILE}: the front matter is not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{SKILL_FILE}: the front matter must be a YAML mapping")
    return {str(k): v for k, v in data.items()}


def read_bundle(files: Sequence[UploadedFile], limits: SkillLimits) -> SkillBundle:
    """The checked upload; ``SKILL.md`` is the only file read (and rewound)."""
    directory, paths = check_files(files, limits)
    skill_file = files[paths.index(SKILL_FILE)].source
    raw = skill_file.read()
    skill_file.seek(0)
    try:
        meta = front_matter(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequestError(f"{SKILL_FILE}: must be UTF-8 text") from None
    name = meta.get("name", directory)
    if not isinstance(name, str):
        raise InvalidRequestError(f"{SKILL_FILE}: front matter `name` must be a string")
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        raise InvalidRequestError(f"{SKILL_FILE}: front matter `description` is required (a non-empty string)")
    return SkillBundle(
        directory=directory,
        name=check_name(name.strip(), f"{SKILL_FILE}: front matter `name`"),
        description=check_text(f"{SKILL_FILE}: front matter `description`", description.strip(), MAX_DESCRIPTION),
        files=tuple((path, f.source) for path, f in zip(paths, files, strict=True)),
        size_bytes=sum(f.size for f in files),
    )
