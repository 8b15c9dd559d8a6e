"""CodexOS Python SDK: `CodexOS` (sync) and `AsyncCodexOS` (async) clients."""

from codexos._client import AsyncCodexOS, CodexOS
from codexos._core import __version__
from codexos.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    AuthorizationError,
    CodexOSError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from codexos.pagination import AsyncPaginator, Paginator
from codexos.realtime import CancelledFrame, ChatFrame, Realtime, RealtimeConnection, RealtimeEvent

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncCodexOS",
    "AsyncPaginator",
    "AuthenticationError",
    "AuthorizationError",
    "CancelledFrame",
    "ChatFrame",
    "CodexOS",
    "CodexOSError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "Paginator",
    "RateLimitError",
    "Realtime",
    "RealtimeConnection",
    "RealtimeEvent",
    "ServiceUnavailableError",
    "ValidationError",
    "__version__",
]
