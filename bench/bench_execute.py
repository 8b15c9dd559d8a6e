"""Benchmark: the platform's overhead on one agent execute, with the scripted model.

`POST /api/v1/agents/{id}/execute` (sync) against a real uvicorn server on SQLite — auth,
loading the agent and its version, storing the run and its steps, publishing events, and the
HTTP round trip itself — minus the time of calling the scripted model directly, both in the
same run. Sequential requests (one in flight), so the numbers are latencies, not queueing.
Target (issue 4): p50 <= 5 ms, p95 <= 15 ms on SQLite.

    .venv/bin/python -m bench --only execute [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench._server import Server
from codexos_server.llm.scripted import ScriptedChatModel
from codexos_server.llm.types import ChatMessage, ChatRequest

TARGET_P50_MS, TARGET_P95_MS = 5.0, 15.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def direct_model_ms(n: int) -> list[float]:
    model = ScriptedChatModel()
    request = ChatRequest(
        messages=(ChatMessage("system", ""), ChatMessage("user", "Generate API docs")),
        model="scripted",
    )

    async def go() -> list[float]:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            await model.complete(request)
            times.append((time.perf_counter() - t) * 1000)
        return times

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args, _ = parser.parse_known_args(argv)
    with Server({"CODEXOS_LLM_PROVIDER": "scripted"}) as server:
        key = server.api_key(["agents:*"])
        with httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            agent = (
                http.post("/agents", json={"name": "bench", "description": "overhead"})
                .raise_for_status()
                .json()
            )
            url = f"/agents/{agent['id']}/execute"
            for _ in range(50):  # warm up: caches, pools, compiled statements
                http.post(url, json={"input_data": "Generate API docs"}).raise_for_status()
            health = []
            for _ in range(args.requests):
                t = time.perf_counter()
                http.get("/health").raise_for_status()
                health.append((time.perf_counter() - t) * 1000)
            execute = []
            for _ in range(args.requests):
                t = time.perf_counter()
                r = http.post(url, json={"input_data": "Generate API docs"})
                execute.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    direct = direct_model_ms(args.requests)
    model_p50 = statistics.median(direct)
    overhead = [e - model_p50 for e in execute]
    p50, p95, p99 = pct(overhead, 0.5), pct(overhead, 0.95), pct(overhead, 0.99)
    print(f"execute (HTTP, sync, scripted model), {args.requests} sequential requests on SQLite")
    print(f"  direct scripted model call: p50 {model_p50 * 1000:.1f} us")
    print(
        f"  HTTP round trip (/health) : p50 {pct(health, 0.5):.2f} ms (part of the overhead below)"
    )
    print(
        f"  execute end to end       : p50 {pct(execute, 0.5):.2f} ms  p95 {pct(execute, 0.95):.2f} ms"
    )
    print(f"  platform overhead        : p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms")
    met = p50 <= TARGET_P50_MS and p95 <= TARGET_P95_MS
    print(
        f"  target p50 <= {TARGET_P50_MS} ms, p95 <= {TARGET_P95_MS} ms: {'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
