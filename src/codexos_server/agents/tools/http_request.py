"""The `http_request` tool: an agent calls a public HTTP API, always through netguard.

Where the network policy comes from, first match wins:

1. the `policy` given to the constructor (tests, or a deployment registering its own);
2. the app's settings, `ctx.services.settings` (`http_allowed_hosts`, `http_timeout_seconds`,
   `http_max_response_bytes`), so each app instance uses what its admin configured and no
   module-level state has to be re-configured;
3. `FetchPolicy()` defaults: no allow-list, ports 80/443, 10 s, 1 MiB.

An agent's tool config (`ctx.config`) may narrow what the model can do, never widen it:

- `allowed_methods`: e.g. `["GET"]` for a read-only agent;
- `allowed_url_prefixes`: e.g. `["https://api.example.com/v2/"]`, compared by scheme, host,
  port and whole path segments (so `https://api.example.com.evil.net` never matches), and
  checked on every redirect hop too;
- `max_body_chars`: a smaller cap on the text handed back to the model.

Any HTTP status is a result (the model sees a 404 and can react); refusals, timeouts and
network failures raise ToolError.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from codexos_server.agents.tools.base import ToolContext, ToolError, register_tool
from codexos_server.config import Settings
from codexos_server.netguard import (
    BlockedDestination,
    FetchError,
    FetchPolicy,
    FetchResponse,
    FetchTimeout,
    InvalidRequest,
    Resolver,
    SafeHttpClient,
    system_resolver,
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
DEFAULT_MAX_BODY_CHARS = 20_000  # what a model's context can reasonably take
# Response headers worth showing a model; cookies and server fingerprints stay out.
_SAFE_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-language",
        "content-disposition",
        "cache-control",
        "etag",
        "last-modified",
        "expires",
        "date",
        "location",
        "retry-after",
        "link",
        "www-authenticate",
        "x-request-id",
    }
)
_SAFE_HEADER_PREFIXES = ("x-ratelimit-", "ratelimit-")
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
    }
)

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            "description": "Absolute http:// or https:// URL of a public server",
        },
        "method": {"type": "string", "enum": list(METHODS), "default": "GET"},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 4096},
            "maxProperties": 32,
            "description": "Request headers",
        },
        "params": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
            "maxProperties": 64,
            "description": "Query parameters added to the URL",
        },
        "json": {"description": "A JSON request body (sets Content-Type: application/json)"},
        "body": {
            "type": "string",
            "maxLength": 100_000,
            "description": "A raw text request body; use either json or body",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


class HttpRequestTool:
    """The `http_request` built-in; see the module docstring for configuration."""

    name = "http_request"
    description = (
        "Send an HTTP request to a public URL and return the status, selected response "
        "headers and the body (parsed JSON when the response is JSON). Requests to private, "
        "loopback or internal addresses are refused."
    )
    parameters = PARAMETERS

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_body_chars: int = DEFAULT_MAX_BODY_CHARS,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._max_body_chars = max_body_chars

    def policy_for(self, ctx: ToolContext) -> FetchPolicy:
        """The network policy for one call (constructor, else app settings, else defaults)."""
        if self._policy is not None:
            return self._policy
        settings = getattr(ctx.services, "settings", None)
        if isinstance(settings, Settings):
            return FetchPolicy.from_settings(settings)
        return FetchPolicy()

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """Raises: ToolError for refused, timed-out or failed requests and bad config."""
        method = str(arguments.get("method", "GET")).upper()
        allowed_methods = _str_list(ctx.config, "allowed_methods")
        if allowed_methods is not None and method not in {m.upper() for m in allowed_methods}:
            raise ToolError(f"method {method} is not allowed for this agent")
        if "json" in arguments and "body" in arguments:
            raise ToolError("pass either json or body, not both")
        headers = dict(arguments.get("headers") or {})
        content: str | None = arguments.get("body")
        if "json" in arguments:
            content = json.dumps(arguments["json"])
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        prefixes = _str_list(ctx.config, "allowed_url_prefixes")
        max_chars = self._body_cap(ctx)
        client = SafeHttpClient(
            self.policy_for(ctx), resolver=self._resolver, ssl_context=self._ssl_context
        )
        try:
            response = await client.fetch(
                arguments["url"],
                method=method,
                headers=headers,
                params=arguments.get("params"),
                content=content,
                allow_url=None if prefixes is None else lambda u: _under_any(u, prefixes),
            )
        except BlockedDestination as exc:
            raise ToolError(f"request refused: {exc}") from exc
        except InvalidRequest as exc:
            raise ToolError(f"invalid request: {exc}") from exc
        except FetchTimeout as exc:
            raise ToolError(f"request timed out: {exc}") from exc
        except FetchError as exc:
            raise ToolError(f"request failed: {exc}") from exc
        return _observation(response, method, max_chars)

    def _body_cap(self, ctx: ToolContext) -> int:
        cap = ctx.config.get("max_body_chars")
        if cap is None:
            return self._max_body_chars
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
            raise ToolError("tool misconfigured: max_body_chars must be a non-negative integer")
        return min(cap, self._max_body_chars)


def _str_list(config: Mapping[str, Any], key: str) -> list[str] | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError(f"tool misconfigured: {key} must be a list of strings")
    return value


def url_under_prefix(url: str, prefix: str) -> bool:
    """Whether `url` lies under `prefix`: same scheme, host and port, and a path that starts
    with the prefix's path at a segment boundary.

    Dot segments that survive URL normalisation only because they were percent-encoded
    (`/v2/%2e%2e/admin`) are refused: many servers decode them and climb out of the prefix.
    """
    try:
        u, p = httpx.URL(url), httpx.URL(prefix)
    except httpx.InvalidURL:
        return False
    if (u.scheme, u.raw_host.lower(), u.port) != (p.scheme, p.raw_host.lower(), p.port):
        return False
    if ".." in u.path.replace("\\", "/").split("/"):
        return False
    base = p.path
    if base in ("", "/") or base.endswith("/"):
        return u.path.startswith(base or "/")
    return u.path == base or u.path.startswith(base + "/")


def _under_any(url: str, prefixes: list[str]) -> bool:
    return any(url_under_prefix(url, p) for p in prefixes)


def _is_text(response: FetchResponse) -> bool:
    media = response.content_type
    if media is None:
        try:
            response.content.decode(response.charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            return False
        return True
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def _observation(response: FetchResponse, method: str, max_chars: int) -> dict[str, Any]:
    """What the model sees: status, safe headers, and JSON or (capped) text."""
    result: dict[str, Any] = {
        "status": response.status,
        "url": response.url,
        "headers": {
            k: v
            for k, v in response.headers.items()
            if k in _SAFE_HEADERS or k.startswith(_SAFE_HEADER_PREFIXES)
        },
        "content_type": response.content_type,
        "truncated": response.truncated,
    }
    if method == "HEAD":
        return result
    if not _is_text(response):
        result["body"] = None
        result["note"] = f"binary content ({len(response.content)} bytes) not shown"
        return result
    text = response.text
    media = response.content_type or ""
    if not response.truncated and len(text) <= max_chars and "json" in media:
        try:
            result["json"] = json.loads(text)
            return result
        except ValueError:
            pass  # not valid JSON after all: show the text
    result["body"] = text[:max_chars]
    result["truncated"] = response.truncated or len(text) > max_chars
    return result


http_request = register_tool(HttpRequestTool())
