"""Prompts, the tool-call grammar and output parsing of the `local` adapter."""

from __future__ import annotations

import json

import llama_cpp
import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from codexos_server.llm._local_prompt import (
    AnswerStreamer,
    next_call_number,
    parse_tool_output,
    plain_prompt,
    template_messages,
    tool_instructions,
    tools_schema,
)
from codexos_server.llm.types import ChatMessage, ToolCall, ToolSpec

CALC = ToolSpec(
    "calculator",
    "Evaluate arithmetic.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)
CALL = ToolCall("call_0", "calculator", {"expression": "2+2"})
CONVERSATION = (
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "What is 2+2?"),
    ChatMessage("assistant", "", (CALL,)),
    ChatMessage("tool", "4", tool_call_id="call_0", name="calculator"),
)
# Like Gemma's instruction template: roles must alternate, system folds into the first turn.
STRICT_TEMPLATE = (
    "{{ bos_token }}{% set first = 0 %}"
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] + '\\n\\n' %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set sys = '' %}"
    "{% set loop_messages = messages %}{% endif %}"
    "{% for m in loop_messages %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('roles must alternate') }}{% endif %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{{ sys if loop.first else '' }}{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_plain_prompt_for_a_base_model() -> None:
    prompt = plain_prompt(CONVERSATION, ())
    assert prompt == (
        "Be brief.\n\n"
        "User: What is 2+2?\n"
        'Assistant: {"tool": "calculator", "arguments": {"expression": "2+2"}}\n'
        "Tool result (calculator): 4\n"
        "Assistant:"
    )


def test_plain_prompt_without_system_text_and_with_tools() -> None:
    prompt = plain_prompt((ChatMessage("user", "Hi"),), (CALC,))
    assert prompt.startswith(
        "Tools you can call:\n- calculator(expression: string): Evaluate arithmetic.\n"
    )
    assert prompt.endswith("\n\nUser: Hi\nAssistant:")


def test_tool_instructions_have_no_placeholder_to_copy() -> None:
    text = tool_instructions((CALC,))
    assert "<" not in text
    assert '{"tool": name, "arguments": {...}}' in text


def test_template_messages_alternate() -> None:
    turns = template_messages((*CONVERSATION, ChatMessage("user", "Thanks")), (CALC,))
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user"]
    assert turns[0]["content"] == "Be brief.\n\n" + tool_instructions((CALC,))
    assert turns[-1]["content"] == "Tool result (calculator): 4\n\nThanks"
    formatter = Jinja2ChatFormatter(template=STRICT_TEMPLATE, eos_token="<eos>", bos_token="<bos>")
    merged = template_messages(CONVERSATION, ())
    prompt = formatter(messages=merged).prompt
    assert prompt.startswith("<bos><start_of_turn>user\nBe brief.\n\nWhat is 2+2?<end_of_turn>")
    assert prompt.endswith("<start_of_turn>model\n")


def test_tools_schema_converts_to_a_grammar() -> None:
    schema = tools_schema((CALC,))
    assert schema["oneOf"][0]["properties"]["tool"] == {"const": "calculator"}
    assert schema["oneOf"][-1]["required"] == ["answer"]
    grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    assert "calculator" in grammar._grammar


def test_tools_with_refs_get_loose_arguments() -> None:
    remote = ToolSpec("fetch", "x", {"$ref": "https://example.com/schema.json"})
    local = ToolSpec(
        "local",
        "x",
        {"$defs": {"a": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/a"}}},
    )
    schema = tools_schema((remote, local))
    assert [s["properties"]["arguments"] for s in schema["oneOf"][:2]] == [{"type": "object"}] * 2
    assert tools_schema((CALC,), loose=True)["oneOf"][0]["properties"]["arguments"] == {
        "type": "object"
    }


def test_parse_tool_output() -> None:
    parsed = parse_tool_output('{"tool": "calculator", "arguments": {"expression": "1+1"}}', 3)
    assert parsed.tool_calls == (ToolCall("call_3", "calculator", {"expression": "1+1"}),)
    assert parse_tool_output('{"answer": "Paris."}', 0).content == "Paris."
    cut = parse_tool_output('{"answer": "Par', 0)
    assert not cut.complete


def test_call_numbers_continue_the_conversation() -> None:
    assert next_call_number(CONVERSATION) == 1
    assert next_call_number(()) == 0


@pytest.mark.parametrize(
    "pieces",
    [
        ['{"answer": "Hel', "lo, ", "world", '!"}'],
        ['{ "answer" :', ' "A \\"quoted\\" ', "word\\", "n and \\u00e9", 't\\u00e9"}'],
        ['{"tool": "calculator", "arguments": {"expression": "1"}}'],
    ],
)
def test_answer_streamer(pieces: list[str]) -> None:
    streamer = AnswerStreamer()
    streamed = "".join(streamer.feed(p) for p in pieces)
    value = json.loads("".join(pieces))
    assert streamed == value.get("answer", "")
    assert streamer.raw == "".join(pieces)
