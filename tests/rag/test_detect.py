"""detect_kind: names, content types, and sniffing that refuses lies."""

from __future__ import annotations

import codecs
import re

import pytest

from codexos_server.rag.ingest.detect import detect_kind
from codexos_server.rag.ingest.types import IngestError, UnsupportedType
from tests.rag import files

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "kind"),
    [
        ("notes.txt", "text/plain", b"hello", "txt"),
        ("README.MD", None, files.MARKDOWN, "md"),
        ("page.htm", "text/html; charset=utf-8", files.HTML, "html"),
        ("people.csv", "application/octet-stream", files.CSV, "csv"),
        ("tabs.tsv", None, b"a\tb\n1\t2\n", "csv"),
        ("data.json", None, files.JSON, "json"),
        ("C:\\Users\\ada\\report.pdf", None, files.pdf(files.PAGES), "pdf"),
        ("handbook.docx", DOCX_TYPE, files.docx(), "docx"),
        # no usable extension: the content type decides
        ("README", "text/markdown", files.MARKDOWN, "md"),
        ("server.log", "text/plain", b"started", "txt"),
        (None, "application/ld+json", files.JSON, "json"),
        (None, "application/pdf", files.pdf(files.PAGES), "pdf"),
        # neither: the bytes decide
        (None, None, b"just some text", "txt"),
        ("upload", "application/octet-stream", files.pdf(files.PAGES), "pdf"),
        (None, None, files.docx(), "docx"),
    ],
)
def test_detects_supported_kinds(
    filename: str | None, content_type: str | None, data: bytes, kind: str
) -> None:
    assert detect_kind(filename, content_type, data) == kind


def test_extension_wins_over_a_generic_content_type() -> None:
    assert detect_kind("notes.md", "text/plain", files.MARKDOWN) == "md"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + "café ☕".encode(), "utf-8 with BOM"),
        (codecs.BOM_UTF16_LE + "café ☕".encode("utf-16-le"), "utf-16 LE"),
        (codecs.BOM_UTF16_BE + "café ☕".encode("utf-16-be"), "utf-16 BE"),
        (codecs.BOM_UTF32_LE + "café ☕".encode("utf-32-le"), "utf-32 LE"),
        ("naïve façade".encode("cp1252"), "windows-1252 fallback"),
        ("smart “quotes” — dash".encode("cp1252"), "windows-1252 with C1-range bytes"),
    ],
)
def test_accepts_text_in_supported_encodings(data: bytes, encoding: str) -> None:
    assert detect_kind("notes.txt", None, data) == "txt", encoding


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "message"),
    [
        ("photo.png", None, files.png(), "files of type .png are not supported"),
        ("photo.png", "text/plain", files.png(), "declared as text/plain but its content is a PNG"),
        ("sheet.xlsx", None, b"PK\x03\x04", "files of type .xlsx are not supported"),
        (None, "image/png", files.png(), "the content type image/png is not supported"),
        ("notes.txt", None, files.binary_blob(), "named .txt but holds binary data"),
        ("notes.txt", None, files.png(), "named .txt but its content is a PNG image"),
        ("notes.md", None, files.pdf(files.PAGES), "named .md but its content is a PDF"),
        ("data.json", None, files.docx(), "its content is a zip archive"),
        (None, None, files.binary_blob(), "sent without a name or type but holds binary data"),
        (
            "report.pdf",
            None,
            b"Dear Sir, this is not a PDF.",
            "is not a PDF (no %PDF- header); it looks like text",
        ),
        (None, "application/pdf", files.png(), "it looks like a PNG image"),
        ("report.docx", None, files.pdf(files.PAGES), "is not a Word .docx document"),
        (
            "report.docx",
            None,
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
            "legacy or password-protected Office",
        ),
        ("notes.docx", None, b"PK\x03\x04garbage", "is not a Word .docx document"),
        ("utf16.txt", None, "no byte order mark".encode("utf-16-le"), "contains NUL bytes"),
        ("bad.txt", None, codecs.BOM_UTF16_LE + files.binary_blob(301)[:300], "byte order mark"),
        ("ctrl.txt", None, bytes(range(1, 32)) * 40, "control characters"),
    ],
)
def test_refuses_unsupported_or_lying_files(
    filename: str | None, content_type: str | None, data: bytes, message: str
) -> None:
    with pytest.raises(UnsupportedType, match=re.escape(message)) as caught:
        detect_kind(filename, content_type, data)
    assert isinstance(caught.value, IngestError)  # the pipeline's one failure type


def test_a_zip_without_word_document_is_not_a_docx() -> None:
    archive = files.raw_zip([("xl/workbook.xml", b"<workbook/>", None)])
    with pytest.raises(UnsupportedType, match=r"not a Word \.docx document"):
        detect_kind("book.docx", None, archive)


def test_mostly_utf8_with_a_few_bad_bytes_is_still_text() -> None:
    data = ("é" * 2000).encode() + b"\xff" + ("ü" * 2000).encode()
    assert detect_kind("notes.txt", None, data) == "txt"


def test_sniffing_reads_only_a_prefix() -> None:
    """A text file whose binary tail is past 64 KiB passes detection (the parser checks the
    whole file) — and a multi-byte character cut at the sniff boundary is not an error."""
    data = b"a" + ("é" * 40_000).encode()  # the cut at 64 KiB falls inside an "é"
    assert detect_kind("long.txt", None, data) == "txt"
