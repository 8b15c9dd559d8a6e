"""The client frames of the WebSocket protocol (docs/websocket.md) and their parsing.

A frame that does not parse is a protocol error: the connection is closed with 4400 and the
reason. A frame that parses but asks for something refused (an unknown run, a missing scope)
is answered with an `error` frame and the connection stays open.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError

from codexos_server.realtime.channels import MAX_CHANNEL_LENGTH

FrameId = Annotated[str, Field(max_length=64)] | StrictInt
Ident = Annotated[str, Field(min_length=1, max_length=64)]
Channel = Annotated[str, Field(min_length=1, max_length=MAX_CHANNEL_LENGTH)]


class ProtocolError(Exception):
    """A frame the server cannot understand: close 4400 with this reason."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: FrameId | None = None


class Auth(_Frame):
    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]
    workspace_id: Ident | None = None


class Subscribe(_Frame):
    type: Literal["subscribe"]
    channel: Channel
    after_seq: Annotated[int, Field(ge=0)] | None = None


class Unsubscribe(_Frame):
    type: Literal["unsubscribe"]
    channel: Channel


class Chat(_Frame):
    type: Literal["chat"]
    agent_id: Ident
    message: Annotated[str, Field(min_length=1, max_length=200_000)]
    conversation_id: Ident | None = None
    variables: dict[str, str] = Field(default_factory=dict)


class Cancel(_Frame):
    """Exactly one of `run_id` (an agent run) and `workflow_run_id`."""

    type: Literal["cancel"]
    run_id: Ident | None = None
    workflow_run_id: Ident | None = None


class Ping(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    Auth | Subscribe | Unsubscribe | Chat | Cancel | Ping, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


def parse_frame(text: str) -> ClientFrame:
    """Raises: ProtocolError with a short, client-safe reason."""
    try:
        raw: Any = json.loads(text)
    except ValueError:
        raise ProtocolError("frame is not valid JSON") from None
    except RecursionError:
        raise ProtocolError("frame nests too deeply") from None
    if not isinstance(raw, dict):
        raise ProtocolError("frame is not a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("frame has no string 'type'")
    try:
        frame = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "union_tag_invalid":
            raise ProtocolError(f"unknown frame type {kind[:32]!r}") from None
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        raise ProtocolError(f"invalid {kind[:32]!r} frame: {where}: {first['msg']}") from None
    if isinstance(frame, Cancel) and (frame.run_id is None) == (frame.workflow_run_id is None):
        raise ProtocolError("'cancel' needs exactly one of run_id and workflow_run_id")
    return frame


def error_frame(
    frame_id: str | int | None, code: str, message: str, details: Any = None
) -> dict[str, Any]:
    return {"type": "error", "id": frame_id, "code": code, "message": message, "details": details}
