"""Prompts, tool-call grammar and output parsing for the `local` (llama.cpp) adapter.

Two prompt styles, chosen by the GGUF:

- **Its own chat template** (`tokenizer.chat_template` in the metadata; instruction-tuned
  models have one): the conversation is rendered with that template, exactly as llama.cpp's
  chat completion would, with roles normalised first (tool results become user turns and
  consecutive turns of one role are merged, since many templates insist on alternation).
- **A plain completion prompt** for base models such as the bundled Gemma 3 270M, which has
  no template and rambles when shown chat markup. The system text, a blank line, then
  `User:` / `Assistant:` lines (tool results as `Tool result (name):` lines), ending with
  `Assistant:`. Generation stops at `\\nUser:`, `\\nAssistant:` or three newlines, with a
  repeat penalty of 1.3 to keep a small base model from looping.

With tools, output is constrained by llama.cpp's JSON-schema grammar to one of
`{"tool": <name>, "arguments": <that tool's parameters>}` or `{"answer": <text>}`, so even a
270M base model emits valid tool-call JSON. A tool whose parameter schema the grammar
converter cannot take (remote or local `$ref`s, unsupported keywords) is given a plain
`{"type": "object"}` for its arguments instead; the agent loop validates arguments anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from codexos_server.llm.types import ChatMessage, ToolCall, ToolSpec

PLAIN_STOP = ("\nUser:", "\nAssistant:", "\n\n\n")
PLAIN_REPEAT_PENALTY = 1.3
TEMPLATE_REPEAT_PENALTY = 1.1
# Inside constrained JSON a strong penalty fights the grammar's necessary repetition.
TOOLS_REPEAT_PENALTY = 1.1
LOOSE_ARGUMENTS: dict[str, Any] = {"type": "object"}


def _signature(spec: ToolSpec) -> str:
    properties = spec.parameters.get("properties") or {}
    arguments = ", ".join(
        f"{name}: {schema.get('type', 'any')}" if isinstance(schema, dict) else name
        for name, schema in properties.items()
    )
    return f"{spec.name}({arguments})"


def tool_instructions(tools: tuple[ToolSpec, ...]) -> str:
    """What the model is told about its tools and the JSON it must answer with.

    Terse on purpose: with a placeholder such as "<your reply>" in the instructions, a small
    model copies it verbatim; signatures and one rule line make it call tools more often.
    """
    lines = ["Tools you can call:"]
    lines += [f"- {_signature(spec)}: {spec.description}" for spec in tools]
    lines.append(
        'Reply in JSON: {"tool": name, "arguments": {...}} calls a tool; '
        '{"answer": text} replies to the user.'
    )
    return "\n".join(lines)


def _call_text(call: ToolCall) -> str:
    return json.dumps({"tool": call.name, "arguments": call.arguments})


def _assistant_text(message: ChatMessage) -> str:
    calls = "\n".join(_call_text(c) for c in message.tool_calls)
    return "\n".join(part for part in (message.content, calls) if part)


def _tool_result_text(message: ChatMessage) -> str:
    return f"Tool result ({message.name or 'tool'}): {message.content}"


def plain_prompt(messages: tuple[ChatMessage, ...], tools: tuple[ToolSpec, ...]) -> str:
    """A completion prompt for a base model: header, `User:`/`Assistant:` lines, `Assistant:`."""
    leading = 0
    while leading < len(messages) and messages[leading].role == "system":
        leading += 1
    header = [m.content.strip() for m in messages[:leading] if m.content.strip()]
    if tools:
        header.append(tool_instructions(tools))
    lines: list[str] = []
    for message in messages[leading:]:
        if message.role == "system":
            lines.append(f"System: {message.content.strip()}")
        elif message.role == "user":
            lines.append(f"User: {message.content.strip()}")
        elif message.role == "assistant":
            lines.append(f"Assistant: {_assistant_text(message).strip()}")
        else:
            lines.append(_tool_result_text(message).strip())
    lines.append("Assistant:")
    head = "\n\n".join(header)
    return f"{head}\n\n" + "\n".join(lines) if head else "\n".join(lines)


def template_messages(
    messages: tuple[ChatMessage, ...], tools: tuple[ToolSpec, ...]
) -> list[dict[str, str]]:
    """The conversation as plain {role, content} turns a chat template can render.

    Tool instructions join the system turn (after the agent's own instructions).
    """
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "tool":
            role, content = "user", _tool_result_text(message)
        elif message.role == "assistant":
            role, content = "assistant", _assistant_text(message)
        else:
            role, content = message.role, message.content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + content
        else:
            turns.append({"role": role, "content": content})
    if tools:
        if turns and turns[0]["role"] == "system":
            turns[0]["content"] += "\n\n" + tool_instructions(tools)
        else:
            turns.insert(0, {"role": "system", "content": tool_instructions(tools)})
    return turns


def _has_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_ref(v) for v in schema)
    return False


def _call_shape(spec: ToolSpec, loose: bool) -> dict[str, Any]:
    arguments = spec.parameters if not loose and not _has_ref(spec.parameters) else None
    return {
        "type": "object",
        "properties": {
            "tool": {"const": spec.name},
            "arguments": arguments or LOOSE_ARGUMENTS,
        },
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }


def tools_schema(tools: tuple[ToolSpec, ...], loose: bool = False) -> dict[str, Any]:
    """One of: a call of each tool with its own arguments schema, or a final answer."""
    answer = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    return {"oneOf": [*(_call_shape(t, loose) for t in tools), answer]}


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    complete: bool = True  # False: the JSON was cut off (max_tokens), `content` is raw text


def next_call_number(messages: tuple[ChatMessage, ...]) -> int:
    """Call ids continue across a conversation (`call_0`, `call_1`, ...), never repeating."""
    return sum(len(m.tool_calls) for m in messages)


def parse_tool_output(text: str, first_call: int) -> ParsedOutput:
    """The grammar-constrained reply as a tool call or an answer."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return ParsedOutput(text.strip(), complete=False)
    if isinstance(value, dict) and isinstance(value.get("tool"), str):
        arguments = value.get("arguments")
        call = ToolCall(
            id=f"call_{first_call}",
            name=value["tool"],
            arguments=arguments if isinstance(arguments, dict) else {},
        )
        return ParsedOutput("", (call,))
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return ParsedOutput(value["answer"])
    return ParsedOutput(text.strip(), complete=False)


_ANSWER_OPENING = re.compile(r'\s*\{\s*"answer"\s*:\s*"')
_PARTIAL_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{0,3})?$")


class AnswerStreamer:
    """Streams the text of `{"answer": "..."}` while the JSON is still being generated.

    Tool-call JSON is not streamed (the agent reports tool calls itself); an answer is
    decoded incrementally, holding back only an escape sequence that is still incomplete.
    """

    def __init__(self) -> None:
        self.raw = ""
        self._sent = 0

    def feed(self, piece: str) -> str:
        """Append generated text; returns the new answer text to stream (maybe empty)."""
        self.raw += piece
        opening = _ANSWER_OPENING.match(self.raw)
        if opening is None:
            return ""
        body = self.raw[opening.end() :]
        end = _string_end(body)
        body = body[:end] if end is not None else _PARTIAL_ESCAPE.sub("", body)
        try:
            decoded: str = json.loads(f'"{body}"')
        except json.JSONDecodeError:
            return ""
        if decoded and "\ud800" <= decoded[-1] <= "\udbff":  # half a surrogate pair
            decoded = decoded[:-1]
        new, self._sent = decoded[self._sent :], len(decoded)
        return new


def _string_end(body: str) -> int | None:
    """Index of the closing quote of a JSON string body, if it has been generated."""
    escaped = False
    for i, char in enumerate(body):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return i
    return None
