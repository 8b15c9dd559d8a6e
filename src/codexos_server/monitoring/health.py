"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from codexos_server import __version__
from codexos_server.container import get_container
from codexos_server.errors import ServiceUnavailable
from codexos_server.openapi import errors

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = __version__


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]


@router.get("/health", operation_id="system_health", summary="Liveness")
async def health() -> Health:
    """The process is up and serving requests."""
    return Health()


@router.get(
    "/ready", operation_id="system_ready", summary="Readiness", responses=errors(500) | {503: {}}
)
async def ready(request: Request) -> Readiness:
    """The database (and Redis, when configured) answer. 503 with the failing checks otherwise."""
    container = get_container(request)
    checks: dict[str, str] = {}
    try:
        await container.db.ping()
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError) as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if container.settings.redis_url:
        client = Redis.from_url(
            container.settings.redis_url, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            await client.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        finally:
            await client.aclose()
    if any(value != "ok" for value in checks.values()):
        raise ServiceUnavailable("Not ready", checks)
    return Readiness(checks=checks)
