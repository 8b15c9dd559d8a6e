"""Fallback load generator when wrk is not installed: N keep-alive HTTP/1.1 connections on raw
asyncio streams (uvloop if present), closed loop, for a fixed time. Prints one `BENCH {...}`
line in the same shape as the wrk report. Heavier than wrk: prefer wrk when you can."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def worker(
    host: str, port: int, request: bytes, until: float, lat: list[float], codes: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            codes.append(status)
    finally:
        writer.close()


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--header", action="append", default=[])
    a = p.parse_args()
    url = urlsplit(a.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    headers = "".join(f"{h}\r\n" for h in a.header)
    request = f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n{headers}\r\n".encode()
    lat: list[float] = []
    codes: list[int] = []
    started = time.perf_counter()
    until = started + a.duration
    await asyncio.gather(
        *(worker(host, port, request, until, lat, codes) for _ in range(a.connections))
    )
    elapsed = time.perf_counter() - started
    s = sorted(lat)
    us = 1e6
    report = {
        "requests": len(lat),
        "duration_us": int(elapsed * us),
        "non_2xx": sum(1 for c in codes if not 200 <= c < 400),
        "socket_errors": 0,
        "p50_us": int(pct(s, 50) * us),
        "p90_us": int(pct(s, 90) * us),
        "p99_us": int(pct(s, 99) * us),
        "mean_us": sum(s) / len(s) * us if s else 0.0,
        "max_us": int(s[-1] * us) if s else 0,
    }
    print("BENCH " + json.dumps(report))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
