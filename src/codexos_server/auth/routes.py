"""Auth endpoints: register, login, refresh, logout, password, scopes and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from codexos_server.auth.api_keys import ApiKeyService
from codexos_server.auth.deps import OptionalPrincipal, scoped
from codexos_server.auth.principal import Principal
from codexos_server.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    RegisterRequest,
    ScopeOut,
    TokenPair,
)
from codexos_server.auth.scopes import SCOPES
from codexos_server.auth.service import AuthService
from codexos_server.container import get_container
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.users.routes import UserServiceDep
from codexos_server.users.schemas import UserOut

router = APIRouter(prefix="/auth", tags=["auth"])


async def _auth(request: Request) -> AuthService:
    return get_container(request).auth


async def _keys(request: Request) -> ApiKeyService:
    return get_container(request).api_keys


AuthServiceDep = Annotated[AuthService, Depends(_auth)]
ApiKeyServiceDep = Annotated[ApiKeyService, Depends(_keys)]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    operation_id="auth_register",
    summary="Create an account",
    responses=errors(409),
)
async def register(body: RegisterRequest, users: UserServiceDep) -> UserOut:
    """Create an account and its personal workspace. Passwords need 8+ characters and must
    not be a common password."""
    return await users.create(body.email, body.password, body.name)


@router.post("/login", operation_id="auth_login", summary="Log in with email and password")
async def login(body: LoginRequest, request: Request, auth: AuthServiceDep) -> TokenPair:
    """Returns a 15-minute access token and a 30-day refresh token. Attempts are limited per
    account and per IP address."""
    return await auth.login(
        body.email, body.password, _client_ip(request), request.headers.get("user-agent")
    )


@router.post("/refresh", operation_id="auth_refresh", summary="Rotate a refresh token")
async def refresh(body: RefreshRequest, auth: AuthServiceDep) -> TokenPair:
    """Spends the refresh token and returns a new pair. Reusing a spent token revokes the
    whole session."""
    return await auth.refresh(body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth_logout",
    summary="Revoke a session",
)
async def logout(
    auth: AuthServiceDep, principal: OptionalPrincipal, body: LogoutRequest | None = None
) -> None:
    """Revokes the session of the calling access token and/or of the given refresh token."""
    await auth.logout(principal, body.refresh_token if body else None)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth_change_password",
    summary="Change your password",
    responses=errors(403),
)
async def change_password(
    body: PasswordChange, auth: AuthServiceDep, principal: Annotated[Principal, scoped("profile")]
) -> None:
    """Changes the password and revokes every other session."""
    await auth.change_password(principal, body)


@router.get("/scopes", operation_id="auth_scopes", summary="List API key scopes")
async def list_scopes() -> list[ScopeOut]:
    """Every scope an API key can hold. `family:*` grants the whole family, `*` grants all."""
    return [ScopeOut(name=name, description=text) for name, text in SCOPES.items()]


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    operation_id="api_keys_create",
    summary="Create an API key",
    responses=errors(403),
)
async def create_api_key(
    body: ApiKeyCreate,
    keys: ApiKeyServiceDep,
    principal: Annotated[Principal, scoped("api_keys:write")],
) -> ApiKeyCreated:
    """Creates a key bound to the current workspace. The key is in the response once."""
    return await keys.create(principal, body)


@router.get(
    "/api-keys", operation_id="api_keys_list", summary="List API keys", responses=errors(403)
)
async def list_api_keys(
    keys: ApiKeyServiceDep,
    page: PageParamsDep,
    principal: Annotated[Principal, scoped("api_keys:read")],
) -> Page[ApiKeyOut]:
    """Your keys in the current workspace (every member's, for workspace admins)."""
    return await keys.list(principal, page)


@router.delete(
    "/api-keys/{key_id}",
    operation_id="api_keys_revoke",
    summary="Revoke an API key",
    responses=errors(403, 404),
)
async def revoke_api_key(
    key_id: str, keys: ApiKeyServiceDep, principal: Annotated[Principal, scoped("api_keys:write")]
) -> ApiKeyOut:
    return await keys.revoke(principal, key_id)
