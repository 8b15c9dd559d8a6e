"""The real local Gemma model, loaded once per session, and llama-cpp-python's own
OpenAI-compatible server serving the same GGUF on 127.0.0.1.

The bundled GGUF is assembled once into a cache directory shared by test sessions (like the
pgserver data directory); the adapter's own first-use assembly is tested separately.
"""

from __future__ import annotations

import json
import mmap
import os
import socket
import struct
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


# --- A GGUF with a chat template: the bundled file plus a `tokenizer.chat_template` key ---

# Gemma's instruction format; the template path is what a stronger, instruction-tuned GGUF
# (CODEXOS_LOCAL_MODEL_PATH) takes. Roles must alternate, as in many real templates.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
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
_GGUF_STRING = 8
_GGUF_ARRAY = 9
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _skip_value(buf: mmap.mmap, pos: int, vtype: int) -> int:
    if vtype == _GGUF_STRING:
        (length,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + length
    if vtype == _GGUF_ARRAY:
        item_type, count = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if item_type in _GGUF_SIZES:
            return pos + count * _GGUF_SIZES[item_type]
        for _ in range(count):
            pos = _skip_value(buf, pos, item_type)
        return pos
    return pos + _GGUF_SIZES[vtype]


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """Copy a GGUF (v2/v3) adding one metadata key; tensor data is moved, not changed."""
    with source.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
        assert magic == b"GGUF" and version >= 2
        pos, alignment = 24, 32
        for _ in range(n_kv):
            (key_length,) = struct.unpack_from("<Q", buf, pos)
            key = bytes(buf[pos + 8 : pos + 8 + key_length]).decode()
            pos += 8 + key_length
            (vtype,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            if key == "general.alignment":
                (alignment,) = struct.unpack_from("<I", buf, pos)
            assert key != "tokenizer.chat_template"
            pos = _skip_value(buf, pos, vtype)
        kv_end = pos
        for _ in range(n_tensors):
            (name_length,) = struct.unpack_from("<Q", buf, pos)
            pos += 8 + name_length
            (n_dims,) = struct.unpack_from("<I", buf, pos)
            pos += 4 + 8 * n_dims + 4 + 8  # dims, type, offset (relative to the data)
        data_start = pos + (-pos % alignment)
        head = (
            struct.pack("<4sIQQ", magic, version, n_tensors, n_kv + 1)
            + buf[24:kv_end]
            + _gguf_string("tokenizer.chat_template")
            + struct.pack("<I", _GGUF_STRING)
            + _gguf_string(template)
            + buf[kv_end:pos]
        )
        with target.open("wb") as out:
            out.write(head + b"\0" * (-len(head) % alignment))
            out.write(buf[data_start:])
    return target


@pytest.fixture(scope="session")
def templated_gguf(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("templated") / "gemma-with-template.gguf"
    return with_chat_template(gguf_path, target, GEMMA_TEMPLATE)
