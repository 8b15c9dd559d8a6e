"""Which parser a file needs, decided from its name, its declared content type and its bytes.

The name and the content type say what the uploader claims; the bytes are sniffed to refuse
claims that are false, so a parser is only ever handed the format it expects:

* The extension wins when it is one we support, then the content type (parameters such as
  `charset` ignored; `application/octet-stream` means "unknown"): "server.log" sent as
  text/plain is text. An unsupported extension with no supported content type is refused.
* With neither a known extension nor a known content type (a raw text body, "README"), the
  bytes decide: a PDF, a docx, or else text.
* A PDF must start with `%PDF-`; a docx must be a zip holding `word/document.xml`; the text
  kinds must not carry a binary signature and their first 64 KiB must read as text (see
  `_text` for the encodings). The full text is checked again when it is parsed.

Every refusal is an `UnsupportedType` (the API's 415) whose message says what was claimed and
what the bytes look like.
"""

from __future__ import annotations

import io
import zipfile
from typing import Final

from codexos_server.rag.ingest._text import sniff_text
from codexos_server.rag.ingest.types import UnsupportedType

KINDS: Final = ("txt", "md", "html", "pdf", "docx", "csv", "json")
TEXT_KINDS: Final = frozenset({"txt", "md", "html", "csv", "json"})

_EXTENSIONS: Final = {
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "pdf": "pdf",
    "docx": "docx",
    "csv": "csv",
    "tsv": "csv",
    "json": "json",
}
_CONTENT_TYPES: Final = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "text/json": "json",
}
_UNKNOWN_CONTENT_TYPES: Final = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
)
# Signatures that no text file starts with (each holds a byte that is not printable text).
_SIGNATURES: Final = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy or password-protected Office file (OLE)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x7fELF", "an executable"),
    (b"\xca\xfe\xba\xbe", "an executable"),
    (b"\xcf\xfa\xed\xfe", "an executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00asm", "a WebAssembly module"),
)
_SNIFF_BYTES: Final = 64 * 1024
_DOCX_MAIN_PART: Final = "word/document.xml"


def detect_kind(filename: str | None, content_type: str | None, data: bytes) -> str:
    """One of KINDS for this upload.

    Raises: UnsupportedType when the type is not supported or the bytes contradict it.
    """
    extension = _extension(filename)
    declared = _media_type(content_type)
    if extension is not None and extension in _EXTENSIONS:
        kind, claim = _EXTENSIONS[extension], f"named .{extension}"
    elif declared in _CONTENT_TYPES:
        kind, claim = _CONTENT_TYPES[declared], f"declared as {declared}"
    elif declared.endswith("+json"):
        kind, claim = "json", f"declared as {declared}"
    elif extension is not None:
        raise UnsupportedType(f"files of type .{extension} are not supported")
    elif declared not in _UNKNOWN_CONTENT_TYPES:
        raise UnsupportedType(f"the content type {declared} is not supported")
    else:
        return _sniff(data)
    _verify(kind, claim, data)
    return kind


def _extension(filename: str | None) -> str | None:
    if not filename:
        return None
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    return extension.lower() if dot and stem and extension else None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _sniff(data: bytes) -> str:
    """The kind of an unnamed, untyped upload."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if _is_docx(data):
        return "docx"
    _verify("txt", "sent without a name or type", data)
    return "txt"


def _verify(kind: str, claim: str, data: bytes) -> None:
    if kind == "pdf":
        if not data.startswith(b"%PDF-"):
            raise UnsupportedType(
                f"the file is {claim} but is not a PDF (no %PDF- header); "
                f"it looks like {_describe(data)}"
            )
    elif kind == "docx":
        if not _is_docx(data):
            raise UnsupportedType(
                f"the file is {claim} but is not a Word .docx document "
                f"(a zip holding {_DOCX_MAIN_PART}); it looks like {_describe(data)}"
            )
    else:
        for signature, name in _SIGNATURES:
            if data.startswith(signature):
                raise UnsupportedType(f"the file is {claim} but its content is {name}")
        problem = sniff_text(data[:_SNIFF_BYTES])
        if problem is not None:
            raise UnsupportedType(f"the file is {claim} but holds binary data: {problem}")


def _is_docx(data: bytes) -> bool:
    """Reads only the zip's central directory; nothing is decompressed here."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _DOCX_MAIN_PART in archive.namelist()
    except Exception:  # a malformed zip raises many types; each means "not a docx"
        return False


def _describe(data: bytes) -> str:
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if not data:
        return "an empty file"
    if sniff_text(data[:_SNIFF_BYTES]) is None:
        return "text"
    return "binary data of an unknown format"
