"""`scripted`: a deterministic chat model that replies from a script — the test double of the
agent loop (like pydantic-ai's FunctionModel), and handy for demos.

The script is a list of turns in `ChatRequest.options["script"]` (an agent sets it in its
model settings). Turn *i* answers the *i*-th model call since the last user message:

    {"content": "The answer is {{last_tool_result}}."}
    {"tool_calls": [{"name": "calculator", "arguments": {"expression": "2+2"}}]}
    {"error": "the provider is down"}          # the call fails

Past the end of the script (or with no script) it echoes: "echo: <last user message>".
Tokens are whitespace-separated words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from codexos_server.llm.port import ModelError, ProviderSettings, register_chat_model
from codexos_server.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    StreamChunk,
    ToolCall,
    Usage,
)

LAST_TOOL_RESULT = "{{last_tool_result}}"


def _words(text: str) -> int:
    return len(text.split())


class ScriptedChatModel:
    provider = "scripted"

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        self.settings = settings

    def _turn(self, request: ChatRequest) -> dict[str, Any]:
        messages = request.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        calls_so_far = sum(1 for m in messages[last_user + 1 :] if m.role == "assistant")
        script = request.options.get("script") or []
        if calls_so_far < len(script):
            turn = script[calls_so_far]
            if not isinstance(turn, dict):
                raise ModelError(f"script turn {calls_so_far} is not an object")
            return turn
        prompt = messages[last_user].content if last_user >= 0 else ""
        return {"content": f"echo: {prompt}"}

    async def complete(self, request: ChatRequest) -> ChatResult:
        turn = self._turn(request)
        if "error" in turn:
            raise ModelError(str(turn["error"]))
        prompt_tokens = sum(_words(m.content) for m in request.messages)
        if turn.get("tool_calls"):
            calls = tuple(
                ToolCall(
                    id=f"call_{i}", name=str(c["name"]), arguments=dict(c.get("arguments") or {})
                )
                for i, c in enumerate(turn["tool_calls"])
            )
            return ChatResult(
                "", calls, Usage(prompt_tokens, len(calls)), "tool_calls", request.model
            )
        last_tool = next((m.content for m in reversed(request.messages) if m.role == "tool"), "")
        content = str(turn.get("content", "")).replace(LAST_TOOL_RESULT, last_tool)
        return ChatResult(content, (), Usage(prompt_tokens, _words(content)), "stop", request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        result = await self.complete(request)
        words = result.content.split(" ")
        for i, word in enumerate(words):
            yield StreamChunk(delta=word if i == 0 else f" {word}")
        yield StreamChunk(result=result)

    async def count_tokens(self, messages: tuple[ChatMessage, ...], model: str) -> int:
        return sum(_words(m.content) + 4 for m in messages)

    def context_window(self, model: str) -> int:
        return 4096

    async def close(self) -> None:
        return None


@register_chat_model("scripted")
def _scripted(settings: ProviderSettings) -> ScriptedChatModel:
    return ScriptedChatModel(settings)
