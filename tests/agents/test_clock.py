"""The current_time tool, on a pinned clock and on the real one."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from codexos_server.agents.tools.base import ToolContext, ToolError, validate_arguments
from codexos_server.agents.tools.clock import CurrentTimeTool

CTX = ToolContext("ws_1", "user_1", "run_1")
INSTANT = dt.datetime(2024, 7, 1, 12, 30, 5, 999_000, tzinfo=dt.UTC)  # a Monday


def pinned() -> CurrentTimeTool:
    return CurrentTimeTool(now=lambda: INSTANT)


async def test_default_is_utc() -> None:
    result = await pinned()(CTX, {})
    assert result == {
        "iso": "2024-07-01T12:30:05+00:00",
        "timezone": "UTC",
        "abbreviation": "UTC",
        "utc_offset": "+00:00",
        "unix": 1719837005,
        "date": "2024-07-01",
        "time": "12:30:05",
        "weekday": "Monday",
    }


@pytest.mark.parametrize(
    ("zone", "iso", "offset", "weekday"),
    [
        ("Europe/Paris", "2024-07-01T14:30:05+02:00", "+02:00", "Monday"),
        ("Asia/Kolkata", "2024-07-01T18:00:05+05:30", "+05:30", "Monday"),
        ("Pacific/Kiritimati", "2024-07-02T02:30:05+14:00", "+14:00", "Tuesday"),
        ("America/New_York", "2024-07-01T08:30:05-04:00", "-04:00", "Monday"),
    ],
)
async def test_named_zones(zone: str, iso: str, offset: str, weekday: str) -> None:
    result = await pinned()(CTX, {"timezone": zone})
    assert (result["iso"], result["utc_offset"], result["weekday"]) == (iso, offset, weekday)
    assert result["timezone"] == zone
    assert result["unix"] == 1719837005  # the same instant everywhere


async def test_the_real_clock() -> None:
    result = await CurrentTimeTool()(CTX, {"timezone": "Asia/Tokyo"})
    assert abs(result["unix"] - time.time()) < 5
    assert result["iso"].endswith("+09:00")


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "Europe", "../../etc/passwd", "/etc/localtime", "UTC+2"]
)
async def test_bad_zones_are_tool_errors(zone: str) -> None:
    with pytest.raises(ToolError, match="unknown time zone"):
        await pinned()(CTX, {"timezone": zone})


@pytest.mark.parametrize("arguments", [{"timezone": 5}, {"timezone": ""}, {"tz": "UTC"}])
def test_bad_arguments(arguments: dict[str, Any]) -> None:
    with pytest.raises(ToolError, match="invalid arguments"):
        validate_arguments(CurrentTimeTool.parameters, arguments)
