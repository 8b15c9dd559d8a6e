"""Plain text and Markdown."""

from __future__ import annotations

import re

from codexos_server.rag.ingest._text import (
    SectionBuilder,
    TextBudget,
    decode_text,
    normalize_whitespace,
    one_line,
    require_text,
)
from codexos_server.rag.ingest.limits import ParseLimits
from codexos_server.rag.ingest.types import ParsedDocument, Section

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.IGNORECASE)


def parse_txt(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """One section per blank-line-separated paragraph; plain text has no headings or title."""
    sections: list[Section] = []
    for block in _PARAGRAPH_BREAK.split(decode_text(data)):
        text = normalize_whitespace(block)
        if text:
            budget.take(text)
            sections.append(Section(text))
    return ParsedDocument(require_text(sections, "text file"))


def parse_md(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """ATX (`# …`) and setext (`===`/`---` underlines) headings build the heading path;
    lines inside fenced code blocks are never headings. YAML front matter is dropped, its
    `title:` kept. The title is the front matter's, else the first heading's. Markup other
    than headings stays in the text: embedders cope with it and code keeps its meaning."""
    lines = decode_text(data).split("\n")
    title, start = _front_matter(lines)
    builder = SectionBuilder(budget)
    paragraph: list[str] = []
    fence: str | None = None

    def flush() -> None:
        builder.paragraph("\n".join(paragraph))
        paragraph.clear()

    for line in lines[start:]:
        if fence is not None:
            paragraph.append(line)
            if line.strip().startswith(fence):
                fence = None
            continue
        if opening := _FENCE.match(line):
            fence = opening.group(1)
            paragraph.append(line)
        elif heading := _ATX.match(line):
            flush()
            builder.heading(len(heading.group(1)), heading.group(2) or "")
        elif (underline := _SETEXT.match(line)) and len(paragraph) == 1:
            text = paragraph.pop()
            builder.heading(1 if underline.group(1).startswith("=") else 2, text)
        elif not line.strip():
            flush()
        elif _SETEXT.match(line) and not paragraph:
            continue  # a thematic break (---) between paragraphs
        else:
            paragraph.append(line)
    flush()
    sections = require_text(builder.sections(), "Markdown file")
    return ParsedDocument(sections, title=title or builder.first_heading)


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """(title, first line after the front matter); (None, 0) when there is none."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            title = None
            for line in lines[1:end]:
                if found := _FRONT_MATTER_TITLE.match(line):
                    title = one_line(found.group(1).strip("\"'")) or None
            return title, end + 1
    return None, 0
