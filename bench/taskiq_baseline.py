"""The baseline of the jobs benchmark: taskiq alone, a no-op task on the same Redis broker.

`python -m bench.taskiq_baseline worker URL N KEY` runs a receiver that counts N no-op tasks
and then writes the time into Redis key KEY; `kick URL N` sends them.
"""

from __future__ import annotations

import asyncio
import sys
import time

from redis.asyncio import Redis
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

QUEUE = "codexos:bench:baseline"


def make_broker(url: str) -> RedisStreamBroker:
    return RedisStreamBroker(url, queue_name=QUEUE, consumer_group_name="bench-baseline")


async def worker(url: str, total: int, key: str) -> None:
    broker = make_broker(url)
    redis = Redis.from_url(url)
    done = 0
    finished = asyncio.Event()

    @broker.task(task_name="bench.noop")
    async def noop() -> None:
        nonlocal done
        done += 1
        if done == total:
            await redis.set(key, repr(time.time()))
            finished.set()

    await broker.startup()
    receiver = asyncio.create_task(
        run_receiver_task(broker, max_async_tasks=100, run_startup=False)
    )
    await redis.set(f"{key}:ready", "1")
    await finished.wait()
    receiver.cancel()
    await redis.aclose()


async def kick(url: str, total: int) -> None:
    broker = make_broker(url)
    task = broker.register_task(lambda: None, task_name="bench.noop")
    await broker.startup()
    for start in range(0, total, 50):
        await asyncio.gather(*[task.kiq() for _ in range(start, min(total, start + 50))])
    await broker.shutdown()


if __name__ == "__main__":
    mode, url, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "worker":
        asyncio.run(worker(url, total, sys.argv[4]))
    else:
        asyncio.run(kick(url, total))
