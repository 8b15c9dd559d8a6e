"""Helpers shared by detection and the parsers: decoding bytes to text, normalising
whitespace, the extracted-text budget, and a builder that turns headings and paragraphs into
sections.

Decoding policy (one place, so detection and parsing agree):

* A BOM decides: UTF-8, UTF-16 LE/BE, UTF-32 LE/BE.
* Without a BOM, UTF-8. A file that is UTF-8 apart from a few bad bytes (at most 0.1% of the
  bytes, at least 4 allowed) keeps its UTF-8 reading with U+FFFD for the bad bytes: one
  corrupt byte should not turn every accented letter of a UTF-8 file into mojibake.
* Otherwise Windows-1252, the encoding that legacy "latin-1" text almost always really is
  (browsers treat the label latin-1 as windows-1252), and only when it decodes strictly; its
  five undefined bytes make random binary fail it almost surely.
* UTF-16/32 without a BOM is not guessed: it is full of NUL bytes and is refused as binary.
* Whatever the encoding, text with NUL bytes or more than 1% control characters is binary.
* Declared charsets (an HTTP `charset=` parameter, an HTML `<meta charset>`) are not
  consulted, so text in another legacy encoding (Shift_JIS, GBK, KOI8-R...) is either refused
  or, when its bytes happen to be valid Windows-1252, read as mojibake.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from contextlib import contextmanager

from codexos_server.rag.ingest.types import IngestError, Section, UnsupportedType

_BOMS = (
    # UTF-32 LE first: its BOM starts with the UTF-16 LE BOM.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_REPLACEMENT_UTF8 = "\ufffd".encode()
_NON_ASCII_VALID = re.compile(r"[^\x00-\x7f\ufffd]")
# C0 controls except tab, LF, VT, FF, CR; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_INVISIBLE = str.maketrans("", "", "\u200b\u2060\ufeff\u00ad")


def decode_text(data: bytes) -> str:
    """The whole file as text with newlines normalised to \\n.

    Raises: UnsupportedType when the bytes are not text (see the module docstring).
    """
    text, problem = _decode(data, final=True)
    if problem is not None:
        raise UnsupportedType(f"the file is not text: {problem}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sniff_text(data: bytes) -> str | None:
    """Why `data` (a prefix of a file) is not text, or None if it reads as text."""
    return _decode(data, final=False)[1]


def _decode(data: bytes, *, final: bool) -> tuple[str, str | None]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            text = decoder.decode(data[len(bom) :], final)
            if text.count("\ufffd") > _tolerance(len(data)):
                return "", f"it starts with a {encoding} byte order mark but is not {encoding}"
            return text, _control_problem(text)
    if b"\x00" in data:
        return "", "it contains NUL bytes"
    utf8 = codecs.getincrementaldecoder("utf-8")
    try:
        text = utf8(errors="strict").decode(data, final)
    except UnicodeDecodeError:
        text = utf8(errors="replace").decode(data, final)
        invalid = text.count("\ufffd") - data.count(_REPLACEMENT_UTF8)
        if invalid > _tolerance(len(data)) or not _NON_ASCII_VALID.search(text):
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                return "", "it is neither UTF-8 nor Windows-1252 text"
    return text, _control_problem(text)


def _tolerance(size: int) -> int:
    return max(4, size // 1000)


def _control_problem(text: str) -> str | None:
    controls = len(_CONTROL.findall(text))
    if controls > max(8, len(text) // 100):
        return f"it contains {controls} control characters"
    return None


def normalize_whitespace(text: str) -> str:
    """Runs of spaces/tabs become one space, lines are stripped, at most one blank line
    separates paragraphs, invisible characters (zero-width space, soft hyphen, stray BOM) go."""
    text = text.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def one_line(text: str) -> str:
    """Text for a heading or a title: all whitespace, newlines included, collapsed."""
    return " ".join(text.translate(_INVISIBLE).split())


class TextBudget:
    """Counts extracted characters and stops the parse once `max_chars` is passed.

    Refusing (rather than truncating) is deliberate: a silently truncated document would
    answer questions as if it were complete. The document fails with a message that says
    what to do, and parsing stops as soon as the cap is crossed, so a huge file costs no
    more than `max_chars` of work.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.used = 0

    def take(self, text: str) -> None:
        """Raises: IngestError once the running total exceeds the cap."""
        self.used += len(text)
        if self.used > self.max_chars:
            raise IngestError(
                f"the extracted text exceeds the limit of {self.max_chars:,} characters; "
                "split the document into smaller files"
            )


class SectionBuilder:
    """Collects paragraphs under the current heading path; a heading closes the current
    section and opens a new one whose text starts with the heading itself (so the words of a
    heading are searchable and `ParsedDocument.text` reads like the document)."""

    def __init__(self, budget: TextBudget) -> None:
        self._budget = budget
        self._path: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._sections: list[Section] = []
        self.first_heading: str | None = None

    def heading(self, level: int, text: str) -> None:
        text = one_line(text)
        if not text:
            return
        self._flush()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))
        if self.first_heading is None:
            self.first_heading = text
        self.paragraph(text)

    def paragraph(self, text: str) -> None:
        text = normalize_whitespace(text)
        if text:
            self._budget.take(text)
            self._paragraphs.append(text)

    def sections(self) -> list[Section]:
        self._flush()
        return self._sections

    def _flush(self) -> None:
        if self._paragraphs:
            path = tuple(title for _, title in self._path)
            self._sections.append(Section("\n\n".join(self._paragraphs), path))
            self._paragraphs = []


def require_text(sections: list[Section], what: str) -> list[Section]:
    """Raises: IngestError when nothing was extracted, naming the likely reason."""
    if not sections:
        raise IngestError(f"no text could be extracted from the {what}")
    return sections


@contextmanager
def library_errors(what: str) -> Iterator[None]:
    """Turn whatever a parsing library raises on hostile input into an IngestError.

    Malformed files make pypdf, zipfile, expat and friends raise nearly any exception type
    (KeyError, struct.error, AssertionError, zlib.error...); all of them mean "this file is
    broken", so the broad catch is confined to the calls that parse untrusted bytes.
    """
    try:
        yield
    except IngestError:
        raise
    except RecursionError as exc:
        raise IngestError(f"the {what} is nested too deeply to parse") from exc
    except MemoryError as exc:
        raise IngestError(f"the {what} is too large to parse") from exc
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise IngestError(f"the {what} is malformed or unreadable: {detail}") from exc
