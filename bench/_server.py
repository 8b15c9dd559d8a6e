"""Shared by the benchmarks: a throwaway CodexOS server (fresh data dir, migrated) on a free
port, and an account with an API key on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UVICORN_FLAGS = [
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`with Server(env) as server:` migrates a fresh data dir and serves on server.base."""

    def __init__(self, env: dict[str, str] | None = None, pin: str | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="codexos-bench-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
        self.env.update(
            CODEXOS_DATA_DIR=str(self.tmp / "data"),
            CODEXOS_SECRET_KEY="bench-secret-key-" + "x" * 48,
            CODEXOS_RATE_LIMIT_FREE="100000000",
            CODEXOS_LOG_FORMAT="json",
            CODEXOS_LOG_LEVEL="WARNING",
            CODEXOS_PASSWORD_HASH_MEMORY_KIB="8192",
            CODEXOS_PASSWORD_HASH_TIME_COST="1",
            **(env or {}),
        )
        self.pin = pin
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        subprocess.run(
            [str(BIN / "codexos"), "migrate"],
            cwd=self.tmp,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cmd = [
            str(BIN / "python"),
            "-m",
            "uvicorn",
            "codexos_server.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *UVICORN_FLAGS,
        ]
        if self.pin:
            cmd = ["taskset", "-c", self.pin, *cmd]
        log = (self.tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(cmd, cwd=self.tmp, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited; see {self.tmp / 'server.log'}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def api_key(self, scopes: list[str]) -> str:
        account = {"email": "bench@example.com", "password": "bench-password-123"}
        with httpx.Client(base_url=self.base, timeout=30) as http:
            http.post("/auth/register", json=account)
            token = http.post("/auth/login", json=account).raise_for_status().json()["access_token"]
            r = http.post(
                "/auth/api-keys",
                json={"name": "bench", "scopes": scopes},
                headers={"Authorization": f"Bearer {token}"},
            )
            return str(r.raise_for_status().json()["key"])
