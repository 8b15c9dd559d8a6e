"""A real server: `codexos migrate`, then `codexos serve` as a subprocess on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str  # http://127.0.0.1:PORT
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    def codexos(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "codexos"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
    env.update(
        CODEXOS_DATA_DIR=str(data_dir),
        CODEXOS_LOG_FORMAT="json",
        CODEXOS_PASSWORD_HASH_TIME_COST="1",
        CODEXOS_PASSWORD_HASH_MEMORY_KIB="1024",
    )
    env.update(extra)
    return env


def start_server(data_dir: Path, **extra: str) -> LiveServer:
    port = free_port()
    env = server_env(data_dir, **extra)
    migrated = subprocess.run(
        [str(BIN / "codexos"), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    log = data_dir / "server.log"
    process = subprocess.Popen(
        [str(BIN / "codexos"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", env, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{server.api}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path_factory.mktemp("live"),
        CODEXOS_RATE_LIMIT_FREE="1000000000",
        CODEXOS_RATE_LIMIT_ANONYMOUS="1000000000",
        CODEXOS_LOGIN_LIMIT_PER_IP="1000000 per minute",
        CODEXOS_LOGIN_LIMIT_PER_ACCOUNT="1000000 per minute",
    )
    yield server
    stop_server(server)
