"""What the sync and async clients share: settings, request building, retry decisions,
response parsing. The clients only send requests and sleep."""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from codexos.errors import (
    APIConnectionError,
    APITimeoutError,
    CodexOSError,
    error_from_response,
    retry_after_seconds,
)

__version__ = "0.1.0"
DEFAULT_BASE_URL = "http://localhost:8001"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF = 8.0

M = TypeVar("M", bound=BaseModel)
FileInput = str | os.PathLike[str] | bytes | Any  # a path, raw bytes or a binary file object


def normalize_base_url(base_url: str | None) -> str:
    """`https://host` and `https://host/api/v1` both become `https://host/api/v1`."""
    url = (base_url or os.environ.get("CODEXOS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def backoff_delay(attempt: int, response: httpx.Response | None) -> float:
    """Seconds to wait before retry `attempt` (0-based): Retry-After if the server sent it,
    else min(0.5 * 2^attempt, 8) with jitter."""
    if response is not None:
        retry_after = retry_after_seconds(response)
        if retry_after is not None:
            return min(retry_after, 60.0)
    return min(0.5 * 2.0**attempt, MAX_BACKOFF) * (0.75 + random.random() * 0.25)


def retry_safe(opts: RequestOptions) -> bool:
    """Whether sending the request again cannot apply it twice: any method but POST, or a POST
    that carries an Idempotency-Key (the server answers a repeat with the first result)."""
    return opts.method.upper() != "POST" or bool(opts.idempotency_key)


def should_retry(response: httpx.Response, opts: RequestOptions) -> bool:
    """429 was not processed: always retried. Other retryable statuses (a 5xx may come after
    the work was done) only when `retry_safe`."""
    if response.status_code == 429:
        return True
    return response.status_code in RETRY_STATUSES and retry_safe(opts)


def should_retry_transport(exc: httpx.TransportError, opts: RequestOptions) -> bool:
    """A connection that never opened sent nothing; a request lost on the way back may have
    been applied, so it is repeated only when `retry_safe`."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or retry_safe(opts)


@dataclass
class Tokens:
    """Credentials in use: an API key, or an access token with its refresh token."""

    api_key: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None

    @property
    def bearer(self) -> str | None:
        return self.access_token or self.api_key

    @property
    def can_refresh(self) -> bool:
        return self.refresh_token is not None


@dataclass
class RequestOptions:
    """One API call, before it is sent (and re-sent on retries)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json_body: Any = None
    content: bytes | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    authenticated: bool = True


class BaseClient:
    """Settings and the parts of a call that do not depend on sync or async I/O."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        workspace_id: str | None,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.tokens = Tokens(api_key=api_key or os.environ.get("CODEXOS_API_KEY"))
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self.max_retries = max_retries
        self.workspace_id = workspace_id
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"codexos-sdk-python/{__version__}",
            **(default_headers or {}),
        }

    def _build_request(self, http: httpx.Client | httpx.AsyncClient, opts: RequestOptions) -> Any:
        headers = dict(self._headers)
        bearer = self.tokens.bearer
        if opts.authenticated and bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if self.workspace_id:
            headers["X-Workspace-ID"] = self.workspace_id
        if opts.idempotency_key:
            headers["Idempotency-Key"] = opts.idempotency_key
        headers.update(opts.headers)
        content = opts.content
        if opts.json_body is not None:
            content = json.dumps(opts.json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        params = {k: v for k, v in (opts.params or {}).items() if v is not None}
        return http.build_request(
            opts.method,
            self.base_url + opts.path,
            params=params or None,
            content=content,
            files=opts.files,
            data=opts.data,
            headers=headers,
        )

    def _needs_refresh(self, opts: RequestOptions, response: httpx.Response) -> bool:
        return response.status_code == 401 and opts.authenticated and self.tokens.can_refresh

    def _store_tokens(self, pair: Mapping[str, Any]) -> None:
        self.tokens.access_token = str(pair["access_token"])
        self.tokens.refresh_token = str(pair["refresh_token"])

    @staticmethod
    def _transport_error(exc: Exception, request: httpx.Request | None) -> CodexOSError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(request)
        return APIConnectionError(f"Connection error: {exc}", request=request)

    @staticmethod
    def _raise_for_status(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise error_from_response(response)


def compact(**fields: Any) -> dict[str, Any]:
    """A request body or query without the fields left as None."""
    return {k: v for k, v in fields.items() if v is not None}


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def parse(model: type[M], response: httpx.Response) -> M:
    return model.model_validate_json(response.content)


def read_file(file: FileInput, filename: str | None) -> tuple[str, bytes]:
    """A path, bytes or binary file object as (name, content): read once so retries resend it."""
    if isinstance(file, bytes):
        return filename or "upload.bin", file
    if isinstance(file, str | os.PathLike):
        path = os.fspath(file)
        with open(path, "rb") as fh:
            return filename or os.path.basename(path), fh.read()
    content = file.read()
    if isinstance(content, str):
        content = content.encode()
    name = filename or os.path.basename(str(getattr(file, "name", "") or "upload.bin"))
    return name, bytes(content)
