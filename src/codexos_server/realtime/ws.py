"""`/api/v1/ws`: the WebSocket endpoint. The protocol is written down in docs/websocket.md.

The handshake lives here (credentials, the per-user connection limit, the frame loop with
its idle timeout); what an authenticated connection can ask for lives in session.py.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from codexos_server.auth.principal import Principal
from codexos_server.config import Settings
from codexos_server.container import get_container
from codexos_server.errors import AppError
from codexos_server.log import get_logger
from codexos_server.realtime.limits import counter_of
from codexos_server.realtime.outbox import Outbox, run_sender
from codexos_server.realtime.protocol import Auth, ClientFrame, ProtocolError, parse_frame
from codexos_server.realtime.session import Session

log = get_logger("codexos.realtime")
router = APIRouter(tags=["realtime"])

BEARER = "bearer"
CLOSE_BAD_FRAME = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDLE = 4408
CLOSE_TOO_MANY = 4429
CLOSE_INTERNAL = 1011
_SENDER_GRACE_SECONDS = 5.0


class _Closed(Exception):
    """The peer went away."""


async def _receive(websocket: WebSocket, settings: Settings) -> ClientFrame:
    """The next client frame. Raises: _Closed, ProtocolError."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise _Closed
    text = message.get("text")
    if text is None:
        raise ProtocolError("binary frames are not supported")
    limit = settings.ws_max_frame_bytes
    if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
        raise ProtocolError(f"frame larger than {limit} bytes")
    return parse_frame(text)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):  # the peer may be gone already
            await websocket.close(code, reason.encode()[:123].decode(errors="ignore"))


def _bearer_token(websocket: WebSocket) -> str | None:
    """`Sec-WebSocket-Protocol: bearer, <token>` → the token."""
    offered: list[str] = websocket.scope.get("subprotocols") or []
    if len(offered) >= 2 and offered[0] == BEARER:
        return offered[1]
    return None


async def _authenticate(websocket: WebSocket, settings: Settings) -> Principal | None:
    """Accept the socket and resolve its credential; on failure close 4401 (4400 for a
    malformed first frame) and return None."""
    token = _bearer_token(websocket)
    if token is not None:
        await websocket.accept(subprotocol=BEARER)
        workspace_id = websocket.query_params.get("workspace_id") or None
    else:
        await websocket.accept()
        try:
            first = await asyncio.wait_for(
                _receive(websocket, settings), settings.ws_auth_timeout_seconds
            )
        except TimeoutError:
            await _close(websocket, CLOSE_UNAUTHENTICATED, "authentication timed out")
            return None
        except ProtocolError as exc:
            await _close(websocket, CLOSE_BAD_FRAME, str(exc))
            return None
        if not isinstance(first, Auth):
            await _close(websocket, CLOSE_UNAUTHENTICATED, "the first frame must be 'auth'")
            return None
        token, workspace_id = first.token, first.workspace_id
    try:
        return await get_container(websocket).authenticator.authenticate(token, workspace_id)
    except AppError as exc:
        await _close(websocket, CLOSE_UNAUTHENTICATED, f"{exc.code}: {exc.message}")
        return None


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    settings = get_container(websocket).settings
    try:
        principal = await _authenticate(websocket, settings)
    except _Closed:
        return
    if principal is None:
        return
    counter = counter_of(websocket)
    if not counter.acquire(principal.user_id, settings.ws_max_connections_per_user):
        await _close(websocket, CLOSE_TOO_MANY, "too many connections for this user")
        return
    metrics = get_container(websocket).metrics
    metrics.websocket_opened()
    try:
        await _serve(websocket, principal, settings)
    finally:
        counter.release(principal.user_id)
        metrics.websocket_closed()


async def _serve(websocket: WebSocket, principal: Principal, settings: Settings) -> None:
    outbox = Outbox(settings.ws_queue_size)
    sender = asyncio.create_task(run_sender(websocket, outbox), name="ws-sender")
    session = Session(get_container(websocket), principal, outbox)
    outbox.put(
        {"type": "auth.ok", "user_id": principal.user_id, "workspace_id": principal.workspace_id}
    )
    close: tuple[int, str] | None = None
    try:
        while close is None:
            try:
                frame = await asyncio.wait_for(
                    _receive(websocket, settings), settings.ws_idle_timeout_seconds
                )
            except TimeoutError:
                close = (CLOSE_IDLE, "idle timeout")
            except ProtocolError as exc:
                close = (CLOSE_BAD_FRAME, str(exc))
            except (_Closed, WebSocketDisconnect, RuntimeError):
                break  # RuntimeError: receiving after the sender closed the socket
            else:
                if isinstance(frame, Auth):
                    close = (CLOSE_BAD_FRAME, "already authenticated")
                else:
                    await session.handle(frame)
    except Exception:
        log.exception("websocket connection failed", user_id=principal.user_id)
        close = (CLOSE_INTERNAL, "internal error")
    finally:
        await session.close()
        if close is not None:
            outbox.close(close[0], close[1].encode()[:123].decode(errors="ignore"))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(sender), _SENDER_GRACE_SECONDS)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        if close is not None:
            await _close(websocket, *close)
