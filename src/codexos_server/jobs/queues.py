"""Queue adapters: how "job X is ready" reaches a runner.

- `inline` (embedded default): the runner lives in the API process; no broker.
- `taskiq`: a broker (Redis Streams via taskiq-redis, RabbitMQ via taskiq-aio-pika) carries
  the doorbell to `codexos worker` processes. The job itself never travels through the
  broker: workers claim it from the table, so a lost message only delays a job until a
  runner's next poll.
"""

from __future__ import annotations

from collections.abc import Callable

from taskiq import AsyncBroker, Context, TaskiqDepends
from taskiq_aio_pika import AioPikaBroker, Exchange, Queue
from taskiq_redis import RedisStreamBroker

from codexos_server.config import Settings
from codexos_server.jobs.runner import JobRunner
from codexos_server.jobs.service import JobQueue

TASK_NAME = "codexos.job_ready"


class InlineQueue:
    """Runs jobs in this process."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    async def start(self) -> None:
        await self.runner.start()

    async def notify(self, job_id: str) -> None:
        self.runner.offer(job_id)

    async def stop(self) -> None:
        await self.runner.stop()


def make_broker(url: str, queue: str = "codexos-jobs") -> AsyncBroker:
    """A taskiq broker for a `redis://` or `amqp://` URL."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStreamBroker(url, queue_name=queue, consumer_group_name=f"{queue}-workers")
    if url.startswith(("amqp://", "amqps://")):
        return AioPikaBroker(url, exchange=Exchange(name=queue), task_queues=[Queue(name=queue)])
    raise ValueError(
        f"unsupported CODEXOS_BROKER_URL scheme: {url.split(':', 1)[0]!r} (use redis:// or amqp://)"
    )


async def _job_ready(job_id: str, context: Context = TaskiqDepends()) -> None:
    runner: JobRunner = context.state.runner
    runner.offer(job_id)


class TaskiqQueue:
    """Kicks doorbell messages; in a worker process, also runs the runner that answers them."""

    def __init__(self, broker: AsyncBroker, runner: JobRunner | None = None) -> None:
        self.broker = broker
        self.runner = runner
        self.task = broker.register_task(_job_ready, task_name=TASK_NAME)
        if runner is not None:
            broker.state.runner = runner
            # Must be known before startup: the RabbitMQ broker opens its consuming channel
            # only in a worker process (without it, taskiq's receiver retries in a hot loop).
            broker.is_worker_process = True

    async def start(self) -> None:
        await self.broker.startup()
        if self.runner is not None:
            await self.runner.start()

    async def notify(self, job_id: str) -> None:
        await self.task.kiq(job_id)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        await self.broker.shutdown()


JOB_QUEUES: dict[str, Callable[[Settings, JobRunner | None], JobQueue]] = {
    "inline": lambda _settings, runner: InlineQueue(_require(runner)),
    "taskiq": lambda settings, runner: TaskiqQueue(
        make_broker(str(settings.broker_url), settings.broker_queue), runner
    ),
}


def _require(runner: JobRunner | None) -> JobRunner:
    if runner is None:
        raise ValueError("the inline queue runs jobs in this process and needs a runner")
    return runner


def build_queue(settings: Settings, runner: JobRunner | None) -> JobQueue:
    """`taskiq` when CODEXOS_BROKER_URL is set, else `inline`."""
    return JOB_QUEUES["taskiq" if settings.broker_url else "inline"](settings, runner)
