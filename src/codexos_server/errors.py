"""Typed errors and the one place that turns them into the error envelope.

Services raise these; nothing else decides a status code. Every error from every layer
(validation, unknown routes, wrong methods, oversized bodies, crashes) leaves the server as
`{"error": {"code", "message", "details", "request_id"}}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status_code = 500
    code = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


class AuthenticationFailed(AppError):
    status_code = 401
    code = "AUTHENTICATION_FAILED"

    def __init__(self, message: str = "Invalid or missing credentials", details: Any = None):
        super().__init__(message, details, headers={"WWW-Authenticate": "Bearer"})


class PaymentRequired(AppError):
    """A wallet does not hold enough credits for the charge."""

    status_code = 402
    code = "INSUFFICIENT_CREDITS"


class PurchaseRequired(AppError):
    """A paid listing installed before it was bought."""

    status_code = 402
    code = "PURCHASE_REQUIRED"


class AuthorizationFailed(AppError):
    status_code = 403
    code = "AUTHORIZATION_FAILED"


class NotFound(AppError):
    status_code = 404
    code = "RESOURCE_NOT_FOUND"

    def __init__(self, resource: str, resource_id: str | None = None):
        message = f"{resource.capitalize()} not found"
        details = {"resource": resource, "id": resource_id} if resource_id is not None else None
        super().__init__(message, details)


class MethodNotAllowed(AppError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class ValidationFailed(AppError):
    status_code = 422
    code = "VALIDATION_ERROR"


class RateLimitExceeded(AppError):
    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str, retry_after: int, details: Any = None):
        super().__init__(message, details, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class InternalError(AppError):
    status_code = 500
    code = "INTERNAL_ERROR"


class ErrorBody(BaseModel):
    code: str = Field(examples=["AUTHENTICATION_FAILED"])
    message: str = Field(examples=["Invalid or expired access token"])
    details: Any = Field(default=None, examples=["Token expired at 2024-01-15T10:00:00Z"])
    request_id: str = Field(examples=["req_1234567890abcdef"])


class ErrorEnvelope(BaseModel):
    """The shape of every error response."""

    error: ErrorBody


def envelope(code: str, message: str, details: Any, request_id: str) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": details, "request_id": request_id}
    }


def request_id_of(scope: Mapping[str, Any]) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", "req_unknown"))


def error_response(err: AppError, request_id: str) -> JSONResponse:
    """Render a typed error as the envelope, with its status and headers."""
    return JSONResponse(
        envelope(err.code, err.message, _jsonable(err.details), request_id),
        status_code=err.status_code,
        headers=err.headers,
    )


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))
    return value


# A 400 from the framework means an unparseable body: report it as a validation error.
_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: ValidationFailed,
    401: AuthenticationFailed,
    403: AuthorizationFailed,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for item in exc.errors():
        loc = [str(part) for part in item.get("loc", ())]
        details.append(
            {"field": ".".join(loc), "message": item.get("msg", ""), "type": item.get("type", "")}
        )
    return details


async def _on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(exc, request_id_of(request.scope))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    err = ValidationFailed("Request validation failed", _validation_details(exc))
    return error_response(err, request_id_of(request.scope))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    err: AppError
    if exc.status_code == 404:
        err = AppError("No route matches this path")
        err.status_code, err.code = 404, NotFound.code
    elif exc.status_code == 405:
        err = MethodNotAllowed(f"Method {request.method} is not allowed here")
    elif exc.status_code in _STATUS_ERRORS:
        err = _STATUS_ERRORS[exc.status_code](str(exc.detail))
    else:
        err = AppError(str(exc.detail))
        err.status_code = exc.status_code
        err.code = "INTERNAL_ERROR" if exc.status_code >= 500 else "BAD_REQUEST"
    err.headers.update(exc.headers or {})
    return error_response(err, request_id_of(request.scope))


def install_error_handlers(app: FastAPI) -> None:
    """Map every error type to the envelope. Unexpected exceptions are handled by the
    request-context middleware, which is the only place a 500 is produced."""
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
