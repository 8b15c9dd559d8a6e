"""Benchmark: Python SDK overhead. `agents.retrieve` through `codexos.CodexOS` against the
same `GET /api/v1/agents/{id}` with raw httpx (one keep-alive `httpx.Client`, same timeout
and headers, `response.json()`), sequentially, in the same run. Rounds alternate raw/SDK then
SDK/raw (ABBA). Prints calls per second of each and the ratio SDK/raw (target >= 0.9).

    .venv/bin/python -m bench.bench_sdk [--calls 1000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import httpx
from codexos import CodexOS
from codexos.types import Agent

from bench._server import Server

TARGET_RATIO = 0.9


def timed(calls: int, call: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_sdk")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-pin", action="store_true")
    args, _ = parser.parse_known_args(argv)
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    with Server({"CODEXOS_LLM_PROVIDER": "scripted"}, pin="0" if pin else None) as server:
        if pin:
            os.sched_setaffinity(0, {1})
        key = server.api_key(["*"])
        sdk = CodexOS(api_key=key, base_url=server.base, max_retries=2, timeout=60)
        raw = httpx.Client(timeout=60)
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": "raw-httpx",
        }
        agent = sdk.agents.create(name="bench", description="retrieved over and over")
        url = f"{server.base}/agents/{agent.id}"

        def raw_call() -> Any:
            response = raw.get(url, headers=headers)
            response.raise_for_status()
            return response.json()

        def sdk_call() -> Agent:
            return sdk.agents.retrieve(agent.id)

        assert raw_call()["id"] == sdk_call().id == agent.id
        timed(200, raw_call)  # warm-up
        timed(200, sdk_call)
        totals = {"raw": 0.0, "sdk": 0.0}
        ratios = []
        for round_no in range(args.rounds):
            order = ["raw", "sdk"] if round_no % 2 == 0 else ["sdk", "raw"]
            seconds = {}
            for name in order:
                seconds[name] = timed(args.calls, raw_call if name == "raw" else sdk_call)
                totals[name] += seconds[name]
            ratios.append(seconds["raw"] / seconds["sdk"])
            print(
                f"round {round_no + 1}: raw {args.calls / seconds['raw']:.0f}/s, "
                f"sdk {args.calls / seconds['sdk']:.0f}/s, ratio {ratios[-1]:.3f}"
            )
        sdk.close()
        raw.close()
    calls = args.calls * args.rounds
    raw_rate, sdk_rate = calls / totals["raw"], calls / totals["sdk"]
    overhead_us = (totals["sdk"] - totals["raw"]) / calls * 1e6
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"raw httpx: {raw_rate:.0f} calls/s ({totals['raw'] / calls * 1e6:.0f} us/call)")
    print(f"SDK:       {sdk_rate:.0f} calls/s ({totals['sdk'] / calls * 1e6:.0f} us/call)")
    print(f"SDK overhead: {overhead_us:.0f} us/call")
    ratio = sdk_rate / raw_rate
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ratio SDK/raw: {ratio:.3f} ({verdict} the {TARGET_RATIO} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
