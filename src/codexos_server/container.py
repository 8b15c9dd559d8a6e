"""The services of one app instance, built once from Settings and shared by REST, GraphQL,
WebSocket and the CLI. Routes reach a single service through a small dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import HTTPConnection

# Built-in adapters, tools and job kinds register themselves on import, as plugins would.
import codexos_server.agents.jobs
import codexos_server.agents.tools.agent_call
import codexos_server.agents.tools.builtins
import codexos_server.llm.local_llama
import codexos_server.llm.openai_compat
import codexos_server.llm.scripted
import codexos_server.rag.embed.local
import codexos_server.rag.embed.openai
import codexos_server.rag.knowledge_search
import codexos_server.rag.pipeline
import codexos_server.workflows.jobs
import codexos_server.workflows.webhooks  # noqa: F401
from codexos_server.agents.conversations import ConversationService
from codexos_server.agents.memory import ConversationMemory
from codexos_server.agents.runs import RunService
from codexos_server.agents.runtime import AgentRuntime
from codexos_server.agents.service import AgentService
from codexos_server.agents.tools.custom import ToolDefinitionService
from codexos_server.agents.tools.resolve import ToolResolver
from codexos_server.auth.api_keys import ApiKeyService
from codexos_server.auth.authenticate import Authenticator
from codexos_server.auth.passwords import PasswordHasher
from codexos_server.auth.service import AuthService
from codexos_server.auth.tokens import TokenCodec
from codexos_server.billing.ledger import Ledger
from codexos_server.billing.payments import build_providers
from codexos_server.billing.service import BillingService
from codexos_server.config import Settings
from codexos_server.db.database import Database
from codexos_server.events.bus import EventBus
from codexos_server.events.registry import build_event_bus
from codexos_server.jobs.queues import build_queue
from codexos_server.jobs.registry import load_job_modules
from codexos_server.jobs.runner import JobRunner
from codexos_server.jobs.service import JobQueue, JobService
from codexos_server.jobs.store import JobStore
from codexos_server.llm.providers import ProviderService
from codexos_server.llm.registry import ModelRegistry
from codexos_server.marketplace.discovery import DiscoveryService
from codexos_server.marketplace.installs import (
    InstallService,
    PerRunCharges,
    revoke_refunded_purchase,
)
from codexos_server.marketplace.listings import ListingService
from codexos_server.marketplace.reviews import ReviewService
from codexos_server.monitoring.budgets import BudgetService, RunBudgets
from codexos_server.monitoring.prometheus import Metrics, NullMetrics, PrometheusMetrics
from codexos_server.monitoring.recorder import RequestRecorder
from codexos_server.monitoring.requests import RequestObserver
from codexos_server.monitoring.rollup import Rollup
from codexos_server.monitoring.service import MonitoringService
from codexos_server.monitoring.system import SystemService
from codexos_server.monitoring.tracing import Tracing, setup_tracing
from codexos_server.netguard import FetchPolicy, SafeHttpClient
from codexos_server.oauth.apps import AppService
from codexos_server.oauth.server import OAuthServer
from codexos_server.rag.blobs import BlobStore, LocalBlobStore
from codexos_server.rag.documents import DocumentService
from codexos_server.rag.embedders import EmbedderRegistry
from codexos_server.rag.index.port import VectorIndex
from codexos_server.rag.index.registry import index_for
from codexos_server.rag.pipeline import IngestionPipeline
from codexos_server.rag.service import KnowledgeBaseService
from codexos_server.ratelimit import LoginThrottle, RateLimiter, RequestLimits
from codexos_server.secretbox import SecretBox
from codexos_server.users.service import UserService
from codexos_server.workflows.engine import Engine
from codexos_server.workflows.hooks import HookService
from codexos_server.workflows.runs import WorkflowRunService
from codexos_server.workflows.schedules import Scheduler, ScheduleService
from codexos_server.workflows.service import WorkflowService
from codexos_server.workflows.webhooks import WebhookService
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
    secrets: SecretBox
    http: SafeHttpClient
    models: ModelRegistry
    providers: ProviderService
    agents: AgentService
    tool_definitions: ToolDefinitionService
    runtime: AgentRuntime
    runs: RunService
    conversations: ConversationService
    blobs: BlobStore
    vector_index: VectorIndex
    embedders: EmbedderRegistry
    knowledge_bases: KnowledgeBaseService
    documents: DocumentService
    ingestion: IngestionPipeline
    workflows: WorkflowService
    workflow_engine: Engine
    workflow_runs: WorkflowRunService
    workflow_schedules: ScheduleService
    workflow_hooks: HookService
    workflow_webhooks: WebhookService
    scheduler: Scheduler
    ledger: Ledger
    billing: BillingService
    listings: ListingService
    discovery: DiscoveryService
    installs: InstallService
    reviews: ReviewService
    monitoring: MonitoringService
    oauth_apps: AppService
    oauth_server: OAuthServer
    system: SystemService
    budgets: BudgetService
    request_recorder: RequestRecorder | None
    # Told about every HTTP request by the request middleware (metrics, request records).
    request_observers: list[RequestObserver] = field(default_factory=list)
    tracing: Tracing | None = None  # OpenTelemetry spans, when otel_endpoint is set
    metrics: Metrics = field(default_factory=NullMetrics)  # Prometheus, when monitoring is on

    async def start(self) -> None:
        """Start background machinery: the job queue (and runner, where this process runs
        jobs) and the workflow scheduler (on every node: a slot fires once anyway)."""
        await self.queue.start()
        if self.request_recorder is not None:
            self.request_recorder.start()
        if self.settings.scheduler_enabled:
            self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.stop()
        if self.request_recorder is not None:
            await self.request_recorder.close()
        await self.queue.stop()
        await self.events.close()
        await self.models.close()
        await self.embedders.close()
        await self.db.dispose()
        if self.tracing is not None:
            await self.tracing.close()
        self.metrics.close()


Role = Literal["api", "worker"]


def build_container(settings: Settings, role: Role = "api") -> Container:
    """Wire every service. An API process runs jobs itself only without a broker (inline);
    a worker process always runs them."""
    load_job_modules(settings.job_modules)
    secret = settings.resolved_secret_key()
    db = Database(
        settings.resolved_database_url(),
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
    )
    codec = TokenCodec(secret, settings.access_token_ttl_seconds)
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
    jobs = JobService(db, store, events, queue)
    box = SecretBox(secret)
    http = SafeHttpClient(FetchPolicy.from_settings(settings))
    models = ModelRegistry(settings)
    providers = ProviderService(db, box, models, settings)
    agents = AgentService(db)
    tool_definitions = ToolDefinitionService(db, box, http)
    runtime = AgentRuntime(
        db, events, providers, ToolResolver(tool_definitions), ConversationMemory(db), settings
    )
    blobs = LocalBlobStore(settings.data_dir / "blobs")
    vector_index = index_for(db.dialect)
    embedders = EmbedderRegistry(db, box, settings)
    knowledge_bases = KnowledgeBaseService(db, embedders, vector_index, jobs)
    workflows = WorkflowService(db)
    workflow_engine = Engine(db, events, jobs)
    workflow_runs = WorkflowRunService(db, workflow_engine, workflows)
    workflow_webhooks = WebhookService(
        db,
        box,
        http,
        jobs,
        max_attempts=settings.webhook_max_attempts,
        retry_base_seconds=settings.webhook_retry_base_seconds,
    )
    workflow_engine.finish_hooks.append(workflow_webhooks.on_run_finished)
    ledger = Ledger(settings.marketplace_fee_percent)
    rollup = Rollup(db, settings.monitoring_retention_days)
    recorder = (
        RequestRecorder(db, rollup, settings.monitoring_flush_seconds)
        if settings.monitoring_enabled and role == "api"
        else None
    )
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
        jobs=jobs,
        secrets=box,
        http=http,
        models=models,
        providers=providers,
        agents=agents,
        tool_definitions=tool_definitions,
        runtime=runtime,
        runs=RunService(db, events, jobs, agents, runtime),
        conversations=ConversationService(db, agents),
        blobs=blobs,
        vector_index=vector_index,
        embedders=embedders,
        knowledge_bases=knowledge_bases,
        documents=DocumentService(
            db, knowledge_bases, blobs, vector_index, jobs, events, http, settings.max_upload_bytes
        ),
        ingestion=IngestionPipeline(
            db,
            knowledge_bases,
            blobs,
            vector_index,
            events,
            settings.rag_max_extracted_chars,
            settings.rag_ingest_group_size,
        ),
        workflows=workflows,
        workflow_engine=workflow_engine,
        workflow_runs=workflow_runs,
        workflow_schedules=ScheduleService(db, workflows),
        workflow_hooks=HookService(
            db, box, workflows, workflow_runs, settings.hook_replay_window_seconds
        ),
        workflow_webhooks=workflow_webhooks,
        scheduler=Scheduler(db, workflow_runs, settings.scheduler_interval_seconds),
        ledger=ledger,
        billing=BillingService(db, ledger, build_providers(settings)),
        listings=ListingService(db, settings),
        discovery=DiscoveryService(db),
        installs=InstallService(db, ledger),
        reviews=ReviewService(db),
        monitoring=MonitoringService(db, rollup),
        oauth_apps=AppService(db),
        oauth_server=OAuthServer(db, settings),
        system=SystemService(db, rollup, settings),
        budgets=BudgetService(db),
        request_recorder=recorder,
    )
    runtime.budgets = RunBudgets(events)
    if recorder is not None:
        container.request_observers.append(recorder)
    runtime.charges = PerRunCharges(ledger)
    container.billing.refund_hooks.append(revoke_refunded_purchase)
    if settings.monitoring_enabled:
        container.metrics = prometheus = PrometheusMetrics(db)
        container.request_observers.append(prometheus)
    runtime.services = container
    workflow_engine.services = container
    if runner is not None:
        runner.services = container
    container.tracing = setup_tracing(settings, role)
    return container


def get_container(conn: HTTPConnection) -> Container:
    container: Container = conn.app.state.container
    return container
