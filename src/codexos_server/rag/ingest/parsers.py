"""`parse(kind, data)`: bytes of a detected kind to a `ParsedDocument`.

Synchronous and CPU-bound: the pipeline runs it in a worker thread. Every failure caused by
the file (malformed, encrypted, too large, a bomb) is an `IngestError` with a message meant
for the person who uploaded it; the parsers wrap their libraries' exceptions to keep that
promise (see `_text.library_errors`).
"""

from __future__ import annotations

from collections.abc import Callable

from codexos_server.rag.ingest._text import TextBudget
from codexos_server.rag.ingest.limits import DEFAULT_LIMITS, ParseLimits
from codexos_server.rag.ingest.parse_data import parse_csv, parse_json
from codexos_server.rag.ingest.parse_docx import parse_docx
from codexos_server.rag.ingest.parse_html import parse_html
from codexos_server.rag.ingest.parse_pdf import parse_pdf
from codexos_server.rag.ingest.parse_text import parse_md, parse_txt
from codexos_server.rag.ingest.types import ParsedDocument, UnsupportedType

Parser = Callable[[bytes, TextBudget, ParseLimits], ParsedDocument]

PARSERS: dict[str, Parser] = {
    "txt": parse_txt,
    "md": parse_md,
    "html": parse_html,
    "pdf": parse_pdf,
    "docx": parse_docx,
    "csv": parse_csv,
    "json": parse_json,
}


def parse(
    kind: str, data: bytes, *, max_chars: int, limits: ParseLimits | None = None
) -> ParsedDocument:
    """Extract the text of `data` as sections with heading paths and pages.

    `max_chars` caps the extracted text: past it the document is refused, not truncated.

    Raises: UnsupportedType for an unknown kind; IngestError for a file that cannot be parsed
    or breaks a limit.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    parser = PARSERS.get(kind)
    if parser is None:
        raise UnsupportedType(f"documents of kind {kind!r} are not supported")
    return parser(data, TextBudget(max_chars), limits or DEFAULT_LIMITS)
