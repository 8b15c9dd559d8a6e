"""Benchmark: WebSocket fan-out. 1,000 clients subscribed to one run's channel on one server
(uvicorn, one process, pinned to CPU 0; the clients live in 2 processes on CPU 1); events
are published through the server's own event bus at 100 events/s for N seconds. Measures
events delivered per second (all clients) and p99 delivery latency (receive time minus the
publish time in the event), against a bare Starlette WebSocket broadcast of the same events
in the same run (bench/ws_apps.py). Target: ratio >= 0.5 and p99 <= 100 ms.

Also: memory per idle WebSocket (server RSS with 1,000 authenticated connections minus RSS
before, divided by 1,000).

    .venv/bin/python -m bench --only ws [--clients 1000] [--rate 100] [--seconds 10]

Clients disable permessage-deflate (`compression=None`) for both servers: the bench
measures our stack, not zlib.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

from bench._server import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
CLIENT_PROCESSES = 2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class App:
    """One bench server subprocess: `kind` is `codexos` or `bare`."""

    def __init__(self, kind: str, stack: ExitStack) -> None:
        self.kind = kind
        self.tmp = Path(tempfile.mkdtemp(prefix=f"codexos-bench-ws-{kind}-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/v1/ws"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
        self.env.update(
            PYTHONPATH=str(ROOT),
            CODEXOS_DATA_DIR=str(self.tmp / "data"),
            CODEXOS_SECRET_KEY="bench-secret-key-" + "x" * 48,
            CODEXOS_RATE_LIMIT_FREE="100000000",
            CODEXOS_LOG_FORMAT="json",
            CODEXOS_LOG_LEVEL="WARNING",
            CODEXOS_PASSWORD_HASH_MEMORY_KIB="8192",
            CODEXOS_PASSWORD_HASH_TIME_COST="1",
            CODEXOS_LLM_PROVIDER="scripted",
            CODEXOS_WS_MAX_CONNECTIONS_PER_USER="100000",
            CODEXOS_WS_IDLE_TIMEOUT_SECONDS="3600",
        )
        if kind == "codexos":
            subprocess.run(
                [str(BIN / "codexos"), "migrate"],
                cwd=self.tmp,
                env=self.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        log = (self.tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                "0",
                str(BIN / "python"),
                "-m",
                "uvicorn",
                "--factory",
                f"bench.ws_apps:{kind}_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=self.tmp,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        stack.callback(self.stop)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{kind} server exited; see {self.tmp / 'server.log'}")
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"{kind} server did not start")

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Clients:
    """`count` WebSocket clients spread over CLIENT_PROCESSES processes on CPU 1."""

    def __init__(self, url: str, count: int, *auth: str) -> None:
        share = [count // CLIENT_PROCESSES + (i < count % CLIENT_PROCESSES) for i in range(2)]
        self.procs = [
            subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    "1",
                    sys.executable,
                    "-m",
                    "bench.ws_clients",
                    url,
                    str(n),
                    *auth,
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in share
            if n
        ]
        for proc in self.procs:
            line = self._line(proc)
            if "ready" not in line:
                raise SystemExit(f"clients failed: {line}")

    @staticmethod
    def _line(proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("a client process died")
        return dict(json.loads(line))

    def collect(self, expected: int, timeout: float) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"collect": expected, "timeout": timeout}) + "\n")
            proc.stdin.flush()
        return [self._line(proc) for proc in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def setup_codexos(app: App) -> tuple[str, str]:
    """A user (its access token) and a finished run whose channel the clients subscribe."""
    api = f"{app.base}/api/v1"
    with httpx.Client(base_url=api, timeout=60) as http:
        body = {"email": "bench-ws@example.com", "password": "bench password 123", "name": "B"}
        http.post("/auth/register", json=body).raise_for_status()
        login = {"email": body["email"], "password": body["password"]}
        tokens = http.post("/auth/login", json=login).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        agent = http.post("/agents", json={"name": "bench"}, headers=headers).json()
        run = http.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "hi"}, headers=headers
        ).json()
    return str(tokens["access_token"]), f"run:{run['id']}"


def fan_out(
    app: App, clients: int, rate: float, seconds: float, auth: tuple[str, ...]
) -> dict[str, float]:
    group = Clients(app.ws_url, clients, *auth)
    try:
        channel = auth[1] if auth else "bench"
        t0 = time.time()
        httpx.post(
            f"{app.base}/bench/publish",
            params={"channel": channel, "rate": rate, "seconds": seconds},
            timeout=30,
        ).raise_for_status()
        expected = int(rate * seconds)
        results = group.collect(expected, seconds + 30)
    finally:
        group.close()
    count = sum(r["count"] for r in results)
    last = max(r["last"] for r in results)
    sample = [x for r in results for x in r["sample"]]
    elapsed = max(last - t0, 1e-9)
    return {
        "delivered": count,
        "expected": expected * clients,
        "events_per_s": count / elapsed,
        "p50_ms": percentile(sample, 0.5) * 1000 if sample else float("nan"),
        "p99_ms": percentile(sample, 0.99) * 1000 if sample else float("nan"),
        "mean_ms": statistics.fmean(sample) * 1000 if sample else float("nan"),
        "lagged": sum(r["lagged"] for r in results),
    }


def idle_memory(app: App, clients: int, auth: tuple[str, ...]) -> float:
    """KiB of server RSS per idle (authenticated, for codexos) connection."""
    time.sleep(1)
    before = app.rss()
    group = Clients(app.ws_url, clients, *auth)
    time.sleep(2)
    after = app.rss()
    group.close()
    return (after - before) / clients / 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_ws")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args, _ = parser.parse_known_args(argv)
    results: dict[str, dict[str, float]] = {}
    memory: dict[str, float] = {}
    with ExitStack() as stack:
        ours = App("codexos", stack)
        token, channel = setup_codexos(ours)
        memory["codexos"] = idle_memory(ours, args.clients, (token,))
        results["codexos"] = fan_out(ours, args.clients, args.rate, args.seconds, (token, channel))
        ours.stop()
        bare = App("bare", stack)
        memory["bare"] = idle_memory(bare, args.clients, ())
        results["bare"] = fan_out(bare, args.clients, args.rate, args.seconds, ())
    print(
        f"fan-out: {args.clients} clients, {args.rate:g} events/s for {args.seconds:g} s "
        f"(server on CPU 0, clients in {CLIENT_PROCESSES} processes on CPU 1)"
    )
    for kind, r in results.items():
        print(
            f"  {kind:8s} delivered {r['delivered']:.0f}/{r['expected']:.0f}  "
            f"{r['events_per_s']:,.0f} events/s  p50 {r['p50_ms']:.1f} ms  "
            f"p99 {r['p99_ms']:.1f} ms  lagged {r['lagged']:.0f}  "
            f"idle memory {memory[kind]:.1f} KiB/connection"
        )
    ratio = results["codexos"]["events_per_s"] / results["bare"]["events_per_s"]
    p99 = results["codexos"]["p99_ms"]
    print(
        f"  ratio {ratio:.2f} (target >= {TARGET_RATIO}), p99 {p99:.1f} ms "
        f"(target <= {TARGET_P99_MS:g} ms)"
    )
    valid = all(r["delivered"] > 0 for r in results.values())
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
