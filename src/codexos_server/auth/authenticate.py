"""Turn a bearer credential and an optional `X-Workspace-ID` into a Principal.

One query per request for either credential type: the user, the session or key, and the
membership in the requested workspace are read together, so a disabled user, a revoked key
or session, or a removed member is refused on the very next request.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, select, update

from codexos_server.auth.models import ApiKey, AuthSession
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.auth.tokens import API_KEY_PREFIX, TokenCodec, sha256_hex
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import AuthenticationFailed, AuthorizationFailed, NotFound
from codexos_server.oauth.models import OAuthClient, OAuthToken
from codexos_server.oauth.server import ACCESS_PREFIX as OAUTH_ACCESS_PREFIX
from codexos_server.users.models import User
from codexos_server.workspaces.models import Workspace, WorkspaceMember
from codexos_server.workspaces.permissions import WorkspaceRole

# last_used_at is a hint for humans; writing it at most once a minute keeps reads cheap.
_LAST_USED_RESOLUTION = timedelta(seconds=60)

_USER_COLUMNS = (
    User.id.label("user_id"),
    User.email,
    User.role.label("user_role"),
    User.tier,
    User.rate_limit_per_hour,
    User.is_disabled,
    User.deleted_at,
)


class Authenticator:
    """Resolves credentials; used by the authentication middleware (and the WebSocket)."""

    def __init__(self, db: Database, codec: TokenCodec) -> None:
        self.db = db
        self.codec = codec

    async def authenticate(self, token: str, workspace_id: str | None) -> Principal:
        """Raises: AuthenticationFailed, AuthorizationFailed (key used in another workspace),
        NotFound (a workspace the user is not a member of)."""
        if token.startswith(API_KEY_PREFIX):
            return await self._api_key(token, workspace_id)
        if token.startswith(OAUTH_ACCESS_PREFIX):
            return await self._oauth(token, workspace_id)
        return await self._session(token, workspace_id)

    async def _oauth(self, token: str, workspace_id: str | None) -> Principal:
        """An app's access token: its scopes, in the workspace the user granted (or, for
        client credentials, the app's own workspace)."""
        async with self.db.read_connection() as session:
            row = (
                await session.execute(
                    select(
                        OAuthToken.workspace_id,
                        OAuthToken.scopes,
                        OAuthToken.access_expires_at,
                        OAuthToken.revoked_at,
                        OAuthClient.client_id,
                        WorkspaceMember.role.label("workspace_role"),
                        *_USER_COLUMNS,
                    )
                    .join(User, User.id == OAuthToken.user_id)
                    .join(OAuthClient, OAuthClient.id == OAuthToken.client_pk)
                    .outerjoin(
                        WorkspaceMember,
                        and_(
                            WorkspaceMember.workspace_id == OAuthToken.workspace_id,
                            WorkspaceMember.user_id == OAuthToken.user_id,
                        ),
                    )
                    .where(OAuthToken.access_hash == sha256_hex(token))
                )
            ).first()
        if row is None:
            raise AuthenticationFailed("Invalid access token")
        if row.revoked_at is not None:
            raise AuthenticationFailed("This access token has been revoked")
        if row.access_expires_at <= utcnow():
            raise AuthenticationFailed("Access token has expired")
        self._check_user(row.is_disabled, row.deleted_at)
        if row.workspace_role is None:
            raise AuthenticationFailed("The user is no longer a member of the granted workspace")
        if workspace_id is not None and workspace_id != row.workspace_id:
            raise AuthorizationFailed(
                "This access token is bound to another workspace",
                {"bound_workspace_id": row.workspace_id},
            )
        return Principal(
            user_id=row.user_id,
            email=row.email,
            user_role=row.user_role,
            tier=row.tier,
            rate_limit_per_hour=row.rate_limit_per_hour,
            workspace_id=row.workspace_id,
            workspace_role=WorkspaceRole(row.workspace_role),
            method=AuthMethod.OAUTH,
            scopes=frozenset(row.scopes or ()),
            oauth_client_id=row.client_id,
        )

    async def _api_key(self, token: str, workspace_id: str | None) -> Principal:
        async with self.db.read_connection() as session:
            row = (
                await session.execute(
                    select(
                        ApiKey.id.label("key_id"),
                        ApiKey.workspace_id,
                        ApiKey.scopes,
                        ApiKey.expires_at,
                        ApiKey.revoked_at,
                        ApiKey.last_used_at,
                        WorkspaceMember.role.label("workspace_role"),
                        *_USER_COLUMNS,
                    )
                    .join(User, User.id == ApiKey.user_id)
                    .outerjoin(
                        WorkspaceMember,
                        and_(
                            WorkspaceMember.workspace_id == ApiKey.workspace_id,
                            WorkspaceMember.user_id == ApiKey.user_id,
                        ),
                    )
                    .where(ApiKey.key_hash == sha256_hex(token))
                )
            ).first()
        if row is None:
            raise AuthenticationFailed("Invalid API key")
        now = utcnow()
        if row.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise AuthenticationFailed("This API key has expired")
        self._check_user(row.is_disabled, row.deleted_at)
        if row.workspace_role is None:
            raise AuthenticationFailed(
                "This API key's owner is no longer a member of its workspace"
            )
        if workspace_id is not None and workspace_id != row.workspace_id:
            raise AuthorizationFailed(
                "This API key is bound to another workspace",
                {"bound_workspace_id": row.workspace_id},
            )
        if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
            async with self.db.transaction() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == row.key_id).values(last_used_at=now)
                )
        return Principal(
            user_id=row.user_id,
            email=row.email,
            user_role=row.user_role,
            tier=row.tier,
            rate_limit_per_hour=row.rate_limit_per_hour,
            workspace_id=row.workspace_id,
            workspace_role=WorkspaceRole(row.workspace_role),
            method=AuthMethod.API_KEY,
            scopes=frozenset(row.scopes or ()),
            api_key_id=row.key_id,
        )

    async def _session(self, token: str, workspace_id: str | None) -> Principal:
        claims = self.codec.verify_access(token)
        if claims.session_id is None:
            raise AuthenticationFailed("Invalid access token")
        if workspace_id is not None:
            membership = WorkspaceMember.workspace_id == workspace_id
        else:
            membership = WorkspaceMember.workspace_id == (
                select(Workspace.id)
                .where(Workspace.owner_id == User.id, Workspace.is_personal.is_(True))
                .limit(1)
                .scalar_subquery()
            )
        async with self.db.read_connection() as session:
            row = (
                await session.execute(
                    select(
                        *_USER_COLUMNS,
                        AuthSession.revoked_at,
                        WorkspaceMember.workspace_id,
                        WorkspaceMember.role.label("workspace_role"),
                    )
                    .join(AuthSession, AuthSession.user_id == User.id)
                    .outerjoin(
                        WorkspaceMember, and_(WorkspaceMember.user_id == User.id, membership)
                    )
                    .where(User.id == claims.user_id, AuthSession.id == claims.session_id)
                )
            ).first()
        if row is None:
            raise AuthenticationFailed("Invalid access token")
        if row.revoked_at is not None:
            raise AuthenticationFailed("This session has been revoked")
        self._check_user(row.is_disabled, row.deleted_at)
        if row.workspace_id is None:
            raise NotFound("workspace", workspace_id)
        return Principal(
            user_id=row.user_id,
            email=row.email,
            user_role=row.user_role,
            tier=row.tier,
            rate_limit_per_hour=row.rate_limit_per_hour,
            workspace_id=row.workspace_id,
            workspace_role=WorkspaceRole(row.workspace_role),
            method=AuthMethod.SESSION,
            session_id=claims.session_id,
        )

    @staticmethod
    def _check_user(is_disabled: bool, deleted_at: object) -> None:
        if is_disabled or deleted_at is not None:
            raise AuthenticationFailed("This account is disabled")
