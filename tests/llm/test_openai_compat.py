"""The `openai` adapter against a real OpenAI-compatible server: llama-cpp-python's own
`llama_cpp.server` on 127.0.0.1 serving the bundled Gemma GGUF (see conftest).

The server runs `--chat_format vicuna` for plain chat (a "USER: ... ASSISTANT:" transcript;
the base model has no chat template) and `chatml-function-calling` for tools, which calls a
tool only when `tool_choice` names it. It ignores `stream_options`, so streamed usage is the
adapter's estimate.
"""

from __future__ import annotations

import time

import httpx2
import jsonschema
import openai
import pytest

from codexos_server.llm._provider_guard import ANY_PORT, check_base_url, provider_guard
from codexos_server.llm.openai_compat import (
    DEFAULT_CONTEXT_WINDOW,
    PLACEHOLDER_API_KEY,
    OpenAIChatModel,
    _arguments,
    _mapped,
    _to_openai,
)
from codexos_server.llm.port import CHAT_MODELS, ModelError, ModelUnavailable, ProviderSettings
from codexos_server.llm.types import ChatMessage, ChatRequest, ToolCall, ToolSpec
from codexos_server.netguard import BlockedDestination

from .conftest import CHAT_ALIAS, TOOLS_ALIAS, LlamaServer, free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate an arithmetic expression.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)
# The vicuna format ends a turn with "</s>", which this base model never writes.
STOP = ("USER:",)


def settings(server: LlamaServer, **changes: object) -> ProviderSettings:
    values: dict[str, object] = {
        "kind": "openai",
        "base_url": server.base_url,
        "api_key": server.api_key,
        "default_model": CHAT_ALIAS,
        "timeout_seconds": 60.0,
        "max_retries": 0,
        **changes,
    }
    return ProviderSettings(**values)  # type: ignore[arg-type]


def ask(
    text: str, *, model: str = CHAT_ALIAS, max_tokens: int = 16, **kwargs: object
) -> ChatRequest:
    return ChatRequest(
        messages=(ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", text)),
        model=model,
        max_tokens=max_tokens,
        stop=STOP,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def model(llama_server: LlamaServer):
    chat = OpenAIChatModel(settings(llama_server))
    yield chat
    await chat.close()


async def test_registered_as_openai(llama_server: LlamaServer) -> None:
    chat = CHAT_MODELS["openai"](settings(llama_server))
    assert isinstance(chat, OpenAIChatModel)
    await chat.close()


async def test_complete(model: OpenAIChatModel) -> None:
    result = await model.complete(ask("What is the capital of France?"))
    assert result.content.strip()
    assert result.tool_calls == ()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 16
    assert result.model == CHAT_ALIAS


async def test_stream_yields_deltas_then_the_result(model: OpenAIChatModel) -> None:
    deltas: list[str] = []
    results = []
    async for chunk in model.stream(ask("Tell me about the sea.", max_tokens=24)):
        if chunk.result is not None:
            results.append(chunk.result)
        elif chunk.delta:
            deltas.append(chunk.delta)
    assert len(deltas) >= 3
    assert len(results) == 1
    result = results[0]
    assert result.content == "".join(deltas)
    assert result.finish_reason in ("stop", "length")
    # This server ignores stream_options: the usage is the adapter's estimate.
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens > 0


async def test_closing_a_stream_early_is_clean(model: OpenAIChatModel) -> None:
    stream = model.stream(ask("Write a long story.", max_tokens=200))
    await anext(stream)
    await stream.aclose()
    assert (await model.complete(ask("Hi.", max_tokens=4))).usage.completion_tokens > 0


async def test_tool_call(model: OpenAIChatModel) -> None:
    request = ask(
        "What is 12 times 7?",
        model=TOOLS_ALIAS,
        max_tokens=48,
        tools=(CALCULATOR,),
        options={"tool_choice": "calculator"},
    )
    result = await model.complete(request)
    assert result.finish_reason == "tool_calls"
    assert [c.name for c in result.tool_calls] == ["calculator"]
    call = result.tool_calls[0]
    assert call.id
    jsonschema.validate(call.arguments, CALCULATOR.parameters)


async def test_streamed_tool_call_is_assembled_from_deltas(model: OpenAIChatModel) -> None:
    request = ask(
        "What is 3 plus 4?",
        model=TOOLS_ALIAS,
        max_tokens=48,
        tools=(CALCULATOR,),
        options={"tool_choice": "calculator"},
    )
    final = None
    async for chunk in model.stream(request):
        final = chunk.result or final
    assert final is not None
    assert final.finish_reason == "tool_calls"
    assert [c.name for c in final.tool_calls] == ["calculator"]
    jsonschema.validate(final.tool_calls[0].arguments, CALCULATOR.parameters)


async def test_a_tool_result_is_sent_back(model: OpenAIChatModel) -> None:
    call = ToolCall("call_1", "calculator", {"expression": "12 * 7"})
    request = ChatRequest(
        messages=(
            ChatMessage("user", "What is 12 times 7?"),
            ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", "84", tool_call_id="call_1", name="calculator"),
        ),
        model=TOOLS_ALIAS,
        max_tokens=16,
        tools=(CALCULATOR,),
        options={"tool_choice": "none"},
    )
    result = await model.complete(request)
    assert result.tool_calls == ()
    assert result.finish_reason in ("stop", "length")


async def test_a_prompt_too_long_for_the_server_is_a_model_error(model: OpenAIChatModel) -> None:
    with pytest.raises(ModelError, match="400"):
        await model.complete(ask("word " * 3000))


async def test_a_wrong_api_key_is_unavailable(llama_server: LlamaServer) -> None:
    for key in ("wrong-key", None):  # None: the placeholder key, which this server refuses
        chat = OpenAIChatModel(settings(llama_server, api_key=key))
        with pytest.raises(ModelUnavailable, match="credentials"):
            await chat.complete(ask("Hi"))
        await chat.close()


async def test_a_wrong_base_url_is_unavailable(llama_server: LlamaServer) -> None:
    chat = OpenAIChatModel(
        settings(llama_server, base_url=f"http://127.0.0.1:{llama_server.port}/nothing")
    )
    with pytest.raises(ModelUnavailable, match="no such model or endpoint"):
        await chat.complete(ask("Hi"))
    await chat.close()


async def test_an_unreachable_server_is_unavailable() -> None:
    chat = OpenAIChatModel(
        ProviderSettings(
            "openai",
            base_url=f"http://127.0.0.1:{free_port()}/v1",
            max_retries=0,
            timeout_seconds=5,
        )
    )
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        await chat.complete(ask("Hi"))

    async def drain() -> None:
        async for _ in chat.stream(ask("Hi")):
            pass

    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        await drain()
    await chat.close()


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:{port}/v1",
        "http://localhost:{port}/v1",
        "http://[::1]:{port}/v1",
        "http://10.1.2.3:8000/v1",
        "http://169.254.169.254/latest",
        "http://0.0.0.0:{port}/v1",
    ],
)
async def test_guarded_provider_refuses_private_addresses(
    llama_server: LlamaServer, base_url: str
) -> None:
    url = base_url.format(port=llama_server.port)
    chat = OpenAIChatModel(
        settings(llama_server, base_url=url, extra={"allowed_hosts": (), "guarded": True})
    )
    with pytest.raises(ModelUnavailable, match="not allowed") as caught:
        await chat.complete(ask("Hi"))
    assert "CODEXOS_HTTP_ALLOWED_HOSTS" in caught.value.message
    with pytest.raises(ModelUnavailable, match="not allowed"):
        async for _ in chat.stream(ask("Hi")):
            pass
    await chat.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_guarded_provider_reaches_an_allowed_host(
    llama_server: LlamaServer, host: str
) -> None:
    url = f"http://{host}:{llama_server.port}/v1"
    extra = {"allowed_hosts": ("LocalHost", "127.0.0.1"), "guarded": True}
    chat = OpenAIChatModel(settings(llama_server, base_url=url, extra=extra))
    result = await chat.complete(ask("Hi", max_tokens=4))
    assert result.usage.completion_tokens > 0
    deltas = [c.delta async for c in chat.stream(ask("Hello", max_tokens=6)) if c.delta]
    assert deltas
    await chat.close()


async def test_unguarded_server_config_may_use_loopback(model: OpenAIChatModel) -> None:
    # The server's own CODEXOS_OPENAI_BASE_URL is trusted (no `guarded` flag): an admin set it.
    assert (await model.complete(ask("Hi", max_tokens=2))).usage.completion_tokens > 0


async def test_the_guard_allows_public_addresses_on_any_port() -> None:
    guard = provider_guard(())
    assert guard.policy.allowed_ports == ANY_PORT
    await check_base_url(guard, "http://93.184.215.14:8000/v1")  # a public IP literal: no DNS
    with pytest.raises(ModelUnavailable):
        await check_base_url(guard, "ftp://93.184.215.14/v1")


async def test_malformed_tool_arguments_become_empty_arguments() -> None:
    assert _arguments("calculator", '{"expression": "1+1"}') == {"expression": "1+1"}
    assert _arguments("calculator", "") == {}
    assert _arguments("calculator", '{"expression": ') == {}
    assert _arguments("calculator", '["not", "an", "object"]') == {}


async def test_messages_in_the_openai_format() -> None:
    call = ToolCall("call_9", "calculator", {"expression": "1+1"})
    assert _to_openai(ChatMessage("assistant", "", (call,))) == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "1+1"}'},
            }
        ],
    }
    assert _to_openai(ChatMessage("tool", "2", tool_call_id="call_9", name="calculator")) == {
        "role": "tool",
        "tool_call_id": "call_9",
        "content": "2",
    }


async def test_count_tokens_and_context_window() -> None:
    chat = OpenAIChatModel(
        ProviderSettings("openai", base_url="http://127.0.0.1:9/v1", default_model="gpt-4o-mini")
    )
    assert chat._client.api_key == PLACEHOLDER_API_KEY
    few = await chat.count_tokens((ChatMessage("user", "Hello"),), "gpt-4o-mini")
    more = await chat.count_tokens((ChatMessage("user", "Hello " * 100),), "gpt-4o-mini")
    assert 0 < few < more
    assert chat.context_window("gpt-4o-mini") == 128_000
    assert chat.context_window("gpt-4") == 8_192
    assert chat.context_window("meta-llama/Llama-3.1-8B-Instruct") == 131_072
    assert chat.context_window("something-else") == DEFAULT_CONTEXT_WINDOW
    await chat.close()


async def test_the_pinned_transport_checks_every_request(llama_server: LlamaServer) -> None:
    """Even past the up-front check (e.g. DNS changed since), the client cannot connect to a
    non-public address: the transport refuses with ModelUnavailable, without retrying."""
    chat = OpenAIChatModel(
        settings(llama_server, max_retries=2, extra={"allowed_hosts": (), "guarded": True})
    )
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="not allowed") as caught:
        await chat._client.chat.completions.create(  # the raw client: no up-front check
            model=CHAT_ALIAS, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
    assert time.perf_counter() - started < 0.5  # no retries with backoff
    assert isinstance(caught.value.__cause__, BlockedDestination)
    wrapped = openai.APIConnectionError(request=httpx2.Request("POST", "http://127.0.0.1/"))
    wrapped.__cause__ = caught.value
    assert _mapped(wrapped) is caught.value  # were a client to wrap it, it is still found
    await chat.close()
