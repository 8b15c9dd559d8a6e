"""The services of one app instance, built once from Settings and shared by REST, GraphQL,
WebSocket and the CLI. Routes reach a single service through a small dependency."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from codexos_server.auth.api_keys import ApiKeyService
from codexos_server.auth.authenticate import Authenticator
from codexos_server.auth.passwords import PasswordHasher
from codexos_server.auth.service import AuthService
from codexos_server.auth.tokens import TokenCodec
from codexos_server.config import Settings
from codexos_server.db.database import Database
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

    async def close(self) -> None:
        await self.db.dispose()


def build_container(settings: Settings) -> Container:
    db = Database(
        settings.resolved_database_url(),
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
    )
    codec = TokenCodec(settings.resolved_secret_key(), settings.access_token_ttl_seconds)
    hasher = PasswordHasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    limiter = RateLimiter(settings.redis_url)
    return Container(
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
    )


def get_container(conn: HTTPConnection) -> Container:
    container: Container = conn.app.state.container
    return container
