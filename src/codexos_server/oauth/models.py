"""OAuth 2.0 tables: registered apps (clients), authorization codes, the user's grants to an
app, and the access/refresh token pairs issued under them. Every secret is a SHA-256 hash."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from codexos_server.db.base import Base, IdMixin, JSONType, TimestampMixin


class ClientType(StrEnum):
    CONFIDENTIAL = "confidential"  # a server that keeps a client secret
    PUBLIC = "public"  # a native or browser app: no secret, PKCE S256 required


class OAuthClient(IdMixin, TimestampMixin, Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The workspace the app's client-credentials tokens act in (the owner's, at registration).
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    client_type: Mapped[str] = mapped_column(String(16))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType)
    allowed_scopes: Mapped[list[str]] = mapped_column(JSONType)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    secret_last_four: Mapped[str | None] = mapped_column(String(4))


class OAuthGrant(IdMixin, TimestampMixin, Base):
    """A user's consent: this app may act in this workspace with these scopes. Revoking it
    ends every token issued under it."""

    __tablename__ = "oauth_grants"

    client_pk: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    revoked_at: Mapped[datetime | None] = mapped_column()


class OAuthCode(IdMixin, Base):
    """An authorization code: single use, short-lived, bound to the redirect URI and PKCE."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oauth_grants.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class OAuthToken(IdMixin, Base):
    """An access token and (for user grants) its refresh token. Refreshing marks the pair
    `refreshed_at` and issues a new one; a refresh token used twice revokes its grant."""

    __tablename__ = "oauth_tokens"

    client_pk: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    grant_id: Mapped[str | None] = mapped_column(
        ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[datetime] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column()
    refreshed_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
