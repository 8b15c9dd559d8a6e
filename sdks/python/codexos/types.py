"""Response models. Unknown fields are kept (`extra="allow"`), so a newer server does not
break an older SDK; every model is read with attribute access."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class APIModel(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class TokenPair(APIModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class User(APIModel):
    id: str
    email: str
    name: str | None = None
    role: str
    tier: str
    rate_limit_per_hour: int | None = None
    is_disabled: bool = False
    created_at: datetime


class ApiKey(APIModel):
    id: str
    name: str
    prefix: str
    last_four: str
    scopes: list[str]
    workspace_id: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKey):
    key: str


class Workspace(APIModel):
    id: str
    name: str
    is_personal: bool
    owner_id: str
    role: str
    created_at: datetime


class Member(APIModel):
    user_id: str
    role: str
    email: str | None = None
    name: str | None = None
    joined_at: datetime | None = None


class Invitation(APIModel):
    id: str
    workspace_id: str
    email: str
    role: str
    invited_by_id: str | None = None
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime


class InvitationCreated(Invitation):
    token: str


class Agent(APIModel):
    id: str
    workspace_id: str
    name: str
    description: str | None = None
    type: str
    instructions: str = ""
    model: dict[str, Any] = {}
    tools: list[Any] = []
    knowledge_base_ids: list[str] = []
    variables: dict[str, Any] = {}
    max_steps: int
    version: int
    created_at: datetime
    updated_at: datetime


class Run(APIModel):
    id: str
    agent_id: str
    agent_version: int
    conversation_id: str | None = None
    status: str
    mode: str
    input: Any = None
    output: str | None = None
    citations: list[Any] | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] = {}
    cost: float = 0.0
    model: str | None = None
    job_id: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RunDetail(Run):
    steps: list[dict[str, Any]] = []


class Event(APIModel):
    """One server-sent event of a run or workflow run (`token`, `run.succeeded`, ...)."""

    type: str
    data: dict[str, Any] = {}
    seq: int | None = None
    channel: str | None = None
    ts: str | None = None


class Conversation(APIModel):
    id: str
    agent_id: str
    title: str | None = None
    summary: str | None = None
    message_count: int
    created_at: datetime


class Message(APIModel):
    id: str
    position: int
    role: str
    content: str
    run_id: str | None = None
    created_at: datetime


class Workflow(APIModel):
    id: str
    name: str
    description: str | None = None
    spec: dict[str, Any]
    created_at: datetime


class ValidationResult(APIModel):
    valid: bool
    problems: list[dict[str, Any]]


class WorkflowRun(APIModel):
    id: str
    workflow_id: str
    workflow_version: int
    status: str
    trigger: str
    inputs: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    created_at: datetime
    finished_at: datetime | None = None


class WorkflowRunDetail(WorkflowRun):
    nodes: list[dict[str, Any]] = []
    approvals: list[dict[str, Any]] = []


class Approval(APIModel):
    id: str
    run_id: str
    node_id: str
    prompt: str
    status: str
    comment: str | None = None
    decided_by: str | None = None


class KnowledgeBase(APIModel):
    id: str
    name: str
    description: str | None = None
    embedding_dimensions: int
    document_count: int
    created_at: datetime


class Document(APIModel):
    id: str
    knowledge_base_id: str
    name: str
    kind: str
    source: str
    size_bytes: int
    status: str
    chunk_count: int
    error: dict[str, Any] | None = None
    duplicate: bool = False
    job_id: str | None = None
    created_at: datetime


class QueryResult(APIModel):
    results: list[dict[str, Any]]
    mode: str


class Listing(APIModel):
    id: str
    workspace_id: str
    resource_type: str
    title: str
    summary: str = ""
    description: str = ""
    category: str
    tags: list[str] = []
    pricing: dict[str, Any]
    status: str
    moderation_note: str | None = None
    latest_version: int
    install_count: int
    published_at: datetime | None = None
    created_at: datetime


class Install(APIModel):
    id: str
    listing_id: str
    version: int
    resource_type: str
    resource_id: str
    created_at: datetime


class InstallResult(Install):
    created_resources: dict[str, Any] = {}
    setup_required: list[Any] = []


class Purchase(APIModel):
    id: str
    listing_id: str
    price: int
    transaction_id: str
    created_at: datetime


class Review(APIModel):
    id: str
    listing_id: str
    user_id: str
    rating: int
    body: str
    reply: str | None = None
    replied_at: datetime | None = None
    created_at: datetime


class Wallet(APIModel):
    workspace_id: str
    balance: int
    currency: str = "credits"


class Transaction(APIModel):
    id: str
    kind: str
    amount: int
    workspace_id: str | None = None
    created_at: datetime
    entries: list[dict[str, Any]] = []


class Earnings(APIModel):
    period: str
    since: datetime
    until: datetime
    total: int
    buckets: list[dict[str, Any]]


class MetricsSummary(APIModel):
    workspace_id: str
    window: str
    requests: dict[str, Any]
    runs: dict[str, Any]
    top_agents: list[dict[str, Any]]


class AgentStats(APIModel):
    agent_id: str
    window: str
    runs: int
    success_rate: float | None = None
    latency: dict[str, Any]
    tokens: dict[str, Any]
    cost: float


class UsageReport(APIModel):
    workspace_id: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    cost: float


class Budget(APIModel):
    id: str
    workspace_id: str
    scope: str
    scope_id: str
    metric: str
    limit: float
    period: str
    spent: float
    used_fraction: float


class Job(APIModel):
    id: str
    kind: str
    status: str
    workspace_id: str | None = None
    attempt: int
    max_attempts: int
    result: Any = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False
    created_at: datetime


class OAuthApp(APIModel):
    id: str
    client_id: str
    name: str
    client_type: str
    redirect_uris: list[str]
    scopes: list[str]
    workspace_id: str
    created_at: datetime


class OAuthAppWithSecret(OAuthApp):
    client_secret: str | None = None


class Health(APIModel):
    status: str


class AgentVersion(APIModel):
    version: int
    created_at: datetime
    snapshot: dict[str, Any]


class ToolInfo(APIModel):
    name: str
    description: str
    parameters: dict[str, Any]
    kind: str


class CustomTool(APIModel):
    id: str
    name: str
    description: str
    parameters: dict[str, Any]
    method: str
    url_template: str
    header_names: list[str] = []
    created_at: datetime
    updated_at: datetime


class ModelInfo(APIModel):
    id: str
    provider: str
    model: str
    source: str
    available: bool
    note: str | None = None


class Provider(APIModel):
    id: str
    name: str
    kind: str
    base_url: str | None = None
    has_api_key: bool
    api_key_last_four: str | None = None
    default_model: str | None = None
    models: list[str] = []
    timeout_seconds: float
    max_retries: int
    created_at: datetime
    updated_at: datetime


class WorkflowVersion(APIModel):
    version: int
    name: str
    spec: dict[str, Any]
    created_at: datetime


class Schedule(APIModel):
    id: str
    workflow_id: str
    cron: str
    timezone: str
    inputs: dict[str, Any] = {}
    enabled: bool
    next_fire_at: datetime | None = None
    last_fired_at: datetime | None = None
    created_at: datetime


class Hook(APIModel):
    """An inbound hook; `url` and the signing `secret` are only in the create response."""

    id: str
    workflow_id: str
    enabled: bool
    url: str | None = None
    secret: str | None = None
    created_at: datetime


class WebhookTarget(APIModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime | None = None


class WebhookTargetCreated(WebhookTarget):
    secret: str


class WebhookDelivery(APIModel):
    id: str
    run_id: str
    url: str
    event: str
    attempt: int
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    delivered: bool
    created_at: datetime


class ListingVersion(APIModel):
    version: int
    changelog: str
    created_at: datetime
    requirements: dict[str, Any] = {}


class ListingVersionDetail(ListingVersion):
    package: dict[str, Any] | None = None


class Checkout(APIModel):
    url: str
    session_id: str
    credits: int
    amount_cents: int


class SystemStatus(APIModel):
    version: str
    uptime_seconds: float
    python: str
    database: dict[str, Any]
    redis: dict[str, Any]
    broker: dict[str, Any]
    queue: dict[str, Any]
    workers: list[dict[str, Any]]
    memory_rss_bytes: int | None = None
    rollups: dict[str, Any] = {}


class OAuthAuthorization(APIModel):
    id: str
    client_id: str
    app_name: str
    workspace_id: str
    scopes: list[str]
    created_at: datetime
    updated_at: datetime


class Scope(APIModel):
    name: str
    description: str
