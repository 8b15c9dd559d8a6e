"""Real files for the ingestion tests, made on the fly: PDFs by fpdf2 (and by hand where a
library would refuse to write something hostile), docx by python-docx (and raw zips for the
bombs), and text formats as bytes."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from docx import Document
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

# --- PDF ---------------------------------------------------------------------------------


def pdf(pages: Sequence[str], title: str | None = "Field Guide") -> bytes:
    """A real PDF with one page per text, Helvetica, compressed streams, /Title set."""
    document = FPDF()
    if title:
        document.set_title(title)
    document.set_author("Ada Lovelace")
    document.set_font("Helvetica", size=12)
    for text in pages:
        document.add_page()
        document.multi_cell(0, 8, text)
    return bytes(document.output())


def encrypted_pdf(user_password: str) -> bytes:
    """The two-page PDF, encrypted (AES-256) with an owner password and `user_password`; with
    an empty user password anyone may open it."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(PAGES))))
    writer.encrypt(user_password, "owner-" + user_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def raw_pdf(objects: Sequence[bytes]) -> bytes:
    """A PDF from object bodies numbered 1..n (1 must be the catalog), with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, *, flate: bool) -> bytes:
    filters = b" /Filter /FlateDecode" if flate else b""
    return b"<< /Length %d%s >>\nstream\n" % (len(data), filters) + data + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(contents: int) -> bytes:
    return (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>" % contents
    )


def pdf_with_pages(count: int) -> bytes:
    """A tiny PDF whose page tree lists the same page `count` times."""
    kids = b" ".join([b"3 0 R"] * count)
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            _page(4),
            _stream(b"BT /F1 12 Tf 72 720 Td (Same page) Tj ET", flate=False),
            _FONT,
        ]
    )


def pdf_flate_bomb(expanded_mib: int = 200) -> bytes:
    """A one-page PDF whose content stream inflates to `expanded_mib` MiB (~1000:1)."""
    compressor = zlib.compressobj(9)
    block = b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET\n" + b" " * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(expanded_mib)]
    parts.append(compressor.flush())
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _page(4),
            _stream(b"".join(parts), flate=True),
            _FONT,
        ]
    )


MALFORMED_PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R\nthis is not a pdf at all\n"

PAGES = [
    "Chapter one. The lighthouse keeper counts the ships that pass the northern cape.",
    "Chapter two. In winter the harbour freezes and the keeper repairs the great lamp.",
]


def truncated_pdf() -> bytes:
    """A real PDF cut in half: header present, xref and most objects gone."""
    data = pdf(PAGES)
    return data[: len(data) // 2]


# --- docx --------------------------------------------------------------------------------


def docx() -> bytes:
    """A real docx: Title, Heading 1/2 structure, paragraphs and a table."""
    document = Document()
    document.core_properties.title = "Employee Handbook"
    document.add_heading("Employee Handbook", 0)
    document.add_paragraph("Welcome to the company. Read this first.")
    document.add_heading("Leave", 1)
    document.add_paragraph("Everyone gets twenty-five days of paid leave a year.")
    document.add_heading("Parental leave", 2)
    document.add_paragraph("Parents get sixteen weeks of fully paid parental leave.")
    table = document.add_table(rows=3, cols=2)
    for row, (left, right) in zip(
        table.rows, [("Grade", "Days"), ("Junior", "25"), ("Senior", "30")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = left, right
    document.add_heading("Expenses", 1)
    document.add_paragraph("Keep every receipt and file claims within thirty days.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def raw_zip(entries: Sequence[tuple[str, bytes | Repeated, int | None]]) -> bytes:
    """A zip of deflated entries (name, uncompressed data, declared uncompressed size); the declared size is the real one when None, so callers
    can make archives whose headers lie."""
    local = bytearray()
    central = bytearray()
    for name, data, declared in entries:
        compressed, size, crc = _deflate(data)
        usize = size if declared is None else declared
        offset = len(local)
        encoded = name.encode()
        local += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(compressed), usize, len(encoded), 0
        )
        local += encoded + compressed
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(compressed), usize, len(encoded),
            0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += encoded
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(local), 0
    )
    return bytes(local + central + end)


@dataclass(frozen=True)
class Repeated:
    """Data for `raw_zip` given as `head + block * times + tail`, compressed as a stream so
    a 200 MiB part never exists in memory."""

    head: bytes
    block: bytes
    times: int
    tail: bytes

    def pieces(self) -> list[bytes]:
        return [self.head, *[self.block] * self.times, self.tail]


def _deflate(data: bytes | Repeated) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, size, crc = [], 0, 0
    for piece in data.pieces() if isinstance(data, Repeated) else [data]:
        out.append(compressor.compress(piece))
        size += len(piece)
        crc = zlib.crc32(piece, crc)
    out.append(compressor.flush())
    return b"".join(out), size, crc


_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
)


def document_xml(body: bytes) -> bytes:
    return (
        b"<?xml version='1.0'?><w:document " + _W + b"><w:body>" + body + b"</w:body></w:document>"
    )


def paragraph_xml(text: str) -> bytes:
    return b"<w:p><w:r><w:t>" + text.encode() + b"</w:t></w:r></w:p>"


def docx_bomb(expanded_mib: int = 200, declared: int | None = None) -> bytes:
    """A docx whose word/document.xml inflates to `expanded_mib` MiB of one paragraph's text
    (~1000:1); `declared` makes the zip headers claim another uncompressed size."""
    head = document_xml(b"").split(b"</w:body>")[0] + b"<w:p><w:r><w:t>"
    tail = b"</w:t></w:r></w:p></w:body></w:document>"
    body = Repeated(head, b"A" * (1024 * 1024), expanded_mib, tail)
    return raw_zip(
        [("[Content_Types].xml", _CONTENT_TYPES, None), ("word/document.xml", body, declared)]
    )


def docx_from_xml(document: bytes) -> bytes:
    return raw_zip(
        [("[Content_Types].xml", _CONTENT_TYPES, None), ("word/document.xml", document, None)]
    )


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<w:document " + _W + b"><w:body><w:p><w:r><w:t>&lol3;</w:t></w:r></w:p></w:body></w:document>"
)

# --- text formats ------------------------------------------------------------------------

HTML = b"""<!DOCTYPE html>
<html><head><title>Lighthouse  Manual</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var stolen = "SCRIPT-SECRET"; alert(stolen);</script>
</head>
<body>
<nav><a href="/">Home</a> <a href="/about">NAV-LINK</a></nav>
<h1>Lighthouse Manual</h1>
<p>The lamp must be cleaned <b>every</b> morning.</p>
<h2>Fuel</h2>
<p>Paraffin is stored in the <i>east</i> shed.<br>Never near the lamp.</p>
<script type="module">console.log("MODULE-SECRET")</script>
<div hidden>HIDDEN-TEXT</div>
<table><tr><th>Item</th><th>Stock</th></tr><tr><td>Wicks</td><td>40</td></tr></table>
<h2>Storms</h2>
<p>Close the shutters when the wind exceeds &gt; 50 knots &amp; log it.</p>
<footer>FOOTER-TEXT copyright</footer>
</body></html>
"""

MARKDOWN = b"""# Guide

Intro paragraph.

## Install

Run the installer.

```sh
# not a heading
make install
```

### Linux

Use the package manager.

## Usage

Start the server.
"""

CSV = b"name,city,role\r\nAda Lovelace,London,engineer\r\nGrace Hopper,New York,admiral\r\n,Paris,\r\n"

JSON = json.dumps(
    {
        "service": {"name": "codexos", "ports": [8001, 8002], "tls": True},
        "owners": [{"name": "Ada", "email": "ada@example.com"}],
        "note": "multi\nline",
    }
).encode()


def binary_blob(size: int = 4096) -> bytes:
    """Deterministic random bytes: what an executable or image body looks like."""
    return random.Random(7).randbytes(size)


def png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + binary_blob(64)
