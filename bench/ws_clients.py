"""A bench_ws client process: N WebSocket clients (one asyncio loop), reading JSON commands
on stdin and answering one JSON line each on stdout.

    python -m bench.ws_clients URL N [TOKEN CHANNEL]

With TOKEN, each client authenticates (first-message auth) and, with CHANNEL, subscribes.
Prints {"ready": N} once all are connected; then on a line `{"collect": EXPECTED, "timeout"}`
reads until every client got EXPECTED `bench.tick` events (or the timeout) and prints the
count, the time of the last receive and a sample of delivery latencies (receive time minus
`data.sent`), all clocks being this machine's.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

SAMPLE = 20_000


async def open_client(url: str, token: str | None, channel: str | None) -> ClientConnection:
    ws = await connect(url, compression=None, open_timeout=60, max_queue=None)
    if token:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "auth.ok"
        if channel:
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
    return ws


async def collect(ws: ClientConnection, expected: int, stats: dict[str, Any]) -> None:
    got = 0
    while got < expected:
        frame = json.loads(await ws.recv())
        now = time.time()
        if frame.get("type") == "bench.tick":
            got += 1
            stats["count"] += 1
            stats["last"] = max(stats["last"], now)
            stats["latencies"].append(now - frame["data"]["sent"])
        elif frame.get("type") == "lagged":
            stats["lagged"] += frame["dropped"]


async def main(argv: list[str]) -> None:
    url, n = argv[0], int(argv[1])
    token = argv[2] if len(argv) > 2 else None
    channel = argv[3] if len(argv) > 3 else None
    limit = asyncio.Semaphore(50)

    async def opened() -> ClientConnection:
        async with limit:
            return await open_client(url, token, channel)

    clients = await asyncio.gather(*(opened() for _ in range(n)))
    print(json.dumps({"ready": n}), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        if "collect" not in command:
            break
        stats: dict[str, Any] = {"count": 0, "last": 0.0, "latencies": [], "lagged": 0}
        tasks = [asyncio.create_task(collect(ws, command["collect"], stats)) for ws in clients]
        await asyncio.wait(tasks, timeout=command["timeout"])
        for task in tasks:
            task.cancel()
        latencies = stats["latencies"]
        sample = random.sample(latencies, min(SAMPLE, len(latencies)))
        print(
            json.dumps(
                {
                    "count": stats["count"],
                    "last": stats["last"],
                    "lagged": stats["lagged"],
                    "sample": sample,
                }
            ),
            flush=True,
        )
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
