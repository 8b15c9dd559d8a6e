"""The SDK's exceptions: one class per API error code, mapped from a response in one place."""

from __future__ import annotations

from typing import Any

import httpx


class CodexOSError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(CodexOSError):
    """The server could not be reached, or the connection dropped before a response."""

    def __init__(self, message: str = "Connection error", *, request: httpx.Request | None = None):
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, request: httpx.Request | None = None) -> None:
        super().__init__("Request timed out", request=request)


class APIStatusError(CodexOSError):
    """The server answered with an error status; fields come from its error envelope."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: str,
        details: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.details = details
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message} (request_id={self.request_id})"


class AuthenticationError(APIStatusError):
    """401 AUTHENTICATION_FAILED."""


class AuthorizationError(APIStatusError):
    """403 AUTHORIZATION_FAILED."""


class NotFoundError(APIStatusError):
    """404 RESOURCE_NOT_FOUND."""


class ConflictError(APIStatusError):
    """409 CONFLICT."""


class ValidationError(APIStatusError):
    """422 VALIDATION_ERROR (also 400, 413 and 415 request problems)."""


class RateLimitError(APIStatusError):
    """429 RATE_LIMIT_EXCEEDED; `retry_after` is the server's Retry-After in seconds."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.response)


class InternalServerError(APIStatusError):
    """5xx INTERNAL_ERROR."""


class ServiceUnavailableError(InternalServerError):
    """503 SERVICE_UNAVAILABLE: a dependency (e.g. Stripe for checkout) is not configured or
    not reachable."""


_BY_CODE: dict[str, type[APIStatusError]] = {
    "AUTHENTICATION_FAILED": AuthenticationError,
    "AUTHORIZATION_FAILED": AuthorizationError,
    "VALIDATION_ERROR": ValidationError,
    "RESOURCE_NOT_FOUND": NotFoundError,
    "CONFLICT": ConflictError,
    "RATE_LIMIT_EXCEEDED": RateLimitError,
    "INTERNAL_ERROR": InternalServerError,
    "SERVICE_UNAVAILABLE": ServiceUnavailableError,
}
_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds, if it is a number."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> APIStatusError:
    """Map an error response (the `{"error": {...}}` envelope) to its exception class."""
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        envelope = {}
    code = str(envelope.get("code") or f"HTTP_{response.status_code}")
    message = str(envelope.get("message") or response.reason_phrase or "Error")
    request_id = envelope.get("request_id") or response.headers.get("x-request-id")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    return cls(
        message,
        response=response,
        code=code,
        details=envelope.get("details"),
        request_id=str(request_id) if request_id else None,
    )
