"""`openai`: any OpenAI-compatible chat API (OpenAI, vLLM, Ollama, llama.cpp's server) through
the `openai` package's `AsyncOpenAI`.

Decisions, so callers know what to expect:

- **Retries** are the client's own: 408/409/429/5xx and connection errors are retried
  `max_retries` times with exponential backoff (0.5 s doubling, capped at 8 s, jittered,
  honouring `Retry-After`). What is left after that is mapped once, in `_mapped`.
- **Errors**: a provider that cannot serve anyone with this configuration — unreachable
  (connection refused, DNS failure), bad credentials (401/403), unknown model or wrong base
  URL (404) — raises `ModelUnavailable` (a 503 envelope). Anything else after retries
  (timeouts, 429, 5xx, 400/422 for this request) raises `ModelError`, which fails the run.
- **Malformed tool-call arguments** (not JSON, or JSON that is not an object) do not crash:
  the call is reported with arguments `{}` and the raw text is logged. The agent loop then
  validates `{}` against the tool's schema and hands the model an observation it can correct.
- **Usage** is requested in streams with `stream_options={"include_usage": True}`; a server
  that ignores it gets an estimate (about 4 characters per token), a server that rejects it
  is asked again without it, and not asked again.
- **Options**: `request.options["tool_choice"]` is passed on (a tool's name forces that tool;
  servers that only call tools when forced, like llama.cpp's `chatml-function-calling`,
  need it).
- **Tokens** are estimated offline (4 characters per token plus a per-message overhead):
  no tokenizer for arbitrary remote models is available without a download.
- **SSRF**: with `extra["guarded"]` (a workspace's provider config) the base URL's host is
  resolved before every call and refused (`ModelUnavailable`) if any address is private,
  loopback, link-local or otherwise non-public, unless the host is in
  `extra["allowed_hosts"]`; the client connects only to addresses so checked
  (`_provider_guard`, on `netguard`'s rules).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from codexos_server.llm._provider_guard import (
    check_base_url,
    guarded_http_client,
    provider_guard,
    refusal_behind,
)
from codexos_server.llm.port import (
    ModelError,
    ModelUnavailable,
    ProviderSettings,
    register_chat_model,
)
from codexos_server.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    FinishReason,
    StreamChunk,
    ToolCall,
    ToolSpec,
    Usage,
)
from codexos_server.log import get_logger

log = get_logger("codexos.llm.openai")

# Local servers (llama.cpp, vLLM, Ollama) accept any key; the client insists on one.
PLACEHOLDER_API_KEY = "not-needed"
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
DEFAULT_CONTEXT_WINDOW = 8192
# Longest matching prefix wins; lower-case model names.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
    "llama-3.1": 131_072,
    "llama-3.2": 131_072,
    "llama-3.3": 131_072,
    "llama3.1": 131_072,
    "llama3.2": 131_072,
    "llama3": 8_192,
    "qwen2.5": 32_768,
    "qwen3": 32_768,
    "mistral": 32_768,
    "mixtral": 32_768,
    "gemma-3": 32_768,
    "gemma3": 32_768,
    "gemma-2": 8_192,
    "gemma2": 8_192,
    "phi-3": 4_096,
    "phi3": 4_096,
    "deepseek": 65_536,
}
# OpenAI's reasoning models reject `max_tokens`; everything else (and most compatible servers)
# only knows `max_tokens`.
_MAX_COMPLETION_TOKENS_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "error",
}


def _estimate(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _to_openai(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    if message.role == "tool":
        if message.tool_call_id is None:  # not answering a call the API knows: plain text
            return {"role": "user", "content": f"Result of {message.name}: {message.content}"}
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if not message.tool_calls:
        return {"role": "assistant", "content": message.content}
    return {
        "role": "assistant",
        "content": message.content,  # "" rather than null: some servers reject null
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ],
    }


def _tool_param(spec: ToolSpec) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        },
    }


def _arguments(name: str, raw: str) -> dict[str, Any]:
    """The parsed arguments, or `{}` (logged) when the model wrote something else."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    log.warning("malformed tool-call arguments", tool=name, raw_arguments=raw[:2000])
    return {}


def _mapped(exc: openai.OpenAIError) -> Exception:
    """The one place an `openai` error becomes ours (after the client's own retries)."""
    if (refusal := refusal_behind(exc)) is not None:  # the SSRF guard refused a hop
        return refusal
    if isinstance(exc, openai.APITimeoutError):
        return ModelError(f"The model provider timed out: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(f"The model provider cannot be reached: {exc}")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelUnavailable(f"The model provider refused the credentials: {exc.message}")
    if isinstance(exc, openai.NotFoundError):
        return ModelUnavailable(
            f"The model provider has no such model or endpoint (check the model name and "
            f"base URL): {exc.message}"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"The model provider answered {exc.status_code}: {exc.message}")
    return ModelError(f"The model provider failed: {exc}")


class OpenAIChatModel:
    provider = "openai"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        extra = settings.extra or {}
        self._guard = (
            provider_guard(extra.get("allowed_hosts") or ()) if extra.get("guarded") else None
        )
        self._stream_options = True
        self._client = AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or PLACEHOLDER_API_KEY,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
            http_client=guarded_http_client(self._guard) if self._guard else None,
        )

    async def _ready(self) -> None:
        """Refuse a guarded provider's non-public address up front, with a clear error (the
        pinned transport checks again at connect time)."""
        if self._guard is not None:
            await check_base_url(self._guard, str(self._client.base_url))

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        model = request.model or self.settings.default_model or ""
        params: dict[str, Any] = {
            "model": model,
            "messages": [_to_openai(m) for m in request.messages],
            "temperature": request.temperature,
        }
        token_param = (
            "max_completion_tokens"
            if model.lower().startswith(_MAX_COMPLETION_TOKENS_PREFIXES)
            else "max_tokens"
        )
        params[token_param] = request.max_tokens
        if request.tools:
            params["tools"] = [_tool_param(t) for t in request.tools]
            choice = request.options.get("tool_choice")
            if choice in {t.name for t in request.tools}:
                params["tool_choice"] = {"type": "function", "function": {"name": choice}}
            elif choice is not None:
                params["tool_choice"] = choice  # "auto", "none", "required" or the API's object
        if request.stop:
            params["stop"] = list(request.stop)
        return params

    def _estimated_usage(self, request: ChatRequest, content: str, calls: int) -> Usage:
        prompt = sum(_estimate(m.content) + MESSAGE_OVERHEAD_TOKENS for m in request.messages)
        return Usage(prompt, _estimate(content) + calls * MESSAGE_OVERHEAD_TOKENS)

    def _result(
        self,
        request: ChatRequest,
        content: str,
        raw_calls: list[tuple[str, str, str]],
        finish: str | None,
        usage: Usage | None,
        model: str,
    ) -> ChatResult:
        calls = tuple(
            ToolCall(id=call_id or f"call_{i}", name=name, arguments=_arguments(name, raw))
            for i, (call_id, name, raw) in enumerate(raw_calls)
        )
        finish_reason = "tool_calls" if calls else _FINISH_REASONS.get(finish or "stop", "stop")
        return ChatResult(
            content=content,
            tool_calls=calls,
            usage=usage or self._estimated_usage(request, content, len(calls)),
            finish_reason=finish_reason,
            model=model or request.model,
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        """The whole reply at once. Raises: ModelError, ModelUnavailable."""
        await self._ready()
        try:
            response: ChatCompletion = await self._client.chat.completions.create(
                **self._params(request), stream=False
            )
        except openai.OpenAIError as exc:
            raise _mapped(exc) from exc
        if not response.choices:
            raise ModelError("The model provider returned no choices")
        choice = response.choices[0]
        raw_calls = [
            (call.id, call.function.name, call.function.arguments or "")
            for call in choice.message.tool_calls or ()
            if call.type == "function"
        ]
        usage = (
            Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
            if response.usage
            else None
        )
        return self._result(
            request,
            choice.message.content or "",
            raw_calls,
            choice.finish_reason,
            usage,
            response.model,
        )

    async def _open_stream(self, request: ChatRequest) -> openai.AsyncStream[ChatCompletionChunk]:
        params = self._params(request)
        chunks: openai.AsyncStream[ChatCompletionChunk]
        if self._stream_options:
            try:
                chunks = await self._client.chat.completions.create(
                    **params, stream=True, stream_options={"include_usage": True}
                )
                return chunks
            except openai.BadRequestError as exc:
                if "stream_options" not in str(exc):
                    raise
                log.info("provider rejects stream_options; streaming without usage")
                self._stream_options = False
        chunks = await self._client.chat.completions.create(**params, stream=True)
        return chunks

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Text deltas as they arrive; tool-call fragments are assembled for the last chunk."""
        await self._ready()
        content: list[str] = []
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]
        finish: str | None = None
        usage: Usage | None = None
        model = ""
        try:
            chunks = await self._open_stream(request)
            try:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish = choice.finish_reason or finish
                    delta = choice.delta
                    for fragment in delta.tool_calls or ():
                        call = calls.setdefault(fragment.index, ["", "", ""])
                        call[0] = fragment.id or call[0]
                        if fragment.function is not None:
                            call[1] = fragment.function.name or call[1]
                            call[2] += fragment.function.arguments or ""
                    if delta.content:
                        content.append(delta.content)
                        yield StreamChunk(delta=delta.content)
            finally:
                await chunks.close()
        except openai.OpenAIError as exc:
            raise _mapped(exc) from exc
        raw_calls = [(c[0], c[1], c[2]) for _, c in sorted(calls.items())]
        yield StreamChunk(
            result=self._result(request, "".join(content), raw_calls, finish, usage, model)
        )

    async def count_tokens(self, messages: tuple[ChatMessage, ...], model: str) -> int:
        """An estimate: about 4 characters per token plus a few tokens per message."""
        total = 0
        for m in messages:
            total += _estimate(m.content) + MESSAGE_OVERHEAD_TOKENS
            total += sum(_estimate(c.name + json.dumps(c.arguments)) for c in m.tool_calls)
        return total

    def context_window(self, model: str) -> int:
        name = (model or self.settings.default_model or "").lower().rsplit("/", 1)[-1]
        for prefix in sorted(CONTEXT_WINDOWS, key=len, reverse=True):
            if name.startswith(prefix):
                return CONTEXT_WINDOWS[prefix]
        return DEFAULT_CONTEXT_WINDOW

    async def close(self) -> None:
        await self._client.close()


@register_chat_model("openai")
def _openai(settings: ProviderSettings) -> OpenAIChatModel:
    return OpenAIChatModel(settings)
