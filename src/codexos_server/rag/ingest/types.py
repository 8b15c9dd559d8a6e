"""What parsing and chunking produce."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text from a document with where it sits: the headings above it and, for
    paged formats, its page (1-based)."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    sections: list[Section]
    title: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before it is embedded and stored."""

    text: str
    position: int
    token_count: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None


class IngestError(Exception):
    """A document cannot be ingested (unsupported, malformed, too large...); the document is
    marked failed with this message, the server carries on."""


class UnsupportedType(IngestError):
    """Not one of the supported types (txt, md, html, pdf, docx, csv, json)."""
