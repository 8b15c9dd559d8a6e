"""The one Settings object. Every module receives what it needs from it; none imports a global."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

API_PREFIX = "/api/v1"


class Settings(BaseSettings):
    """Server configuration from `CODEXOS_*` environment variables and an optional `.env` file."""

    model_config = SettingsConfigDict(
        env_prefix="CODEXOS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in the data directory."
    )
    database_echo: bool = False
    database_pool_size: int = 20
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens and encrypts secrets; default: generated once into the data dir.",
    )
    redis_url: str | None = None
    broker_url: str | None = None
    broker_queue: str = Field(
        default="codexos-jobs", description="Queue name on the broker; one per deployment"
    )

    # Identity
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    invitation_ttl_seconds: int = 7 * 24 * 3600
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 64 * 1024
    login_limit_per_account: str = "10 per 15 minutes"
    login_limit_per_ip: str = "50 per 15 minutes"

    # Rate limits (requests per hour)
    rate_limit_enabled: bool = True
    rate_limit_free: int = 100
    rate_limit_pro: int = 1000
    rate_limit_enterprise: int = 10_000
    rate_limit_anonymous: int = 100

    # HTTP
    max_json_body_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    cors_origins: list[str] = Field(default_factory=list)

    # Events
    event_replay_size: int = Field(default=1000, description="Events kept per channel for replay")

    # WebSocket (/api/v1/ws; see docs/websocket.md)
    ws_max_connections_per_user: int = Field(
        default=20, ge=1, description="Open WebSockets per user, counted per API process"
    )
    ws_idle_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A connection that sends nothing this long is closed"
    )
    ws_auth_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time allowed for the first `auth` message"
    )
    ws_max_frame_bytes: int = Field(default=65536, ge=1024, description="Largest client frame")
    ws_queue_size: int = Field(
        default=1000, ge=1, description="Outgoing frames buffered per connection before dropping"
    )
    ws_max_subscriptions: int = Field(default=100, ge=1, description="Channels per connection")

    # Jobs
    job_concurrency: int = Field(default=4, description="Jobs run at once by the inline runner")
    job_lease_seconds: float = 30.0
    job_heartbeat_seconds: float = 10.0
    job_poll_seconds: float = Field(
        default=1.0, description="How often idle runners look for due jobs"
    )
    job_reaper_seconds: float = 5.0
    job_cancel_grace_seconds: float = Field(
        default=10.0, description="A running job that ignores cancellation is stopped after this"
    )
    job_modules: list[str] = Field(
        default_factory=list, description="Extra modules that register job kinds (plugins)"
    )

    # Chat models
    llm_provider: Literal["local", "openai", "scripted"] = Field(
        default="local", description="The server's default chat model provider"
    )
    local_model_path: Path | None = Field(
        default=None, description="A GGUF file; default: the bundled Gemma 3 270M"
    )
    local_model_context: int = 2048
    local_model_threads: int | None = None
    local_model_concurrency: int = 1
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 2
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description='USD per 1K tokens (input, output), e.g. {"gpt-4o-mini": [0.00015, 0.0006]}',
    )

    # Agents and tools
    agent_max_steps: int = 10
    agent_call_max_depth: int = 3
    http_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts tools may reach even if they resolve to private or loopback addresses",
    )
    http_timeout_seconds: float = 10.0
    http_max_response_bytes: int = 1024 * 1024

    # RAG
    rag_max_extracted_chars: int = Field(
        default=5_000_000, description="A document whose text is longer is refused"
    )
    rag_embedding_batch_size: int = Field(default=64, description="Texts per model forward pass")
    rag_ingest_group_size: int = Field(
        default=256,
        description="Chunks embedded and written together; larger groups let the model batch "
        "texts of similar length (less padding)",
    )
    local_embedding_model: str = "all-MiniLM-L6-v2"

    # Workflow triggers
    scheduler_enabled: bool = Field(
        default=True,
        description="Fire cron schedules from this process (safe on every node: a slot fires once)",
    )
    scheduler_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the scheduler looks for due schedules"
    )
    hook_replay_window_seconds: int = Field(
        default=300, gt=0, description="Inbound webhook timestamps older or newer are refused"
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Outbound webhook delivery attempts before giving up"
    )
    webhook_retry_base_seconds: float = Field(
        default=2.0,
        gt=0,
        description="First retry delay of an outbound webhook; doubles, at most an hour",
    )

    # Billing and marketplace money (integer credits)
    marketplace_fee_percent: int = Field(
        default=20, ge=0, le=100, description="Platform share of purchases and per-run charges"
    )
    marketplace_review_required: bool = Field(
        default=True,
        description="Submitted listings wait for an admin's approval; off: they publish at once",
    )
    credits_per_usd: int = Field(default=100, ge=1, le=1_000_000, description="Credits per USD")
    stripe_api_key: SecretStr | None = Field(
        default=None, description="Enables Stripe Checkout top-ups (POST /billing/checkout)"
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="Verifies POST /billing/webhooks/stripe deliveries (whsec_…)"
    )

    # GraphQL
    graphql_introspection: bool = Field(
        default=True, description="Answer introspection queries (schema discovery, GraphiQL)"
    )
    graphql_max_depth: int = Field(default=10, ge=1, description="Deepest selection allowed")
    graphql_max_cost: int = Field(
        default=5000,
        ge=1,
        description="Most fields one operation may resolve, list sizes (`first`/`last`) multiplied",
    )

    # Logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # OAuth 2.0 authorization server (third-party apps)
    public_url: str | None = Field(
        default=None,
        description="The server's public base URL (https://codexos.example.com), used as the "
        "OAuth issuer; unset: taken from each request",
    )
    oauth_code_ttl_seconds: int = Field(default=120, ge=10, le=600)
    oauth_access_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    oauth_refresh_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)

    # Monitoring
    monitoring_enabled: bool = Field(
        default=True,
        description="Request records, usage roll-ups and Prometheus metrics (off: none of them)",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus sends to scrape /metrics; unset: /metrics refuses",
    )
    monitoring_flush_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often buffered request records are written"
    )
    monitoring_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Raw request records kept; roll-ups are kept"
    )
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint (http://collector:4318) for OpenTelemetry traces; "
        "unset: no tracing and no cost",
    )
    otel_service_name: str = Field(default="codexos", max_length=100)

    def resolved_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'codexos.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The secret key from the environment, else the one kept in the data directory.

        A missing key file is generated once (0600) so that tokens survive restarts without
        any hard-coded default.
        """
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Write a private temp file, then hard-link it into place: atomic, and a concurrent
        # first start of another process keeps whichever key won.
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text().strip()
