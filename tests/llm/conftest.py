"""The real local Gemma model, loaded once per session, and llama-cpp-python's own
OpenAI-compatible server serving the same GGUF on 127.0.0.1.

The bundled GGUF is assembled once into a cache directory shared by test sessions (like the
pgserver data directory); the adapter's own first-use assembly is tested separately.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from codexos_server.llm.local_llama import LocalChatModel, model_file
from codexos_server.llm.port import ProviderSettings

MODELS_DIR = Path(
    os.environ.get("CODEXOS_TEST_MODELS", Path(tempfile.gettempdir()) / "codexos-test-models")
)
N_CTX = 2048
SERVER_API_KEY = "test-server-key"
# The server's two aliases of the one GGUF (it reloads on a switch, ~0.5 s):
# `vicuna` renders a plain "USER: ... ASSISTANT:" transcript, the closest chat format to
# what a base model has seen; `chatml-function-calling` makes tool calls with a grammar.
CHAT_ALIAS = "gemma-chat"
TOOLS_ALIAS = "gemma-tools"


def local_settings(data_dir: Path, **extra: object) -> ProviderSettings:
    return ProviderSettings(
        "local",
        extra={
            "model_path": None,
            "data_dir": str(data_dir),
            "n_ctx": N_CTX,
            "n_threads": None,
            "concurrency": 1,
            **extra,
        },
    )


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The bundled Gemma 3 270M, assembled (and sha256-checked) once."""
    return model_file(None, str(MODELS_DIR))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def local_model(gguf_path: Path) -> AsyncIterator[LocalChatModel]:
    model = LocalChatModel(local_settings(MODELS_DIR))
    yield model
    await model.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LlamaServer:
    base_url: str  # http://127.0.0.1:PORT/v1
    port: int
    api_key: str


@pytest.fixture(scope="session")
def llama_server(
    gguf_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    """`python -m llama_cpp.server` on a free port, ready once /v1/models answers."""
    port = free_port()
    config = tmp_path_factory.mktemp("llama-server") / "config.json"
    model = {"model": str(gguf_path), "n_ctx": 1024, "verbose": False}
    config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": port,
                "api_key": SERVER_API_KEY,
                "models": [
                    {**model, "model_alias": CHAT_ALIAS, "chat_format": "vicuna"},
                    {**model, "model_alias": TOOLS_ALIAS, "chat_format": "chatml-function-calling"},
                ],
            }
        )
    )
    log = config.with_name("server.log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                headers = {"Authorization": f"Bearer {SERVER_API_KEY}"}
                if httpx.get(f"{base_url}/models", headers=headers, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield LlamaServer(base_url, port, SERVER_API_KEY)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
