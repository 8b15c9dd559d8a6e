"""The `current_time` tool: what time it is now, in UTC or a named IANA time zone.

Models have no clock; this gives them one. The clock itself is injectable (`now`), so
tests can pin an instant instead of racing the real one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from codexos_server.agents.tools.base import ToolContext, ToolError, register_tool

# Fixed English names: strftime("%A") would follow the process locale.
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def zone(name: str) -> dt.tzinfo:
    """The time zone for an IANA name; UTC works even without a tz database.

    Raises: ToolError for an unknown or malformed name.
    """
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # ValueError: malformed keys such as "../etc"; OSError: a directory such as "Europe".
        raise ToolError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from exc


class CurrentTimeTool:
    """The `current_time` built-in."""

    name = "current_time"
    description = (
        "Get the current date and time (ISO 8601), weekday and Unix timestamp, in UTC or "
        "in a given IANA time zone."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "default": "UTC",
                "description": "IANA time zone name, e.g. 'Europe/Paris'; default UTC",
            }
        },
        "additionalProperties": False,
    }

    def __init__(self, now: Callable[[], dt.datetime] = _utc_now) -> None:
        self._now = now

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """Raises: ToolError for an unknown time zone."""
        name = str(arguments.get("timezone") or "UTC")
        tz = zone(name)
        now = self._now().astimezone(tz)
        offset = now.strftime("%z")  # "+0530"
        return {
            "iso": now.isoformat(timespec="seconds"),
            "timezone": "UTC" if tz is dt.UTC else name,
            "abbreviation": now.tzname(),
            "utc_offset": f"{offset[:3]}:{offset[3:]}",
            "unix": int(now.timestamp()),
            "date": now.date().isoformat(),
            "time": now.strftime("%H:%M:%S"),
            "weekday": _WEEKDAYS[now.weekday()],
        }


current_time = register_tool(CurrentTimeTool())
