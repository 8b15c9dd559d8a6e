"""The SDK's pure helpers: base URL forms, backoff, the SSE decoder, file inputs."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from codexos._core import backoff_delay, normalize_base_url, read_file
from codexos.streaming import iter_events


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.codexos.dev", "https://api.codexos.dev/api/v1"),
        ("https://api.codexos.dev/", "https://api.codexos.dev/api/v1"),
        ("https://api.codexos.dev/api/v1", "https://api.codexos.dev/api/v1"),
        ("http://host:8001/api/v1/", "http://host:8001/api/v1"),
    ],
)
def test_base_url_forms(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    delays = [backoff_delay(n, None) for n in range(8)]
    assert 0.375 <= delays[0] <= 0.5 and 0.75 <= delays[1] <= 1.0
    assert all(d <= 8.0 for d in delays) and delays[7] >= 6.0
    answered = httpx.Response(429, headers={"Retry-After": "3"})
    assert backoff_delay(0, answered) == 3.0
    assert backoff_delay(0, httpx.Response(429, headers={"Retry-After": "soon"})) <= 0.5


def test_sse_decoder() -> None:
    lines = [
        ": comment",
        "id: 1",
        "event: token",
        'data: {"channel": "run:x", "seq": 1, "type": "token", "data": {"delta": "Hi"}}',
        "",
        "event: note",
        "data: plain text",
        "",
        "id: 3",
        'data: {"type": "run.succeeded", "data": {"output": "Hi"}}',
    ]
    events = list(iter_events(lines))
    assert [(e.type, e.seq) for e in events] == [
        ("token", 1),
        ("note", 1),
        ("run.succeeded", 3),
    ]  # the last id persists (SSE)
    assert events[0].data == {"delta": "Hi"} and events[0].channel == "run:x"
    assert events[1].data == {"text": "plain text"}
    assert events[2].data == {"output": "Hi"}


def test_read_file_accepts_paths_bytes_and_file_objects(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"# A")
    assert read_file(path, None) == ("a.md", b"# A")
    assert read_file(str(path), "b.md") == ("b.md", b"# A")
    assert read_file(b"xyz", None) == ("upload.bin", b"xyz")
    with path.open("rb") as fh:
        assert read_file(fh, None) == ("a.md", b"# A")
    assert read_file(io.StringIO("text"), "t.txt") == ("t.txt", b"text")
