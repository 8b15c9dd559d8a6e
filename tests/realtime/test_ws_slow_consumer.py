"""A client that stops reading gets `lagged` (oldest frames dropped) while the server keeps
answering everyone else."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from tests.realtime.conftest import Live, recv, recv_until, send


def tiny_receive_buffer(live: Live) -> socket.socket:
    """A client socket whose kernel buffer is small (no autotuning up to megabytes), so a
    client that stops reading pushes back on the server at once; its library buffers one
    frame (`max_queue=1`), then stops reading the socket."""
    host, port = live.ws_url.split("/")[2].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def test_slow_consumer_is_lagged_and_others_are_served(
    live_factory: Callable[..., Awaitable[Live]],
) -> None:
    live = await live_factory(ws_queue_size=20)
    account = await live.account()
    workspace = await account.personal_workspace()
    channel = f"workspace:{workspace}"
    slow = await live.authed(account, max_queue=1, sock=tiny_receive_buffer(live))
    await send(slow, {"type": "subscribe", "channel": channel})
    assert (await recv(slow))["type"] == "subscribed"
    fast = await live.authed(account)

    latencies = []
    for i in range(4000):
        # Incompressible data: the connection uses permessage-deflate.
        data = {"i": i, "blob": secrets.token_urlsafe(3000)}
        await live.container.events.publish(channel, "bench.tick", data)
        if i % 200 == 0:
            started = time.perf_counter()
            await send(fast, {"type": "ping", "id": i})
            assert await recv(fast, timeout=5) == {"type": "pong", "id": i}
            latencies.append(time.perf_counter() - started)
        elif i % 20 == 0:
            await asyncio.sleep(0)
    assert max(latencies) < 1.0, latencies

    frames = await recv_until(slow, lambda f: f["type"] == "lagged", timeout=30)
    lagged = frames[-1]
    delivered = [f["seq"] for f in frames if f["type"] == "bench.tick"]
    assert delivered == list(range(1, len(delivered) + 1))
    assert lagged["dropped"] > 0
    assert lagged["resume_after_seq"] == {channel: delivered[-1]}
    # Events after the gap keep coming, in order.
    after = [await recv(slow) for _ in range(5)]
    seqs = [f["seq"] for f in after]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert seqs[0] == delivered[-1] + lagged["dropped"] + 1
    await slow.close()
    await fast.close()
