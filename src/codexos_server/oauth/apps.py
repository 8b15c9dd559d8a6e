"""Registering OAuth apps and listing/revoking the apps a user authorized."""

from __future__ import annotations

import builtins
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.auth.tokens import sha256_hex
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound
from codexos_server.oauth.models import ClientType, OAuthClient, OAuthGrant, OAuthToken
from codexos_server.oauth.schemas import (
    AppCreate,
    AppOut,
    AppUpdate,
    AppWithSecret,
    AuthorizationOut,
)

CLIENT_ID_PREFIX = "cxc_"
CLIENT_SECRET_PREFIX = "cxs_"  # noqa: S105 - a prefix, not a secret


def app_out(row: OAuthClient) -> AppOut:
    return AppOut(
        id=row.id,
        client_id=row.client_id,
        name=row.name,
        client_type=ClientType(row.client_type),
        redirect_uris=list(row.redirect_uris),
        scopes=list(row.allowed_scopes),
        workspace_id=row.workspace_id,
        secret_last_four=row.secret_last_four,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _new_secret(row: OAuthClient) -> str:
    secret = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)
    row.secret_hash = sha256_hex(secret)
    row.secret_last_four = secret[-4:]
    return secret


class AppService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, actor: Principal, body: AppCreate) -> AppWithSecret:
        """Register an app owned by the caller; a confidential app's secret is returned once."""
        async with self.db.transaction() as session:
            row = OAuthClient(
                client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(18),
                owner_id=actor.user_id,
                workspace_id=actor.workspace_id,
                name=body.name,
                client_type=body.client_type.value,
                redirect_uris=body.redirect_uris,
                allowed_scopes=body.scopes,
            )
            secret = _new_secret(row) if body.client_type is ClientType.CONFIDENTIAL else None
            session.add(row)
            await session.flush()
            return AppWithSecret(**app_out(row).model_dump(), client_secret=secret)

    @staticmethod
    async def _own(session: AsyncSession, actor: Principal, app_id: str) -> OAuthClient:
        """An app the actor registered. Raises: NotFound."""
        row = await session.scalar(
            select(OAuthClient).where(
                OAuthClient.id == app_id, OAuthClient.owner_id == actor.user_id
            )
        )
        if row is None:
            raise NotFound("app", app_id)
        return row

    async def list(self, actor: Principal) -> builtins.list[AppOut]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(OAuthClient)
                .where(OAuthClient.owner_id == actor.user_id)
                .order_by(OAuthClient.created_at.desc(), OAuthClient.id)
            )
            return [app_out(row) for row in rows]

    async def get(self, actor: Principal, app_id: str) -> AppOut:
        async with self.db.read() as session:
            return app_out(await self._own(session, actor, app_id))

    async def update(self, actor: Principal, app_id: str, body: AppUpdate) -> AppOut:
        """Narrowing the scopes does not widen existing grants; it limits new ones."""
        async with self.db.transaction() as session:
            row = await self._own(session, actor, app_id)
            if body.name is not None:
                row.name = body.name
            if body.redirect_uris is not None:
                row.redirect_uris = body.redirect_uris
            if body.scopes is not None:
                row.allowed_scopes = body.scopes
            row.updated_at = utcnow()
            await session.flush()
            return app_out(row)

    async def rotate_secret(self, actor: Principal, app_id: str) -> AppWithSecret:
        """A new secret, shown once; the old one stops working at once."""
        async with self.db.transaction() as session:
            row = await self._own(session, actor, app_id)
            if row.client_type != ClientType.CONFIDENTIAL.value:
                raise Conflict("A public app has no client secret")
            secret = _new_secret(row)
            row.updated_at = utcnow()
            await session.flush()
            return AppWithSecret(**app_out(row).model_dump(), client_secret=secret)

    async def delete(self, actor: Principal, app_id: str) -> None:
        """The app, its grants and every token it holds."""
        async with self.db.transaction() as session:
            await session.delete(await self._own(session, actor, app_id))

    # -- the apps a user authorized ----------------------------------------------------------

    async def authorizations(self, actor: Principal) -> builtins.list[AuthorizationOut]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(OAuthGrant, OAuthClient.client_id, OAuthClient.name)
                .join(OAuthClient, OAuthClient.id == OAuthGrant.client_pk)
                .where(OAuthGrant.user_id == actor.user_id, OAuthGrant.revoked_at.is_(None))
                .order_by(OAuthGrant.created_at.desc(), OAuthGrant.id)
            )
            return [
                AuthorizationOut(
                    id=grant.id,
                    client_id=client_id,
                    app_name=name,
                    workspace_id=grant.workspace_id,
                    scopes=list(grant.scopes),
                    created_at=grant.created_at,
                    updated_at=grant.updated_at,
                )
                for grant, client_id, name in rows.all()
            ]

    async def revoke_authorization(self, user_id: str, grant_id: str) -> None:
        """Revoke a grant of the user and every token issued under it. Raises: NotFound."""
        now = utcnow()
        async with self.db.transaction() as session:
            grant = await session.scalar(
                select(OAuthGrant).where(
                    OAuthGrant.id == grant_id,
                    OAuthGrant.user_id == user_id,
                    OAuthGrant.revoked_at.is_(None),
                )
            )
            if grant is None:
                raise NotFound("authorization", grant_id)
            grant.revoked_at = now
            await session.execute(
                update(OAuthToken)
                .where(OAuthToken.grant_id == grant.id, OAuthToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
