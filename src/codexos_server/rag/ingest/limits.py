"""Safety limits for parsing untrusted files.

Uploads are capped in bytes before they reach the parsers, but a few bytes can expand into a
great deal of work: a zip bomb inside a docx, a decompression bomb in a PDF stream, a page tree
that claims millions of pages, JSON nested a thousand levels deep. Each limit below bounds one
of those expansions so a hostile file fails fast with an `IngestError` instead of exhausting
memory or CPU. The defaults are generous for real documents (a 5,000-page PDF, a docx whose XML
is 128 MiB) and far below what an attack needs.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds applied while parsing; the extracted-text cap (`max_chars`) is passed apart
    because it is a per-deployment setting."""

    pdf_max_pages: int = 5_000
    # Per stream, for every PDF decompression filter (pypdf's own default is 75 MB).
    pdf_max_stream_bytes: int = 16 * MIB
    zip_max_entries: int = 10_000
    # Sum of the declared uncompressed sizes of every part of a docx.
    zip_max_total_bytes: int = 512 * MIB
    # Declared uncompressed / compressed size of one part. Word XML compresses 5-30x; a zip
    # bomb is ~1000x. Only parts larger than `zip_ratio_min_bytes` are checked, so tiny
    # highly repetitive parts (styles, settings) never trip it.
    zip_max_ratio: int = 200
    zip_ratio_min_bytes: int = 1 * MIB
    # Declared and actually-read bytes of one XML part we parse (document.xml, styles.xml).
    xml_max_bytes: int = 128 * MIB
    # JSON deeper than this is kept as compact JSON text instead of flattened paths.
    json_max_depth: int = 32


DEFAULT_LIMITS = ParseLimits()
