"""`codexos worker`: a process that runs jobs, fed by the broker and by polling the table."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from taskiq.api import run_receiver_task

from codexos_server.config import Settings
from codexos_server.container import build_container
from codexos_server.jobs.queues import TaskiqQueue
from codexos_server.log import get_logger

log = get_logger("codexos.worker")


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT. Jobs in flight at shutdown are handed back to the queue."""
    container = build_container(settings, role="worker")
    await container.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    receiver: asyncio.Task[None] | None = None
    if isinstance(container.queue, TaskiqQueue):
        receiver = asyncio.create_task(
            run_receiver_task(container.queue.broker, max_async_tasks=1000, run_startup=False)
        )
        log.info(
            "worker listening",
            broker=settings.broker_url.split("@")[-1] if settings.broker_url else None,
        )
    else:
        log.info("worker polling the job table (no CODEXOS_BROKER_URL)")
    try:
        await stop.wait()
    finally:
        # Bounded: taskiq's receiver has been seen not to finish after a cancel; a worker
        # must still exit (its in-flight jobs are handed back by container.close()).
        stuck = False
        if receiver is not None:
            receiver.cancel()
            _, pending = await asyncio.wait({receiver}, timeout=5)
            stuck = bool(pending)
        try:
            await asyncio.wait_for(container.close(), timeout=20)
        except TimeoutError:
            stuck = True
        if stuck:  # asyncio.run would wait for the stuck task forever
            log.warning("a task did not stop on shutdown; exiting anyway")
            logging.shutdown()
            os._exit(0)
