"""Pure ASGI middlewares that every HTTP request passes through.

Pure ASGI (not BaseHTTPMiddleware) keeps per-request overhead low and lets errors raised
anywhere below, including in other middlewares, be turned into the envelope here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codexos_server.config import API_PREFIX
from codexos_server.db.base import utcnow
from codexos_server.errors import InternalError, PayloadTooLarge, error_response
from codexos_server.log import get_logger
from codexos_server.monitoring.requests import UNMATCHED_ROUTE, RequestObserver, RequestRecord

log = get_logger("codexos.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _RandomHex:
    """Random hex strings cut from a buffer of OS randomness refilled 4 KiB at a time.

    `secrets.token_hex` makes a getrandom call per id, and a call that releases the GIL is a
    thread switch on a busy server (aiosqlite and threadpool threads wait for the GIL).
    """

    _REFILL = 4096

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0
        # A forked worker must not reuse its parent's unspent bytes.
        os.register_at_fork(after_in_child=self._discard)

    def _discard(self) -> None:
        self._buffer, self._offset = b"", 0

    def __call__(self, nbytes: int) -> str:
        if self._offset + nbytes > len(self._buffer):
            self._buffer, self._offset = os.urandom(self._REFILL), 0
        start = self._offset
        self._offset = start + nbytes
        return self._buffer[start : start + nbytes].hex()


_random_hex = _RandomHex()


def new_request_id() -> str:
    return f"req_{_random_hex(8)}"


class RequestContextMiddleware:
    """Assigns the request id, echoes it, logs one line per request, tells the observers
    (metrics, request records) about it and turns any unhandled exception into a 500
    envelope (the traceback goes to the log, never to the client)."""

    def __init__(self, app: ASGIApp, observers: Sequence[RequestObserver] = ()) -> None:
        self.app = app
        self.observers = tuple(observers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        header_value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", header_value)]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        http = scope["type"] == "http"
        if http:
            for observer in self.observers:
                observer.request_started()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", path=scope.get("path"), method=scope.get("method"))
            if scope["type"] == "http" and not response_started:
                response = error_response(
                    InternalError(
                        "An internal error occurred; quote the request id when reporting it"
                    ),
                    request_id,
                )
                await response(scope, receive, send_with_id)
        finally:
            if http:
                self._finished(scope, status, time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    def _finished(self, scope: Scope, status: int, seconds: float) -> None:
        principal = scope["state"].get("principal")
        record = RequestRecord(
            finished_at=utcnow(),
            method=str(scope.get("method")),
            route=route_template(scope),
            status=status,
            duration_ms=round(seconds * 1000, 3),
            workspace_id=getattr(principal, "workspace_id", None),
            user_id=getattr(principal, "user_id", None),
            api_key_id=getattr(principal, "api_key_id", None),
        )
        log.info(
            "request",
            method=record.method,
            path=scope.get("path"),
            route=record.route,
            status=status,
            duration_ms=round(record.duration_ms, 2),
            user_id=record.user_id,
            workspace_id=record.workspace_id,
        )
        for observer in self.observers:
            observer.request_finished(record)


class BodySizeLimitMiddleware:
    """Refuses request bodies over the limit with a 413 envelope, whether or not the client
    declared a Content-Length (a chunked body is counted as it streams in)."""

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type") or ""
        limit = self.upload_limit if content_type.startswith("multipart/") else self.json_limit
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        err = PayloadTooLarge("Request body is too large", {"max_bytes": limit})
        await error_response(err, scope["state"]["request_id"])(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parser re-raises it as is."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body is too large")


def route_template(scope: Scope) -> str:
    """The matched route's path template. Routers included under the API prefix keep their
    own paths on the route object (FastAPI resolves included routers lazily), so the prefix
    is added back from the request path."""
    template = str(getattr(scope.get("route"), "path", "") or "")
    if not template:
        return UNMATCHED_ROUTE
    path = str(scope.get("path", ""))
    if path.startswith(API_PREFIX + "/") and not template.startswith(API_PREFIX + "/"):
        return API_PREFIX + template
    return template


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def scope_state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state
