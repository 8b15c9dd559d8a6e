"""Word .docx, read straight from its OOXML parts with `zipfile` and `defusedxml`.

Zip bombs are refused before anything is decompressed, from the archive's central directory:
too many parts, a declared uncompressed total over `limits.zip_max_total_bytes`, an XML part
we would read declaring more than `limits.xml_max_bytes`, or any part larger than
`limits.zip_ratio_min_bytes` whose declared uncompressed/compressed ratio exceeds
`limits.zip_max_ratio`. Declared sizes can lie, so the XML is then streamed through a reader
that stops at `limits.xml_max_bytes` actually decompressed bytes, and parsed incrementally
(`iterparse`, each body element dropped once read) with DTDs, entities and external
references forbidden: no billion laughs, no XXE.

Structure: paragraphs styled "Heading 1".."Heading 9" (by style name, so localised style ids
work, or by outline level) build the heading path; the "Title" style and the core
properties' title give the title; each table row becomes one line "cell | cell | cell".
Deleted revisions and field codes are left out; headers, footers and footnotes are not read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import iterparse

from codexos_server.rag.ingest._text import (
    SectionBuilder,
    TextBudget,
    library_errors,
    one_line,
    require_text,
)
from codexos_server.rag.ingest.limits import MIB, ParseLimits
from codexos_server.rag.ingest.types import IngestError, ParsedDocument

_DOCUMENT = "word/document.xml"
_STYLES = "word/styles.xml"
_CORE = "docProps/core.xml"
_CORE_MAX_BYTES = 4 * MIB  # core properties are a few hundred bytes in real files
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def parse_docx(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """Raises: IngestError for a broken or encrypted archive, a zip bomb, unsafe XML, or a
    document without text."""
    with library_errors("Word document"), zipfile.ZipFile(io.BytesIO(data)) as archive:
        _check_archive(archive, limits)
        styles = _heading_styles(archive, limits)
        builder = SectionBuilder(budget)
        title = _read_body(archive, limits, styles, builder)
        title = _core_title(archive, limits) or title
    sections = require_text(builder.sections(), "Word document")
    return ParsedDocument(sections, title=title or builder.first_heading)


def _check_archive(archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    infos = archive.infolist()
    names = {info.filename for info in infos}
    if _DOCUMENT not in names:
        raise IngestError(f"the Word document has no {_DOCUMENT}")
    if len(infos) > limits.zip_max_entries:
        raise IngestError(f"the Word document has {len(infos):,} parts; it looks like a zip bomb")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise IngestError("the Word document is encrypted; upload an unprotected copy")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.zip_ratio_min_bytes and ratio > limits.zip_max_ratio:
            raise IngestError(
                f"the Word document looks like a zip bomb: {info.filename} expands "
                f"{ratio:,.0f}-fold to {info.file_size:,} bytes"
            )
        if info.filename in (_DOCUMENT, _STYLES) and info.file_size > limits.xml_max_bytes:
            raise IngestError(
                f"the Word document's {info.filename} is {info.file_size:,} bytes uncompressed, "
                f"over the limit of {limits.xml_max_bytes:,}"
            )
    if total > limits.zip_max_total_bytes:
        raise IngestError(
            f"the Word document expands to {total:,} bytes, over the limit of "
            f"{limits.zip_max_total_bytes:,}; it looks like a zip bomb"
        )


class _BoundedReader:
    """A file-like view of one zip member that refuses to yield more than `limit` bytes, so
    a member whose declared size lies still cannot expand without bound."""

    def __init__(self, archive: zipfile.ZipFile, name: str, limit: int) -> None:
        self._file = archive.open(name)
        self._name = name
        self._left = limit
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        want = self._left + 1 if size < 0 else min(size, self._left + 1)
        chunk = self._file.read(want)
        self._left -= len(chunk)
        if self._left < 0:
            raise IngestError(
                f"the Word document's {self._name} expands past {self._limit:,} bytes; "
                "it looks like a zip bomb"
            )
        return chunk

    def close(self) -> None:
        self._file.close()


def _events(
    archive: zipfile.ZipFile, name: str, limit: int, events: tuple[str, ...]
) -> Iterator[tuple[str, Element]]:
    source = _BoundedReader(archive, name, limit)
    try:
        yield from iterparse(source, events=events, forbid_dtd=True)
    finally:
        source.close()


def _local(tag: str) -> str:
    """`{namespace}name` -> `name`: transitional and strict OOXML use different namespaces."""
    return tag.rpartition("}")[2]


def _attr(element: Element | None, name: str) -> str | None:
    if element is None:
        return None
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _outline_level(properties: Element | None) -> int | None:
    """`w:outlineLvl` is 0-based; 9 means body text."""
    level = _attr(_child(properties, "outlineLvl"), "val") if properties is not None else None
    if level is not None and level.isdigit() and int(level) < 9:
        return int(level) + 1
    return None


def _heading_styles(archive: zipfile.ZipFile, limits: ParseLimits) -> dict[str, int]:
    """Paragraph style id -> heading level (0 for the Title style)."""
    if _STYLES not in archive.namelist():
        return {}
    levels: dict[str, int] = {}
    for _, element in _events(archive, _STYLES, limits.xml_max_bytes, ("end",)):
        if _local(element.tag) != "style":
            continue
        style_id = _attr(element, "styleId")
        name_element = _child(element, "name")
        name = (_attr(name_element, "val") or "").strip()
        if style_id:
            if name.lower() == "title":
                levels[style_id] = 0
            elif heading := _HEADING_NAME.match(name):
                levels[style_id] = int(heading.group(1))
            elif (level := _outline_level(_child(element, "pPr"))) is not None:
                levels[style_id] = level
        element.clear()
    return levels


def _read_body(
    archive: zipfile.ZipFile,
    limits: ParseLimits,
    styles: dict[str, int],
    builder: SectionBuilder,
) -> str | None:
    """Feed the body's paragraphs and tables to `builder`; returns the Title-style text."""
    title: str | None = None
    depth = 0
    body: Element | None = None
    for event, element in _events(archive, _DOCUMENT, limits.xml_max_bytes, ("start", "end")):
        if event == "start":
            depth += 1
            if depth == 2 and _local(element.tag) == "body":
                body = element
            continue
        depth -= 1
        if depth != 2 or body is None:
            continue
        kind = _local(element.tag)
        if kind == "p":
            text = _paragraph_text(element)
            level = _paragraph_level(element, styles)
            if level == 0:
                title = title or one_line(text) or None
                builder.paragraph(text)
            elif level is not None:
                builder.heading(level, text)
            else:
                builder.paragraph(text)
        elif kind == "tbl":
            builder.paragraph(_table_text(element))
        else:  # content controls and the like: keep their paragraphs' text
            builder.paragraph("\n".join(_paragraph_text(p) for p in _all(element, "p")))
        body.clear()  # drop what has been read: memory stays flat on long documents
    return title


def _all(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element.iter() if _local(child.tag) == name)


def _paragraph_level(paragraph: Element, styles: dict[str, int]) -> int | None:
    properties = _child(paragraph, "pPr")
    if properties is None:
        return None
    style = _attr(_child(properties, "pStyle"), "val")
    if style is not None:
        if style in styles:
            return styles[style]
        if heading := re.fullmatch(r"heading\s*([1-9])", style, re.IGNORECASE):
            return int(heading.group(1))
        if style.lower() == "title":
            return 0
    return _outline_level(properties)


def _paragraph_text(paragraph: Element) -> str:
    parts: list[str] = []
    for node in paragraph.iter():
        name = _local(node.tag)
        if name == "t":
            parts.append(node.text or "")
        elif name == "tab":
            parts.append("\t")
        elif name in ("br", "cr"):
            parts.append("\n")
    return "".join(parts)


def _table_text(table: Element) -> str:
    rows: list[str] = []
    for row in table:
        if _local(row.tag) != "tr":
            continue
        cells = [
            one_line(" ".join(_paragraph_text(p) for p in _all(cell, "p")))
            for cell in row
            if _local(cell.tag) == "tc"
        ]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _core_title(archive: zipfile.ZipFile, limits: ParseLimits) -> str | None:
    if _CORE not in archive.namelist():
        return None
    for _, element in _events(archive, _CORE, _CORE_MAX_BYTES, ("end",)):
        if _local(element.tag) == "title" and element.text:
            return one_line(element.text) or None
    return None
