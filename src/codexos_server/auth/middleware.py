"""Authentication and rate limiting for every HTTP request.

The middleware identifies the caller (it never refuses on bad credentials: a public route
such as login must still work), then charges the request to the caller's hourly budget —
the user's tier when identified, the client IP otherwise — and puts the rate-limit headers
on the response. Route dependencies decide whether a principal is required.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codexos_server.auth.authenticate import Authenticator
from codexos_server.auth.principal import Principal
from codexos_server.errors import AppError, RateLimitExceeded, error_response
from codexos_server.middleware import scope_state
from codexos_server.ratelimit import RequestLimits


class AuthRateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        limits: RequestLimits,
        exempt_paths: frozenset[str],
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limits = limits
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope_state(scope)
        principal: Principal | None = None
        token, workspace_id = _credentials(scope)
        if token:
            try:
                principal = await self.authenticator.authenticate(token, workspace_id)
            except AppError as exc:
                state["auth_error"] = exc
        state["principal"] = principal

        if not self.limits.enabled or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if principal is not None:
            status = await self.limits.hit_user(
                principal.user_id, principal.tier, principal.rate_limit_per_hour
            )
        else:
            client = scope.get("client")
            status = await self.limits.hit_anonymous(client[0] if client else "unknown")
        send = _adding_headers(send, status.headers())
        if not status.allowed:
            err = RateLimitExceeded(
                "Rate limit exceeded; retry after the window resets",
                status.reset_after,
                {"limit": status.limit, "window": "1 hour", "reset_after": status.reset_after},
            )
            await error_response(err, state["request_id"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _adding_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *headers]
        await send(message)

    return wrapped


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    token = workspace = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                token = credential.strip()
        elif key == b"x-workspace-id":
            workspace = value.decode("latin-1").strip() or None
    return token, workspace
