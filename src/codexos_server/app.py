"""create_app(settings): builds the services, mounts the routers and the middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from codexos_server import __version__
from codexos_server.agents.routes import router as agents_router
from codexos_server.agents.runs_routes import router as runs_router
from codexos_server.agents.tools_routes import router as tools_router
from codexos_server.auth.middleware import AuthRateLimitMiddleware
from codexos_server.auth.routes import router as auth_router
from codexos_server.billing.routes import router as billing_router
from codexos_server.config import API_PREFIX, Settings
from codexos_server.container import Container, build_container
from codexos_server.docs_routes import install_docs
from codexos_server.errors import install_error_handlers
from codexos_server.graphql.router import GraphQLEndpoint
from codexos_server.jobs.routes import router as jobs_router
from codexos_server.llm.routes import router as llm_router
from codexos_server.log import configure_logging
from codexos_server.marketplace.commerce_routes import router as marketplace_commerce_router
from codexos_server.marketplace.routes import router as marketplace_router
from codexos_server.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from codexos_server.monitoring.health import router as health_router
from codexos_server.monitoring.routes import router as monitoring_router
from codexos_server.monitoring.scrape import METRICS_PATH
from codexos_server.monitoring.scrape import router as metrics_router
from codexos_server.monitoring.tracing import TracingMiddleware
from codexos_server.oauth.page_routes import router as oauth_pages_router
from codexos_server.oauth.routes import router as oauth_router
from codexos_server.oauth.routes import well_known as oauth_well_known_router
from codexos_server.openapi import build_openapi
from codexos_server.rag.routes import router as knowledge_router
from codexos_server.realtime.ws import router as ws_router
from codexos_server.users.routes import router as users_router
from codexos_server.workflows.routes import router as workflows_router
from codexos_server.workflows.trigger_routes import router as workflow_triggers_router
from codexos_server.workspaces.routes import router as workspaces_router

DESCRIPTION = """
CodexOS: create AI agents, chain them into workflows, give them knowledge bases, share them.

Authenticate with `Authorization: Bearer <access token or API key>`. Choose a workspace with
`X-Workspace-ID` (default: your personal workspace). Every error has the envelope
`{"error": {"code", "message", "details", "request_id"}}`; every response carries
`X-Request-ID` and the `X-RateLimit-*` headers.
"""

# Probes and the Prometheus scrape must keep working when a client has spent its budget.
# The OAuth protocol endpoints authenticate clients, not users: an app's backend exchanging
# codes for all its users from one address must not hit the anonymous per-IP limit.
RATE_LIMIT_EXEMPT = frozenset(
    {
        f"{API_PREFIX}/health",
        f"{API_PREFIX}/ready",
        METRICS_PATH,
        f"{API_PREFIX}/oauth/token",
        f"{API_PREFIX}/oauth/revoke",
        f"{API_PREFIX}/oauth/introspect",
    }
)


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """Build the ASGI app. Pass a container to share services with the caller (tests, CLI)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.start()
        yield
        await container.close()

    app = FastAPI(
        title="CodexOS API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry probes the global providers on every request
        # (importlib look-ups included) even when nothing is configured: off. Tracing comes
        # with the monitoring work, behind its own setting.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.container = container
    install_error_handlers(app)
    for router in (
        health_router,
        auth_router,
        users_router,
        workspaces_router,
        agents_router,
        runs_router,
        tools_router,
        llm_router,
        knowledge_router,
        jobs_router,
        workflows_router,
        workflow_triggers_router,
        marketplace_router,
        marketplace_commerce_router,
        billing_router,
        monitoring_router,
        oauth_router,
        oauth_pages_router,
        ws_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(GraphQLEndpoint(container), prefix=API_PREFIX)
    app.include_router(metrics_router)  # /metrics, at the root like every exporter
    app.include_router(oauth_well_known_router)  # RFC 8414 puts it at the root
    install_docs(app)

    def openapi() -> dict[str, Any]:
        return build_openapi(app, DESCRIPTION)

    app.openapi = openapi  # type: ignore[method-assign]

    # Added innermost first: the request context wraps everything, so even an error in
    # another middleware becomes an envelope carrying the request id.
    app.add_middleware(
        AuthRateLimitMiddleware,
        authenticator=container.authenticator,
        limits=container.request_limits,
        exempt_paths=RATE_LIMIT_EXEMPT,
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        json_limit=settings.max_json_body_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
        )
    if container.tracing is not None:
        # Inside the request context: the span sees the request id and the route.
        app.add_middleware(TracingMiddleware)
    app.add_middleware(RequestContextMiddleware, observers=container.request_observers)
    return app
