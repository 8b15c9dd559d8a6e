from __future__ import annotations

from datetime import UTC, datetime

import pytest

from codexos_server.errors import ValidationFailed
from codexos_server.pagination import decode_cursor, encode_cursor


def test_cursor_round_trip() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, "abc")) == (when, "abc")


@pytest.mark.parametrize(
    "bad", ["", "%%%", "bm90IGpzb24", "WzEsIDJd", "WyJub3QgYSBkYXRlIiwgIngiXQ"]
)
def test_bad_cursors_are_validation_errors(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(bad)
