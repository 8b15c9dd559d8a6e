"""PDF with pypdf: one section per page, `page` 1-based, title from the document info.

Guards, all failing with an IngestError before much work is done:

* pypdf's own resource limits, tightened for the duration of the parse through its
  context-local configuration: every decompression filter stops at
  `limits.pdf_max_stream_bytes` per stream (a flate bomb in a content stream is cut off at
  16 MiB instead of pypdf's 75 MB), the page tree may not hold many more entries than
  `limits.pdf_max_pages`, and the external jbig2dec program is never run.
* More pages than `limits.pdf_max_pages` is refused before any text is extracted.
* Extracted text counts against the `max_chars` budget page by page.
* A password-protected PDF is refused. One encrypted with only an owner password (the
  "no copying" kind, readable by anyone) is opened with the empty user password.
"""

from __future__ import annotations

import io
from typing import Any

from pypdf import PasswordType, PdfReader, apply_configuration
from pypdf.errors import LimitReachedError

from codexos_server.rag.ingest._text import (
    TextBudget,
    library_errors,
    normalize_whitespace,
    one_line,
    require_text,
)
from codexos_server.rag.ingest.limits import ParseLimits
from codexos_server.rag.ingest.types import IngestError, ParsedDocument, Section


def parse_pdf(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """Raises: IngestError for a malformed, encrypted, oversized or bomb-carrying PDF, or one
    without extractable text (a scan: OCR is not supported)."""
    with apply_configuration(**_configuration(limits)), library_errors("PDF"):
        try:
            return _parse(data, budget, limits)
        except LimitReachedError as exc:
            raise IngestError(
                f"the PDF exceeds a safety limit and was not read ({one_line(str(exc))[:200]})"
            ) from exc


def _configuration(limits: ParseLimits) -> dict[str, Any]:
    stream = limits.pdf_max_stream_bytes
    tree = 2 * limits.pdf_max_pages + 1_000  # pages plus their intermediate nodes
    # pypdf counts every dictionary entry copied into a page while flattening the tree.
    page_entries = 50 * limits.pdf_max_pages
    return {
        "zlib_maximum_output_length": stream,
        "lzw_maximum_output_length": stream,
        "run_length_maximum_output_length": stream,
        "brotli_maximum_output_length": stream,
        "jbig2_maximum_output_length": stream,
        "array_based_stream_maximum_output_length": stream,
        "image_maximum_buffer_size": stream,
        "stream_decoding_work_maximum_length": 4 * stream,
        "page_tree_maximum_entries": tree,
        "page_tree_maximum_page_entries": page_entries,
        "jbig2dec_binary": None,
    }


def _parse(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise IngestError("the PDF is password-protected; upload an unprotected copy")
    count = len(reader.pages)
    if count > limits.pdf_max_pages:
        raise IngestError(
            f"the PDF has {count:,} pages, more than the limit of {limits.pdf_max_pages:,}"
        )
    sections: list[Section] = []
    for number, page in enumerate(reader.pages, start=1):
        text = normalize_whitespace(page.extract_text())
        if text:
            budget.take(text)
            sections.append(Section(text, page=number))
    require_text(sections, "PDF (a scanned PDF needs OCR, which is not supported)")
    title, metadata = _info(reader)
    metadata["pages"] = str(count)
    return ParsedDocument(sections, title=title, metadata=metadata)


def _info(reader: PdfReader) -> tuple[str | None, dict[str, str]]:
    """Title and author from the document info; a broken info dictionary is ignored rather
    than failing a PDF whose pages read fine."""
    try:
        info = reader.metadata
        if info is None:
            return None, {}
        title, author = one_line(info.title or ""), one_line(info.author or "")
    except Exception:  # optional metadata of an untrusted file: any failure means "none"
        return None, {}
    return title or None, {"author": author} if author else {}
