"""The ChatModel port and the registry of adapters (built-ins register like plugins would)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from codexos_server.errors import AppError
from codexos_server.llm.types import ChatMessage, ChatRequest, ChatResult, StreamChunk


class ModelUnavailable(AppError):
    """The model cannot serve requests (not installed, unreachable, misconfigured)."""

    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class ModelError(Exception):
    """A model call failed (the run records it; a provider's 4xx/5xx after retries)."""


class ChatModel(Protocol):
    """One async interface for chat completion, streaming, tool calls and token usage."""

    provider: str

    async def complete(self, request: ChatRequest) -> ChatResult:
        """The whole reply at once. Raises: ModelError, ModelUnavailable."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """The reply as text deltas; the last chunk carries the complete ChatResult."""
        ...

    async def count_tokens(self, messages: tuple[ChatMessage, ...], model: str) -> int:
        """Tokens the messages take in the model's context (its tokenizer where available)."""
        ...

    def context_window(self, model: str) -> int:
        """How many tokens the model can attend to."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """How to reach one provider: server defaults or a workspace's provider config."""

    kind: str
    base_url: str | None = None
    api_key: str | None = None
    default_model: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 2
    extra: dict[str, Any] | None = None


ChatModelFactory = Callable[[ProviderSettings], ChatModel]

# kind -> factory. `local`, `openai` and `scripted` register themselves on import.
CHAT_MODELS: dict[str, ChatModelFactory] = {}


def register_chat_model(kind: str) -> Callable[[ChatModelFactory], ChatModelFactory]:
    def register(factory: ChatModelFactory) -> ChatModelFactory:
        CHAT_MODELS[kind] = factory
        return factory

    return register
