"""parse(): real files of every kind, their structure, and every refusal."""

from __future__ import annotations

import codecs
import io
import json
import random
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from codexos_server.rag.ingest.limits import ParseLimits
from codexos_server.rag.ingest.parse_docx import _events
from codexos_server.rag.ingest.parsers import parse
from codexos_server.rag.ingest.types import IngestError, ParsedDocument, UnsupportedType
from tests.rag import files

MAX = 1_000_000
FAST = 2.0  # seconds: hostile files must fail at least this quickly


@contextmanager
def fails_fast(match: str) -> Iterator[None]:
    started = time.perf_counter()
    with pytest.raises(IngestError, match=match):
        yield
    elapsed = time.perf_counter() - started
    assert elapsed < FAST, f"took {elapsed:.2f}s"


def paths(doc: ParsedDocument) -> list[tuple[str, ...]]:
    return [section.heading_path for section in doc.sections]


# --- text ----------------------------------------------------------------------------------


def test_txt_sections_are_paragraphs_with_whitespace_normalised() -> None:
    data = "First  para\tline one\r\nline two\r\n\r\n\r\n   Second\u00a0para  \n".encode()
    doc = parse("txt", data, max_chars=MAX)
    assert [s.text for s in doc.sections] == ["First para line one\nline two", "Second para"]
    assert doc.title is None
    assert all(s.heading_path == () and s.page is None for s in doc.sections)


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF16_LE + "Grüße aus Köln".encode("utf-16-le"),
        codecs.BOM_UTF8 + "Grüße aus Köln".encode(),
        "Grüße aus Köln".encode("cp1252"),
    ],
)
def test_txt_encodings(data: bytes) -> None:
    assert parse("txt", data, max_chars=MAX).text == "Grüße aus Köln"


def test_txt_binary_past_the_sniffed_prefix_is_refused() -> None:
    data = b"text " * 20_000 + files.binary_blob()
    with pytest.raises(UnsupportedType, match="not text: it contains NUL bytes"):
        parse("txt", data, max_chars=MAX)


def test_markdown_headings_build_paths_and_code_is_not_a_heading() -> None:
    doc = parse("md", files.MARKDOWN, max_chars=MAX)
    assert doc.title == "Guide"
    assert paths(doc) == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "Linux"),
        ("Guide", "Usage"),
    ]
    install = doc.sections[1].text
    assert install.startswith("Install\n\nRun the installer.")
    assert "# not a heading" in install


def test_markdown_front_matter_and_setext_headings() -> None:
    data = b"---\ntitle: 'Field Notes'\ntags: [a]\n---\nOverview\n========\n\nText.\n\nDetails\n-------\n\nMore.\n"
    doc = parse("md", data, max_chars=MAX)
    assert doc.title == "Field Notes"
    assert paths(doc) == [("Overview",), ("Overview", "Details")]
    assert "tags" not in doc.text


# --- HTML ------------------------------------------------------------------------------------


def test_html_strips_scripts_styles_and_chrome_and_keeps_headings() -> None:
    doc = parse("html", files.HTML, max_chars=MAX)
    text = doc.text
    for noise in (
        "SCRIPT-SECRET",
        "MODULE-SECRET",
        "color: red",
        "NAV-LINK",
        "HIDDEN-TEXT",
        "FOOTER-TEXT",
    ):
        assert noise not in text
    assert doc.title == "Lighthouse Manual"
    assert paths(doc) == [
        ("Lighthouse Manual",),
        ("Lighthouse Manual", "Fuel"),
        ("Lighthouse Manual", "Storms"),
    ]
    assert doc.sections[0].text == "Lighthouse Manual\n\nThe lamp must be cleaned every morning."
    assert "Paraffin is stored in the east shed.\nNever near the lamp." in doc.sections[1].text
    assert "Item | Stock\n\nWicks | 40" in doc.sections[1].text
    assert "wind exceeds > 50 knots & log it" in doc.sections[2].text


def test_html_without_title_uses_first_heading_and_tolerates_broken_markup() -> None:
    doc = parse("html", b"<body><h2>Notes<p>unclosed <b>bold <div>and more", max_chars=MAX)
    assert doc.title == "Notes"
    assert doc.text == "Notes\n\nunclosed bold\n\nand more"


# --- CSV and JSON ----------------------------------------------------------------------------


def test_csv_rows_read_as_column_value_pairs() -> None:
    doc = parse("csv", files.CSV, max_chars=MAX)
    assert [s.text for s in doc.sections] == [
        "name: Ada Lovelace; city: London; role: engineer",
        "name: Grace Hopper; city: New York; role: admiral",
        "city: Paris",
    ]
    assert doc.metadata["columns"] == "name, city, role"


def test_csv_semicolons_are_sniffed() -> None:
    doc = parse("csv", b"a;b\n1;2\n3;4\n", max_chars=MAX)
    assert doc.sections[0].text == "a: 1; b: 2"


def test_csv_with_a_huge_field_is_refused() -> None:
    data = b"name,notes\nx," + b"y" * 200_000 + b"\n"
    with fails_fast("CSV field is longer than 131,072 characters"):
        parse("csv", data, max_chars=10_000_000)


def test_json_flattens_to_paths() -> None:
    doc = parse("json", files.JSON, max_chars=MAX)
    assert paths(doc) == [("service",), ("owners",), ("note",)]
    assert (
        doc.sections[0].text
        == "service.name: codexos\nservice.ports[0]: 8001\nservice.ports[1]: 8002\nservice.tls: true"
    )
    assert doc.sections[1].text == "owners[0].name: Ada\nowners[0].email: ada@example.com"
    assert doc.sections[2].text == "note: multi line"


def test_json_top_level_array_gives_a_section_per_item() -> None:
    doc = parse("json", b'[{"q": "why"}, {"q": "how"}]', max_chars=MAX)
    assert [s.text for s in doc.sections] == ["[0].q: why", "[1].q: how"]


def test_json_deeper_than_the_limit_is_kept_compact() -> None:
    value: object = "bottom"
    for _ in range(10):
        value = {"k": value}
    doc = parse(
        "json",
        json.dumps({"top": value}).encode(),
        max_chars=MAX,
        limits=ParseLimits(json_max_depth=4),
    )
    assert (
        doc.sections[0].text
        == 'top.k.k.k: {"k": {"k": {"k": {"k": {"k": {"k": {"k": "bottom"}}}}}}}'
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"a": 1,,}', "JSON file is malformed"),
        (b"[" * 200_000 + b"]" * 200_000, "JSON file is (nested too deeply|malformed)"),
        (b"{}", "no text could be extracted"),
    ],
)
def test_json_refusals(data: bytes, match: str) -> None:
    with fails_fast(match):
        parse("json", data, max_chars=MAX)


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_one_section_per_page_with_title() -> None:
    doc = parse("pdf", files.pdf(files.PAGES), max_chars=MAX)
    assert doc.title == "Field Guide"
    assert doc.metadata == {"author": "Ada Lovelace", "pages": "2"}
    assert [s.page for s in doc.sections] == [1, 2]
    assert "lighthouse keeper counts the ships" in doc.sections[0].text
    assert "harbour freezes" in doc.sections[1].text


def test_pdf_blank_pages_are_skipped_and_a_textless_pdf_is_refused() -> None:
    doc = parse("pdf", files.pdf(["first", "", "third"]), max_chars=MAX)
    assert [s.page for s in doc.sections] == [1, 3]
    with pytest.raises(IngestError, match="needs OCR"):
        parse("pdf", files.pdf(["", ""]), max_chars=MAX)


def test_pdf_with_only_an_owner_password_is_read() -> None:
    doc = parse("pdf", files.encrypted_pdf(user_password=""), max_chars=MAX)
    assert [s.page for s in doc.sections] == [1, 2]


def test_password_protected_pdf_is_refused() -> None:
    with fails_fast("password-protected"):
        parse("pdf", files.encrypted_pdf(user_password="s3cret"), max_chars=MAX)


@pytest.mark.parametrize(
    "data", [files.MALFORMED_PDF, b"%PDF-", b"%PDF-1.4\n" + files.binary_blob(5000)]
)
def test_malformed_pdf_is_refused(data: bytes) -> None:
    with fails_fast("PDF"):
        parse("pdf", data, max_chars=MAX)


def test_truncated_pdf_never_raises_anything_but_ingest_error() -> None:
    with suppress(IngestError):
        parse("pdf", files.truncated_pdf(), max_chars=MAX)


def test_pdf_with_absurd_page_count_is_refused() -> None:
    with fails_fast(r"safety limit and was not read \(Maximum page tree entry limit"):
        parse("pdf", files.pdf_with_pages(50_000), max_chars=MAX)
    with fails_fast("the PDF has 6,000 pages, more than the limit of 5,000"):
        parse("pdf", files.pdf_with_pages(6_000), max_chars=MAX)
    with fails_fast("the PDF has 20 pages, more than the limit of 10"):
        parse("pdf", files.pdf_with_pages(20), max_chars=MAX, limits=ParseLimits(pdf_max_pages=10))


def test_pdf_stream_decompression_bomb_is_refused() -> None:
    data = files.pdf_flate_bomb(expanded_mib=200)
    assert len(data) < 400_000
    with fails_fast("safety limit"):
        parse("pdf", data, max_chars=MAX)


def test_pdf_text_cap() -> None:
    with fails_fast("exceeds the limit of 50 characters"):
        parse("pdf", files.pdf(files.PAGES), max_chars=50)


# --- docx ------------------------------------------------------------------------------------


def test_docx_headings_paragraphs_and_tables() -> None:
    doc = parse("docx", files.docx(), max_chars=MAX)
    assert doc.title == "Employee Handbook"
    assert paths(doc) == [(), ("Leave",), ("Leave", "Parental leave"), ("Expenses",)]
    assert doc.sections[0].text == "Employee Handbook\n\nWelcome to the company. Read this first."
    assert doc.sections[2].text == (
        "Parental leave\n\nParents get sixteen weeks of fully paid parental leave.\n\n"
        "Grade | Days\nJunior | 25\nSenior | 30"
    )
    assert all(s.page is None for s in doc.sections)


def test_docx_zip_bomb_is_refused_before_decompressing() -> None:
    data = files.docx_bomb(expanded_mib=200)
    assert len(data) < 400_000
    with fails_fast("looks like a zip bomb: word/document.xml expands"):
        parse("docx", data, max_chars=MAX)


def test_docx_whose_zip_headers_lie_about_sizes_is_refused() -> None:
    data = files.docx_bomb(expanded_mib=200, declared=10_000)
    with fails_fast("Word document is malformed"):
        parse("docx", data, max_chars=MAX)


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        (ParseLimits(zip_max_total_bytes=1_000), "expands to .* bytes, over the limit of 1,000"),
        (ParseLimits(zip_max_entries=3), "parts; it looks like a zip bomb"),
        (
            ParseLimits(xml_max_bytes=500),
            "word/document.xml is .* bytes uncompressed, over the limit",
        ),
    ],
)
def test_docx_archive_limits(limits: ParseLimits, match: str) -> None:
    with fails_fast(match):
        parse("docx", files.docx(), max_chars=MAX, limits=limits)


def test_docx_streamed_xml_is_bounded_even_if_sizes_lie() -> None:
    """CPython's zipfile already stops at the declared size; the parser does not rely on it:
    the XML is streamed through a reader that counts what it actually decompresses."""
    archive = zipfile.ZipFile(io.BytesIO(files.docx()))
    with pytest.raises(IngestError, match=r"document\.xml expands past 300 bytes"):
        list(_events(archive, "word/document.xml", 300, ("end",)))


def test_docx_xml_entities_are_forbidden() -> None:
    with fails_fast("Word document is malformed"):
        parse("docx", files.docx_from_xml(files.BILLION_LAUGHS), max_chars=MAX)


def test_docx_text_cap() -> None:
    body = b"".join(files.paragraph_xml(f"paragraph number {i}") for i in range(10_000))
    with fails_fast("exceeds the limit of 1,000 characters"):
        parse("docx", files.docx_from_xml(files.document_xml(body)), max_chars=1_000)


@pytest.mark.parametrize("data", [b"PK\x03\x04broken", files.docx()[:2000]])
def test_broken_docx_is_refused(data: bytes) -> None:
    with fails_fast("Word document"):
        parse("docx", data, max_chars=MAX)


# --- across kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("txt", b"word " * 1000),
        ("md", b"# H\n\n" + b"word " * 1000),
        ("html", b"<p>" + b"word " * 1000 + b"</p>"),
        ("csv", b"a\n" + b"value\n" * 1000),
        ("json", json.dumps(["value"] * 1000).encode()),
    ],
)
def test_extracted_text_cap_refuses_rather_than_truncates(kind: str, data: bytes) -> None:
    with pytest.raises(IngestError, match="exceeds the limit of 500 characters"):
        parse(kind, data, max_chars=500)


def test_unknown_kind_is_unsupported() -> None:
    with pytest.raises(UnsupportedType, match="'xlsx' are not supported"):
        parse("xlsx", b"", max_chars=MAX)


@pytest.mark.parametrize(
    ("kind", "original"), [("pdf", files.pdf(files.PAGES)), ("docx", files.docx())]
)
def test_corrupted_files_only_ever_raise_ingest_error(kind: str, original: bytes) -> None:
    """Flip random bytes in real files: parsing succeeds or fails with IngestError, nothing
    else escapes."""
    rng = random.Random(1234)
    for _ in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with suppress(IngestError):
            parse(kind, bytes(data), max_chars=MAX)
