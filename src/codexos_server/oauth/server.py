"""The OAuth 2.0 authorization server: authorization requests, codes with PKCE, the token
endpoint (authorization_code, refresh_token with rotation, client_credentials), revocation
(RFC 7009), introspection (RFC 7662) and metadata (RFC 8414).

Built on Authlib's RFC primitives (its error classes, PKCE S256, scope helpers and metadata
validation) with our async storage: Authlib's grant classes call storage synchronously and
are bound to Flask/Django requests, which an async SQLAlchemy service cannot serve.

Access tokens (`cxoa_…`) and refresh tokens (`cxor_…`) are opaque and stored as SHA-256
hashes, so revoking a grant or a token takes effect on the next request.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import errors as oauth_errors
from authlib.oauth2.rfc6749.errors import OAuth2Error as OAuthError
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.tokens import sha256_hex
from codexos_server.config import Settings
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.oauth.models import ClientType, OAuthClient, OAuthCode, OAuthGrant, OAuthToken
from codexos_server.oauth.schemas import GRANTABLE_SCOPES
from codexos_server.workspaces.models import WorkspaceMember

ACCESS_PREFIX = "cxoa_"
REFRESH_PREFIX = "cxor_"
_VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class PageError(Exception):
    """An authorization request that must not redirect (unknown client, unregistered
    redirect URI): shown to the user instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client: OAuthClient
    redirect_uri: str
    scopes: list[str]
    state: str
    code_challenge: str | None
    redirect_uri_given: bool = True  # False: the app's only URI, not named in the request

    def params(self) -> dict[str, str]:
        """The request as form fields, to carry it through the consent form."""
        values = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "scope": list_to_scope(self.scopes) or "",
            "state": self.state,
        }
        if self.redirect_uri_given:
            values["redirect_uri"] = self.redirect_uri
        if self.code_challenge:
            values |= {"code_challenge": self.code_challenge, "code_challenge_method": "S256"}
        return values


def with_query(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` added to its query (the registered query is kept)."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _error(cls: type[OAuthError], description: str, **extra: Any) -> OAuthError:
    """An error with `cls`'s code and status (Authlib's subclasses differ in their
    constructors, the base class takes everything)."""
    extra.setdefault("status_code", getattr(cls, "status_code", 400))
    return OAuthError(error=cls.error, description=description, **extra)


class _Replayed(Exception):
    """A code or refresh token came back after use: its grant is revoked, then refused."""

    def __init__(self, grant_id: str, error: OAuthError) -> None:
        super().__init__(error.description)
        self.grant_id = grant_id
        self.error = error


def token_response(error: OAuthError) -> tuple[int, dict[str, str]]:
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    return int(error.status_code or 400), body


class OAuthServer:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- clients -----------------------------------------------------------------------------

    async def client(self, session: AsyncSession, client_id: str | None) -> OAuthClient | None:
        if not client_id or len(client_id) > 64:
            return None
        return await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))

    async def authenticate_client(
        self, session: AsyncSession, client_id: str | None, secret: str | None
    ) -> OAuthClient:
        """The calling client: a confidential one must present its secret (Basic or form),
        a public one only its id. Raises: InvalidClientError (401)."""
        client = await self.client(session, client_id)
        if client is None:
            raise _error(oauth_errors.InvalidClientError, "Unknown client", status_code=401)
        if client.client_type == ClientType.CONFIDENTIAL.value:
            if (
                not secret
                or not client.secret_hash
                or not hmac.compare_digest(sha256_hex(secret), client.secret_hash)
            ):
                raise _error(
                    oauth_errors.InvalidClientError, "Bad client credentials", status_code=401
                )
        elif secret:
            raise _error(oauth_errors.InvalidClientError, "A public client has no secret")
        return client

    # -- authorization requests --------------------------------------------------------------

    async def validate_authorize(self, params: dict[str, str]) -> AuthorizeRequest:
        """Raises: PageError (must not redirect), OAuthError with `redirect_uri` set (sent
        back to the app)."""
        async with self.db.read() as session:
            client = await self.client(session, params.get("client_id"))
        if client is None:
            raise PageError("Unknown application (client_id).")
        redirect_uri = params.get("redirect_uri") or ""
        given = bool(redirect_uri)
        if not given and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        if redirect_uri not in client.redirect_uris:  # exact string match
            raise PageError("The redirect URI is not registered for this application.")
        state = params.get("state") or ""
        back = {"redirect_uri": redirect_uri, "state": state or None}
        if params.get("response_type") != "code":
            raise _error(
                oauth_errors.UnsupportedResponseTypeError, "Only response_type=code", **back
            )
        if not state or len(state) > 500:
            raise _error(oauth_errors.InvalidRequestError, "state is required", **back)
        requested = scope_to_list(params.get("scope") or "") or list(client.allowed_scopes)
        if not set(requested) <= set(client.allowed_scopes):
            raise _error(oauth_errors.InvalidScopeError, "Scope not allowed for this app", **back)
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or ("S256" if challenge else None)
        if challenge is not None and (method != "S256" or not 43 <= len(challenge) <= 128):
            raise _error(oauth_errors.InvalidRequestError, "code_challenge must be S256", **back)
        if challenge is None and client.client_type == ClientType.PUBLIC.value:
            raise _error(
                oauth_errors.InvalidRequestError,
                "PKCE (S256) is required for public clients",
                **back,
            )
        return AuthorizeRequest(
            client, redirect_uri, sorted(set(requested)), state, challenge, given
        )

    async def approve(self, request: AuthorizeRequest, user_id: str, workspace_id: str) -> str:
        """Record the consent and issue a code; returns where to send the browser.
        The caller checked the user belongs to the workspace."""
        code = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.transaction() as session:
            grant = await session.scalar(
                select(OAuthGrant).where(
                    OAuthGrant.client_pk == request.client.id,
                    OAuthGrant.user_id == user_id,
                    OAuthGrant.workspace_id == workspace_id,
                    OAuthGrant.revoked_at.is_(None),
                )
            )
            if grant is None:
                grant = OAuthGrant(
                    client_pk=request.client.id,
                    user_id=user_id,
                    workspace_id=workspace_id,
                    scopes=request.scopes,
                )
                session.add(grant)
            else:
                grant.scopes = sorted(set(grant.scopes) | set(request.scopes))
                grant.updated_at = now
            await session.flush()
            session.add(
                OAuthCode(
                    code_hash=sha256_hex(code),
                    grant_id=grant.id,
                    # Empty when the request did not name it: the exchange need not either.
                    redirect_uri=request.redirect_uri if request.redirect_uri_given else "",
                    scopes=request.scopes,
                    code_challenge=request.code_challenge,
                    code_challenge_method="S256" if request.code_challenge else None,
                    expires_at=now + timedelta(seconds=self.settings.oauth_code_ttl_seconds),
                    created_at=now,
                )
            )
        return with_query(request.redirect_uri, {"code": code, "state": request.state})

    @staticmethod
    def deny(request: AuthorizeRequest) -> str:
        return with_query(
            request.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "The user denied access",
                "state": request.state,
            },
        )

    @staticmethod
    def error_redirect(error: OAuthError) -> str:
        params = {"error": error.error}
        if error.description:
            params["error_description"] = error.description
        if error.state:
            params["state"] = error.state
        return with_query(str(error.redirect_uri), params)

    # -- the token endpoint ------------------------------------------------------------------

    async def token(
        self, form: dict[str, str], client_id: str | None, secret: str | None
    ) -> dict[str, Any]:
        """Raises: OAuthError (answered as RFC 6749 JSON)."""
        grant_type = form.get("grant_type")
        async with self.db.transaction() as session:
            client = await self.authenticate_client(session, client_id, secret)
            try:
                if grant_type == "authorization_code":
                    return await self._code(session, client, form)
                if grant_type == "refresh_token":
                    return await self._refresh(session, client, form)
            except _Replayed as replayed:
                # Committed with the refusal: what the leaked code or token gave is revoked.
                await self._revoke_grant(session, replayed.grant_id)
                refusal = replayed.error
            else:
                if grant_type == "client_credentials":
                    return await self._client_credentials(session, client, form)
                refusal = _error(
                    oauth_errors.UnsupportedGrantTypeError, f"grant_type {grant_type!r}"
                )
        raise refusal

    async def _issue(
        self,
        session: AsyncSession,
        client: OAuthClient,
        *,
        user_id: str,
        workspace_id: str,
        scopes: list[str],
        grant_id: str | None,
    ) -> dict[str, Any]:
        now = utcnow()
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32) if grant_id else None
        access_ttl = self.settings.oauth_access_ttl_seconds
        session.add(
            OAuthToken(
                client_pk=client.id,
                grant_id=grant_id,
                user_id=user_id,
                workspace_id=workspace_id,
                scopes=scopes,
                access_hash=sha256_hex(access),
                refresh_hash=sha256_hex(refresh) if refresh else None,
                access_expires_at=now + timedelta(seconds=access_ttl),
                refresh_expires_at=(
                    now + timedelta(seconds=self.settings.oauth_refresh_ttl_seconds)
                    if refresh
                    else None
                ),
                created_at=now,
            )
        )
        await session.flush()
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": access_ttl,
            "scope": list_to_scope(scopes) or "",
            "workspace_id": workspace_id,
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    @staticmethod
    async def _active_grant(session: AsyncSession, grant_id: str) -> OAuthGrant:
        grant = await session.get(OAuthGrant, grant_id)
        member = None
        if grant is not None and grant.revoked_at is None:
            member = await session.scalar(
                select(WorkspaceMember.id).where(
                    WorkspaceMember.workspace_id == grant.workspace_id,
                    WorkspaceMember.user_id == grant.user_id,
                )
            )
        if grant is None or member is None:
            raise _error(oauth_errors.InvalidGrantError, "The authorization was revoked")
        return grant

    async def _revoke_grant(self, session: AsyncSession, grant_id: str) -> None:
        now = utcnow()
        await session.execute(
            update(OAuthGrant).where(OAuthGrant.id == grant_id).values(revoked_at=now)
        )
        await session.execute(
            update(OAuthToken)
            .where(OAuthToken.grant_id == grant_id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def _code(
        self, session: AsyncSession, client: OAuthClient, form: dict[str, str]
    ) -> dict[str, Any]:
        code = form.get("code") or ""
        row = await session.scalar(select(OAuthCode).where(OAuthCode.code_hash == sha256_hex(code)))
        invalid = oauth_errors.InvalidGrantError
        if row is None:
            raise _error(invalid, "Unknown authorization code")
        grant = await session.get(OAuthGrant, row.grant_id)
        if grant is None or grant.client_pk != client.id:
            raise _error(invalid, "The code was issued to another client")
        used = await session.execute(
            update(OAuthCode)
            .where(OAuthCode.id == row.id, OAuthCode.used_at.is_(None))
            .values(used_at=utcnow())
        )
        if not used.rowcount:  # type: ignore[attr-defined]
            # A replayed code: what it gave is revoked too (RFC 6749 section 4.1.2).
            raise _Replayed(grant.id, _error(invalid, "The code was already used"))
        if row.expires_at <= utcnow():
            raise _error(invalid, "The code has expired")
        sent = form.get("redirect_uri", "")
        if row.redirect_uri and sent != row.redirect_uri:
            raise _error(invalid, "redirect_uri does not match the authorization request")
        if not row.redirect_uri and sent and sent not in client.redirect_uris:
            raise _error(invalid, "redirect_uri is not registered for this client")
        verifier = form.get("code_verifier")
        if row.code_challenge:
            if not verifier or not 43 <= len(verifier) <= 128 or set(verifier) - _VERIFIER_CHARS:
                raise _error(invalid, "A valid code_verifier is required")
            if not hmac.compare_digest(create_s256_code_challenge(verifier), row.code_challenge):
                raise _error(invalid, "code_verifier does not match the code_challenge")
        elif verifier:
            raise _error(invalid, "No code_challenge was sent with the authorization request")
        await self._active_grant(session, grant.id)
        return await self._issue(
            session,
            client,
            user_id=grant.user_id,
            workspace_id=grant.workspace_id,
            scopes=list(row.scopes),
            grant_id=grant.id,
        )

    async def _refresh(
        self, session: AsyncSession, client: OAuthClient, form: dict[str, str]
    ) -> dict[str, Any]:
        invalid = oauth_errors.InvalidGrantError
        token_hash = sha256_hex(form.get("refresh_token") or "")
        row = await session.scalar(select(OAuthToken).where(OAuthToken.refresh_hash == token_hash))
        if row is None or row.client_pk != client.id or row.grant_id is None:
            raise _error(invalid, "Unknown refresh token")
        if row.refreshed_at is not None:
            # A rotated-out refresh token came back: assume it leaked, end the grant.
            raise _Replayed(row.grant_id, _error(invalid, "The refresh token was already used"))
        if row.revoked_at is not None:
            raise _error(invalid, "The refresh token was revoked")
        if row.refresh_expires_at is not None and row.refresh_expires_at <= utcnow():
            raise _error(invalid, "The refresh token has expired")
        requested = scope_to_list(form.get("scope") or "") or list(row.scopes)
        if not set(requested) <= set(row.scopes):
            raise _error(oauth_errors.InvalidScopeError, "A refresh cannot widen the scope")
        rotated = await session.execute(
            update(OAuthToken)
            .where(OAuthToken.id == row.id, OAuthToken.refreshed_at.is_(None))
            .values(refreshed_at=utcnow(), revoked_at=utcnow())
        )
        if not rotated.rowcount:  # type: ignore[attr-defined]
            # A rotated-out refresh token came back: assume it leaked, end the grant.
            raise _Replayed(row.grant_id, _error(invalid, "The refresh token was already used"))
        grant = await self._active_grant(session, row.grant_id)
        return await self._issue(
            session,
            client,
            user_id=grant.user_id,
            workspace_id=grant.workspace_id,
            scopes=sorted(set(requested)),
            grant_id=grant.id,
        )

    async def _client_credentials(
        self, session: AsyncSession, client: OAuthClient, form: dict[str, str]
    ) -> dict[str, Any]:
        if client.client_type != ClientType.CONFIDENTIAL.value:
            raise _error(
                oauth_errors.UnauthorizedClientError,
                "client_credentials is for confidential clients",
            )
        requested = scope_to_list(form.get("scope") or "") or list(client.allowed_scopes)
        if not set(requested) <= set(client.allowed_scopes):
            raise _error(oauth_errors.InvalidScopeError, "Scope not allowed for this app")
        return await self._issue(
            session,
            client,
            user_id=client.owner_id,
            workspace_id=client.workspace_id,
            scopes=sorted(set(requested)),
            grant_id=None,
        )

    # -- revocation and introspection --------------------------------------------------------

    @staticmethod
    async def _find(session: AsyncSession, token: str) -> OAuthToken | None:
        digest = sha256_hex(token)
        if token.startswith(REFRESH_PREFIX):
            return await session.scalar(select(OAuthToken).where(OAuthToken.refresh_hash == digest))
        return await session.scalar(select(OAuthToken).where(OAuthToken.access_hash == digest))

    async def revoke(self, client_id: str | None, secret: str | None, token: str) -> None:
        """RFC 7009: revoke a token of this client (its pair with it); unknown tokens are
        not an error. Raises: InvalidClientError."""
        async with self.db.transaction() as session:
            client = await self.authenticate_client(session, client_id, secret)
            row = await self._find(session, token)
            if row is not None and row.client_pk == client.id and row.revoked_at is None:
                row.revoked_at = utcnow()

    async def introspect(
        self, client_id: str | None, secret: str | None, token: str
    ) -> dict[str, Any]:
        """RFC 7662, for the client the token was issued to. Raises: InvalidClientError."""
        async with self.db.read() as session:
            client = await self.authenticate_client(session, client_id, secret)
            row = await self._find(session, token)
        now = utcnow()
        if row is None or row.client_pk != client.id or row.revoked_at is not None:
            return {"active": False}
        refresh = token.startswith(REFRESH_PREFIX)
        expires = row.refresh_expires_at if refresh else row.access_expires_at
        if expires is None or expires <= now:
            return {"active": False}
        return {
            "active": True,
            "scope": list_to_scope(row.scopes) or "",
            "client_id": client.client_id,
            "token_type": "refresh_token" if refresh else "Bearer",
            "exp": int(expires.timestamp()),
            "iat": int(row.created_at.timestamp()),
            "sub": row.user_id,
            "workspace_id": row.workspace_id,
        }

    def metadata(self, base_url: str) -> dict[str, Any]:
        """RFC 8414 server metadata, validated by Authlib (for https issuers)."""
        issuer = (self.settings.public_url or base_url).rstrip("/")
        api = f"{issuer}/api/v1/oauth"
        data = AuthorizationServerMetadata(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{api}/authorize",
                "token_endpoint": f"{api}/token",
                "revocation_endpoint": f"{api}/revoke",
                "introspection_endpoint": f"{api}/introspect",
                "scopes_supported": list(GRANTABLE_SCOPES),
                "response_types_supported": ["code"],
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                ],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "revocation_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "service_documentation": f"{issuer}/api/v1/docs",
            }
        )
        if issuer.startswith("https://"):
            # RFC 8414 requires an https issuer; a laptop's http://localhost is served as is.
            data.validate()
        return dict(data)


__all__ = ["ACCESS_PREFIX", "REFRESH_PREFIX", "AuthorizeRequest", "OAuthError", "OAuthServer"]
