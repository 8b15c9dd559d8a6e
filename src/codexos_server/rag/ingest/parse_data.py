"""CSV and JSON, rendered as readable text.

Embedders and people read "city: Paris; population: 2.1M" far better than "Paris,2.1M", so
each CSV row is written with its column names, and JSON is flattened to `path: value` lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from codexos_server.rag.ingest._text import (
    TextBudget,
    decode_text,
    library_errors,
    one_line,
    require_text,
)
from codexos_server.rag.ingest.limits import ParseLimits
from codexos_server.rag.ingest.types import IngestError, ParsedDocument, Section

_SNIFF_CHARS = 64 * 1024


def parse_csv(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """The first row is the header; every other row becomes one section
    "column: value; column: value" (empty cells left out).

    The delimiter (comma, semicolon, tab or pipe) is sniffed from the first 64 KiB. Fields are
    bounded by the csv module's field limit (131,072 characters), which we leave at its
    default: it is process-global, so changing it per call would race between threads.
    """
    text = decode_text(data)
    sample = text[:_SNIFF_CHARS].rpartition("\n")[0] or text[:_SNIFF_CHARS]
    dialect: type[csv.Dialect] | csv.Dialect
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    sections: list[Section] = []
    header: list[str] = []
    with library_errors("CSV file"):
        try:
            for row in csv.reader(io.StringIO(text, newline=""), dialect):
                if not header:
                    header = [one_line(name) for name in row]
                    continue
                line = "; ".join(
                    f"{_column(header, i)}: {value}"
                    for i, value in enumerate(one_line(cell) for cell in row)
                    if value
                )
                if line:
                    budget.take(line)
                    sections.append(Section(line))
        except csv.Error as exc:
            if "field limit" in str(exc):
                limit = csv.field_size_limit()
                raise IngestError(f"a CSV field is longer than {limit:,} characters") from exc
            raise
    metadata = {"columns": ", ".join(name for name in header if name)}
    return ParsedDocument(require_text(sections, "CSV file (no data rows)"), metadata=metadata)


def _column(header: list[str], index: int) -> str:
    if index < len(header) and header[index]:
        return header[index]
    return f"column {index + 1}"


def parse_json(data: bytes, budget: TextBudget, limits: ParseLimits) -> ParsedDocument:
    """`path: value` lines (`users[0].name: Ada`). A top-level object gives one section per
    key, with the key as its heading path; a top-level array one section per item. Containers
    nested deeper than `limits.json_max_depth` are kept as compact JSON on one line."""
    text = decode_text(data)
    with library_errors("JSON file"):
        value = json.loads(text)
        parts: list[tuple[str, Any, tuple[str, ...]]]
        if isinstance(value, dict):
            parts = [(str(key), item, (one_line(str(key)),)) for key, item in value.items()]
        elif isinstance(value, list):
            parts = [(f"[{index}]", item, ()) for index, item in enumerate(value)]
        else:
            parts = [("", value, ())]
        sections: list[Section] = []
        for path, item, heading_path in parts:
            lines: list[str] = []
            for line in _flatten(item, path, 1, limits.json_max_depth):
                budget.take(line)
                lines.append(line)
            if lines:
                sections.append(Section("\n".join(lines), heading_path))
    return ParsedDocument(require_text(sections, "JSON file"))


def _flatten(value: Any, path: str, depth: int, max_depth: int) -> Iterator[str]:
    if isinstance(value, dict | list) and value and depth < max_depth:
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                yield from _flatten(item, child, depth + 1, max_depth)
        else:
            for index, item in enumerate(value):
                yield from _flatten(item, f"{path}[{index}]", depth + 1, max_depth)
        return
    rendered = one_line(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if rendered:  # empty strings are left out, like empty CSV cells
        yield f"{path}: {rendered}" if path else rendered
