"""HTML, with the stdlib's `html.parser` (no network, no entity expansion beyond HTML's own
named references, tolerant of broken markup).

What is kept is what a reader sees as the page's content. Dropped: `<head>` (its `<title>`
becomes the title), scripts, styles, templates, embedded SVG/MathML/objects, form controls,
and navigation chrome (`<nav>`, `<aside>`, `<footer>`), plus anything marked `hidden` or
`aria-hidden="true"`. Headings `<h1>`…`<h6>` build the heading path.
"""

from __future__ import annotations

from html.parser import HTMLParser

from codexos_server.rag.ingest._text import (
    SectionBuilder,
    TextBudget,
    decode_text,
    library_errors,
    one_line,
    require_text,
)
from codexos_server.rag.ingest.limits import ParseLimits
from codexos_server.rag.ingest.types import ParsedDocument

_SKIPPED = frozenset(
    {
        "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
        "canvas", "select", "button", "textarea", "nav", "aside", "footer",
    }
)  # fmt: skip
_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    }
)  # fmt: skip
_BLOCKS = frozenset(
    {
        "address", "article", "blockquote", "body", "caption", "dd", "details", "dialog", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "form", "header", "hr", "html", "legend",
        "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


def parse_html(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """Sections under the page's headings; the title is `<title>`, else the first heading."""
    extractor = _Extractor(SectionBuilder(budget))
    with library_errors("HTML file"):
        extractor.feed(decode_text(data))
        extractor.close()
    sections = require_text(extractor.builder.sections(), "HTML file")
    return ParsedDocument(sections, title=extractor.title or extractor.builder.first_heading)


class _Extractor(HTMLParser):
    def __init__(self, builder: SectionBuilder) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = builder
        self.title: str | None = None
        self._skipping: list[str] = []  # open elements whose content is dropped
        self._text: list[str] = []  # the paragraph (or heading) being read
        self._heading: int | None = None
        self._title: list[str] | None = None
        self._pre = 0
        self._cells = 0  # cells seen in the current table row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None and self._skipping in ([], ["head"]):
            self._title = []
            return
        if tag == "body" and "head" in self._skipping:
            self._skipping.remove("head")  # <head> is often left unclosed
        if tag in _VOID:
            if tag == "br" and not self._skipping:
                self._text.append("\n")
            elif tag == "hr":
                self._end_block()
            return
        hidden = any(
            name == "hidden" or (name == "aria-hidden" and value == "true") for name, value in attrs
        )
        if tag in _SKIPPED or hidden or self._skipping:
            self._skipping.append(tag)
            return
        if self._heading is not None and (tag in _HEADINGS or tag in _BLOCKS):
            self._end_heading()  # an unclosed heading ends where the next block starts
        if tag in _HEADINGS:
            self._end_block()
            self._heading = _HEADINGS[tag]
        elif tag in ("td", "th"):
            if self._cells:
                self._text.append(" | ")
            self._cells += 1
        elif tag in _BLOCKS:
            self._end_block()
            if tag == "tr":
                self._cells = 0
            elif tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.title = one_line("".join(self._title)) or None
            self._title = None
            return
        if self._skipping:
            if tag in self._skipping:
                # Close up to the last open element of that name (tolerates unclosed children).
                del self._skipping[len(self._skipping) - 1 - self._skipping[::-1].index(tag) :]
            return
        if tag in _HEADINGS and self._heading is not None:
            self._end_heading(force=True)
        elif tag in ("td", "th"):
            return
        elif tag in _BLOCKS:
            self._end_block()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            elif tag in ("tr", "table"):
                self._cells = 0

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)
        elif not self._skipping:
            self._text.append(data if self._pre else data.replace("\n", " "))

    def close(self) -> None:
        super().close()
        self._end_heading(force=True)
        self._end_block()

    def _end_heading(self, *, force: bool = False) -> None:
        """Close the open heading; without `force`, only once it has text (so
        `<h2><div>Title</div></h2>` is still a heading)."""
        text = "".join(self._text)
        if self._heading is None or not (force or text.strip()):
            return
        self.builder.heading(self._heading, text)
        self._text.clear()
        self._heading = None

    def _end_block(self) -> None:
        if self._heading is not None:
            return  # block tags inside a heading do not end it
        if self._text:
            self.builder.paragraph("".join(self._text))
            self._text.clear()
