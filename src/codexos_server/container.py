"""The services of one app instance, built once from Settings and shared by REST, GraphQL,
WebSocket and the CLI. Routes reach a single service through a small dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import HTTPConnection

from codexos_server.auth.api_keys import ApiKeyService
from codexos_server.auth.authenticate import Authenticator
from codexos_server.auth.passwords import PasswordHasher
from codexos_server.auth.service import AuthService
from codexos_server.auth.tokens import TokenCodec
from codexos_server.config import Settings
from codexos_server.db.database import Database
from codexos_server.events.bus import EventBus
from codexos_server.events.registry import build_event_bus
from codexos_server.jobs.queues import build_queue
from codexos_server.jobs.registry import load_job_modules
from codexos_server.jobs.runner import JobRunner
from codexos_server.jobs.service import JobQueue, JobService
from codexos_server.jobs.store import JobStore
from codexos_server.ratelimit import LoginThrottle, RateLimiter, RequestLimits
from codexos_server.users.service import UserService
from codexos_server.workspaces.service import WorkspaceService


@dataclass(slots=True)
class Container:
    settings: Settings
    db: Database
    limiter: RateLimiter
    request_limits: RequestLimits
    authenticator: Authenticator
    users: UserService
    auth: AuthService
    api_keys: ApiKeyService
    workspaces: WorkspaceService
    events: EventBus
    runner: JobRunner | None
    queue: JobQueue
    jobs: JobService

    async def start(self) -> None:
        """Start background machinery: the job queue (and runner, where this process runs jobs)."""
        await self.queue.start()

    async def close(self) -> None:
        await self.queue.stop()
        await self.events.close()
        await self.db.dispose()


Role = Literal["api", "worker"]


def build_container(settings: Settings, role: Role = "api") -> Container:
    """Wire every service. An API process runs jobs itself only without a broker (inline);
    a worker process always runs them."""
    load_job_modules(settings.job_modules)
    db = Database(
        settings.resolved_database_url(),
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
    )
    codec = TokenCodec(settings.resolved_secret_key(), settings.access_token_ttl_seconds)
    hasher = PasswordHasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    limiter = RateLimiter(settings.redis_url)
    events = build_event_bus(settings)
    store = JobStore(db)
    runs_jobs = role == "worker" or not settings.broker_url
    runner = (
        JobRunner(store, events, settings, concurrency=settings.job_concurrency)
        if runs_jobs
        else None
    )
    queue = build_queue(settings, runner)
    container = Container(
        settings=settings,
        db=db,
        limiter=limiter,
        request_limits=RequestLimits(settings, limiter),
        authenticator=Authenticator(db, codec),
        users=UserService(db, hasher),
        auth=AuthService(
            db, hasher, codec, LoginThrottle(settings, limiter), settings.refresh_token_ttl_seconds
        ),
        api_keys=ApiKeyService(db),
        workspaces=WorkspaceService(db, settings.invitation_ttl_seconds),
        events=events,
        runner=runner,
        queue=queue,
        jobs=JobService(db, store, events, queue),
    )
    if runner is not None:
        runner.services = container
    return container


def get_container(conn: HTTPConnection) -> Container:
    container: Container = conn.app.state.container
    return container
