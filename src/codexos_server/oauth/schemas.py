"""OAuth API shapes: app registration and the user's authorizations."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codexos_server.auth.scopes import SCOPES
from codexos_server.oauth.models import ClientType

# What an app may ask for: not `admin`, and nothing that outlives the grant (API keys it
# could mint, invitations it could send would keep working after the user revokes the app).
NEVER_GRANTED = frozenset({"admin", "api_keys:write", "workspaces:write"})
GRANTABLE_SCOPES = tuple(scope for scope in SCOPES if scope not in NEVER_GRANTED)


def check_redirect_uri(uri: str) -> str:
    """An absolute URI without a fragment: https, http on a loopback host, or a private-use
    scheme of a native app (`com.example.app:/callback`). Raises: ValueError."""
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ValueError("a redirect URI must not have a fragment")
    if not parts.scheme:
        raise ValueError("a redirect URI must be absolute")
    if parts.scheme == "https":
        if not parts.hostname:
            raise ValueError("an https redirect URI needs a host")
    elif parts.scheme == "http":
        if parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError("http is only allowed for loopback redirect URIs; use https")
    elif "." not in parts.scheme or parts.scheme in ("javascript", "data", "file"):
        raise ValueError("a custom scheme must be a reversed domain (com.example.app)")
    return uri


def _check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in GRANTABLE_SCOPES]
    if unknown:
        raise ValueError(f"not grantable to apps: {', '.join(unknown)}")
    return sorted(set(scopes))


class AppCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme dashboard",
                    "redirect_uris": ["https://acme.example.com/callback"],
                    "client_type": "confidential",
                    "scopes": ["agents:read", "agents:execute"],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    client_type: ClientType = ClientType.CONFIDENTIAL
    scopes: list[str] = Field(min_length=1, max_length=len(GRANTABLE_SCOPES))

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            if len(uri) > 2000:
                raise ValueError("a redirect URI is at most 2000 characters")
            check_redirect_uri(uri)
        return list(dict.fromkeys(uris))

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, scopes: list[str]) -> list[str]:
        return _check_scopes(scopes)


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    redirect_uris: list[str] | None = Field(default=None, min_length=1, max_length=10)
    scopes: list[str] | None = Field(default=None, min_length=1)

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str] | None) -> list[str] | None:
        return None if uris is None else AppCreate._uris(uris)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, scopes: list[str] | None) -> list[str] | None:
        return None if scopes is None else _check_scopes(scopes)


class AppOut(BaseModel):
    id: str
    client_id: str
    name: str
    client_type: ClientType
    redirect_uris: list[str]
    scopes: list[str]
    workspace_id: str = Field(description="Where client-credentials tokens act")
    secret_last_four: str | None
    created_at: datetime
    updated_at: datetime


class AppWithSecret(AppOut):
    client_secret: str | None = Field(description="Shown once; stored only as a hash")


class AuthorizationOut(BaseModel):
    id: str
    client_id: str
    app_name: str
    workspace_id: str
    scopes: list[str]
    created_at: datetime
    updated_at: datetime
