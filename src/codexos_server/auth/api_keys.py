"""API keys: created in one workspace, shown once, stored as a SHA-256 hash, scoped, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from codexos_server.auth.models import ApiKey
from codexos_server.auth.principal import Principal
from codexos_server.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from codexos_server.auth.scopes import covers, validate_scopes
from codexos_server.auth.tokens import API_KEY_PREFIX, new_api_key, sha256_hex
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import AuthorizationFailed, NotFound
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.permissions import Action


class ApiKeyService:
    """Keys of the caller's current workspace."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, actor: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
        """Create a key bound to the actor's workspace. A key may only mint keys within its
        own scopes. Raises: ValidationFailed (unknown scope), AuthorizationFailed."""
        scopes = validate_scopes(body.scopes)
        if "admin" in scopes and not actor.is_admin:
            raise AuthorizationFailed("Only admins can create keys with the 'admin' scope")
        if actor.scopes is not None and not covers(actor.scopes, scopes):
            raise AuthorizationFailed("A key cannot grant scopes it does not hold itself")
        key = new_api_key()
        expires_at = (
            utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
        )
        async with self.db.transaction() as session:
            row = ApiKey(
                user_id=actor.user_id,
                workspace_id=actor.workspace_id,
                name=body.name,
                prefix=key[: len(API_KEY_PREFIX) + 4],
                last_four=key[-4:],
                key_hash=sha256_hex(key),
                scopes=scopes,
                expires_at=expires_at,
            )
            session.add(row)
            await session.flush()
            return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)

    async def list(self, actor: Principal, params: PageParams) -> Page[ApiKeyOut]:
        """The actor's keys in this workspace; every member's keys for workspace admins."""
        async with self.db.read() as session:
            stmt = select(ApiKey).where(ApiKey.workspace_id == actor.workspace_id)
            if not actor.can(Action.MANAGE_KEYS):
                stmt = stmt.where(ApiKey.user_id == actor.user_id)
            rows, cursor = await paginate(session, stmt, params, ApiKey.created_at, ApiKey.id)
            return Page(items=[ApiKeyOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    async def revoke(self, actor: Principal, key_id: str) -> ApiKeyOut:
        """Revoke a key at once. Raises: NotFound for a key the actor may not manage."""
        async with self.db.transaction() as session:
            stmt = select(ApiKey).where(
                ApiKey.id == key_id, ApiKey.workspace_id == actor.workspace_id
            )
            if not actor.can(Action.MANAGE_KEYS):
                stmt = stmt.where(ApiKey.user_id == actor.user_id)
            key = await session.scalar(stmt)
            if key is None:
                raise NotFound("api key", key_id)
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            await session.flush()
            return ApiKeyOut.model_validate(key)
