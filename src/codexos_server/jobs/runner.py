"""The job runner: a dispatcher that claims due jobs in batches, executor tasks that run
them, one heartbeat loop for all of them, and a reaper.

The dispatcher wakes on a doorbell (the queue adapter's "job X is ready"), when a slot frees
up, or every `job_poll_seconds` — so retries with backoff, jobs re-queued by the reaper and
jobs whose doorbell was lost all run without any broker involvement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from datetime import timedelta
from typing import Any

from codexos_server.config import Settings
from codexos_server.db.base import new_id, utcnow
from codexos_server.events.bus import EventBus, Subscription
from codexos_server.jobs.context import JobCancelled, JobContext, JobFailed
from codexos_server.jobs.events import CANCEL_CHANNEL, publish_job_event
from codexos_server.jobs.models import JobStatus
from codexos_server.jobs.registry import JOB_KINDS, JobKind
from codexos_server.jobs.store import ClaimedJob, JobStore
from codexos_server.log import get_logger
from codexos_server.monitoring.prometheus import metrics_of

log = get_logger("codexos.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


class _Running:
    """The bookkeeping of one job being executed."""

    def __init__(self, job: ClaimedJob, ctx: JobContext, task: asyncio.Task[Any]) -> None:
        self.job = job
        self.ctx = ctx
        self.task = task
        self.lease_lost = False
        self.forced_cancel = False
        self.cancel_seen_at: float | None = None
        self.started = time.perf_counter()

    def request_cancel(self) -> None:
        if not self.ctx._cancel.is_set():
            self.ctx._cancel.set()
            self.cancel_seen_at = time.monotonic()


class JobRunner:
    """Executes jobs in this process, at most `concurrency` at a time."""

    def __init__(
        self,
        store: JobStore,
        events: EventBus,
        settings: Settings,
        *,
        concurrency: int,
        kinds: dict[str, JobKind] = JOB_KINDS,
    ) -> None:
        self.store = store
        self.events = events
        self.kinds = kinds
        self.concurrency = concurrency
        self.worker_id = worker_name()
        self.lease = settings.job_lease_seconds
        self.heartbeat_every = settings.job_heartbeat_seconds
        self.poll_every = settings.job_poll_seconds
        self.reap_every = settings.job_reaper_seconds
        self.cancel_grace = settings.job_cancel_grace_seconds
        self.services: Any = None  # the Container, set once it is built
        self._wake = asyncio.Event()
        self._work: asyncio.Queue[ClaimedJob] = asyncio.Queue()
        self._held = 0  # claimed and not yet finished
        self._running: dict[str, _Running] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._cancel_sub: Subscription | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start. Jobs left queued, due or orphaned by a crash are picked up."""
        self._tasks = [
            asyncio.create_task(self._executor(), name=f"job-exec-{i}")
            for i in range(self.concurrency)
        ]
        self._tasks += [
            asyncio.create_task(self._dispatcher(), name="job-dispatcher"),
            asyncio.create_task(self._heartbeats(), name="job-heartbeats"),
            asyncio.create_task(self._reaper(), name="job-reaper"),
            asyncio.create_task(self._watch_cancels(), name="job-cancels"),
        ]
        log.info("job runner started", worker=self.worker_id, concurrency=self.concurrency)

    async def stop(self) -> None:
        """Stop at once; jobs in flight are handed back to the queue (attempt not counted)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while not self._work.empty():  # claimed but never started
            job = self._work.get_nowait()
            await self.store.release(job.id, self.worker_id)
        if self._cancel_sub is not None:
            await self._cancel_sub.close()

    def offer(self, job_id: str) -> None:
        """A doorbell: a job is probably ready."""
        self._wake.set()

    # -- loops -------------------------------------------------------------------------

    async def _dispatcher(self) -> None:
        while True:
            # Cleared before looking: a doorbell or a freed slot arriving while we claim sets
            # it again, so the wait below returns at once instead of missing it.
            self._wake.clear()
            free = self.concurrency - self._held
            claimed: list[ClaimedJob] = []
            if free > 0:
                try:
                    claimed = await self.store.claim(
                        self.worker_id, self.lease, self.kinds.keys(), free
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database may be away for a moment
                    log.exception("job claim failed")
                    await asyncio.sleep(min(5.0, self.poll_every * 2))
                    continue
                self._held += len(claimed)
                for job in claimed:
                    self._work.put_nowait(job)
            if claimed and self._held < self.concurrency:
                continue  # there may be more due jobs
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_every)

    async def _executor(self) -> None:
        while True:
            job = await self._work.get()
            try:
                await self._execute(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job bookkeeping failed", job_id=job.id)
            finally:
                self._held -= 1
                self._wake.set()  # a slot is free

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            beating = list(self._running.values())
            if not beating:
                continue
            try:
                held = await self.store.heartbeat(
                    [r.job.id for r in beating], self.worker_id, self.lease
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed")
                continue
            now = time.monotonic()
            for running in beating:
                if running.task.done() or self._running.get(running.job.id) is not running:
                    continue  # finished while we were asking (perhaps retried already)
                if running.job.id not in held:
                    running.lease_lost = True
                    running.task.cancel()
                    continue
                if held[running.job.id]:
                    running.request_cancel()
                if running.cancel_seen_at and now - running.cancel_seen_at > self.cancel_grace:
                    running.forced_cancel = True
                    running.task.cancel()

    async def _reaper(self) -> None:
        while True:
            try:
                reaped = await self.store.reap()
                for job_id in reaped.requeued:
                    log.warning("re-queued a job whose worker stopped responding", job_id=job_id)
                if reaped.requeued:
                    self._wake.set()
                for job_id, workspace in reaped.failed:
                    await publish_job_event(
                        self.events, job_id, workspace, "job.failed", {"error": "worker lost"}
                    )
                for job_id, workspace in reaped.cancelled:
                    await publish_job_event(self.events, job_id, workspace, "job.cancelled", {})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job reaper error")
            await asyncio.sleep(self.reap_every)

    async def _watch_cancels(self) -> None:
        """Cancellation requests, pushed at once. If the bus is unreachable the heartbeat
        still sees them; this keeps retrying in the background."""
        while True:
            try:
                self._cancel_sub = await self.events.subscribe(CANCEL_CHANNEL)
                async for event in self._cancel_sub:
                    running = self._running.get(str(event.data.get("job_id")))
                    if running is not None:
                        running.request_cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot watch job cancellations yet; retrying", error=str(exc))
                await asyncio.sleep(5)

    # -- one job -----------------------------------------------------------------------

    async def _execute(self, job: ClaimedJob) -> None:
        kind = self.kinds[job.kind]

        async def report(data: dict[str, Any]) -> None:
            await self.store.progress(job.id, self.worker_id, data)
            await publish_job_event(self.events, job.id, job.workspace_id, "job.progress", data)

        ctx = JobContext(
            job_id=job.id,
            kind=job.kind,
            payload=job.payload,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            workspace_id=job.workspace_id,
            user_id=job.user_id,
            services=self.services,
            _report=report,
        )
        await publish_job_event(
            self.events, job.id, job.workspace_id, "job.started", {"attempt": job.attempt}
        )
        running = _Running(job, ctx, asyncio.create_task(self._run_handler(kind, ctx)))
        self._running[job.id] = running
        try:
            await self._settle(running, kind)
        finally:
            self._running.pop(job.id, None)

    @staticmethod
    async def _run_handler(kind: JobKind, ctx: JobContext) -> Any:
        async with asyncio.timeout(kind.timeout):
            return await kind.handler(ctx)

    async def _settle(self, running: _Running, kind: JobKind) -> None:
        job, task = running.job, running.task
        try:
            result = await task
        except JobCancelled:
            await self._finish(job, JobStatus.CANCELLED)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # the runner is stopping
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await asyncio.shield(self.store.release(job.id, self.worker_id))
                raise
            if running.lease_lost:
                log.warning("lost the lease of a job; another worker owns it now", job_id=job.id)
            elif running.forced_cancel:
                await self._finish(job, JobStatus.CANCELLED)
        except TimeoutError:
            await self._failed(
                job,
                kind,
                {"type": "Timeout", "message": f"timed out after {kind.timeout:g} s"},
                True,
            )
        except JobFailed as exc:
            await self._failed(job, kind, {"type": "JobFailed", "message": str(exc)}, exc.retry)
        except Exception as exc:
            log.warning(
                "job attempt failed",
                job_id=job.id,
                kind=job.kind,
                attempt=job.attempt,
                error=repr(exc),
            )
            await self._failed(
                job, kind, {"type": type(exc).__name__, "message": str(exc)[:2000]}, True
            )
        else:
            try:
                json.dumps(result)
            except (TypeError, ValueError):
                await self._failed(
                    job, kind, {"type": "BadResult", "message": "result is not JSON"}, False
                )
                return
            await self._finish(job, JobStatus.SUCCEEDED, result=result)

    async def _finish(
        self,
        job: ClaimedJob,
        status: JobStatus,
        *,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        if await self.store.finish(job.id, self.worker_id, status, result=result, error=error):
            self._observe(job, status.value)
            data: dict[str, Any] = {"attempt": job.attempt}
            if error:
                data["error"] = error
            await publish_job_event(
                self.events, job.id, job.workspace_id, f"job.{status.value}", data
            )

    async def _failed(
        self, job: ClaimedJob, kind: JobKind, error: dict[str, Any], retry: bool
    ) -> None:
        error = {**error, "attempt": job.attempt}
        if retry and job.attempt < job.max_attempts:
            delay = kind.backoff(job.attempt)
            if await self.store.retry_later(
                job.id, self.worker_id, error, utcnow() + timedelta(seconds=delay)
            ):
                self._observe(job, "retrying")
                await publish_job_event(
                    self.events,
                    job.id,
                    job.workspace_id,
                    "job.retrying",
                    {"error": error, "retry_in": round(delay, 3)},
                )
            return
        await self._finish(job, JobStatus.FAILED, error=error)

    def _observe(self, job: ClaimedJob, outcome: str) -> None:
        """Report an attempt's outcome and duration to the metrics."""
        running = self._running.get(job.id)
        if running is not None:
            seconds = time.perf_counter() - running.started
            metrics_of(self.services).job_finished(job.kind, outcome, seconds)
