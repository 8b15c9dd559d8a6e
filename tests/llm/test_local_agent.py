"""The real local Gemma model end to end through the API: a `basic` agent answers with
generated text, and streaming delivers several token events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import register


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_basic_agent_on_the_local_model(
    client_factory: Callable[..., Any], gguf_path: Path
) -> None:
    http = await client_factory(
        llm_provider="local", local_model_path=gguf_path, local_model_context=1024
    )
    account = await register(http)
    h = account.headers()
    agent = (
        await http.post(
            "/agents",
            json={
                "name": "local",
                "instructions": "You answer questions about animals.",
                "model": {"max_tokens": 24, "temperature": 0.0},
            },
            headers=h,
        )
    ).json()

    run = (
        await http.post(
            f"/agents/{agent['id']}/execute",
            json={"input_data": "What do cats like to eat?"},
            headers=h,
        )
    ).json()
    assert run["status"] == "succeeded", run
    assert run["model"] == "local/gemma-3-270m"
    assert run["output"].strip(), "the model generated text"
    assert run["usage"]["completion_tokens"] > 0 and run["usage"]["prompt_tokens"] > 0

    r = await http.post(
        f"/agents/{agent['id']}/execute",
        json={"input_data": "Tell me about dogs.", "stream": True},
        headers=h,
    )
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    tokens = [e["data"]["delta"] for e in events if e["type"] == "token"]
    assert len(tokens) >= 3, events
    assert events[-1]["type"] == "run.succeeded"
    assert "".join(tokens).strip() == (events[-1]["data"]["output"] or "").strip()
