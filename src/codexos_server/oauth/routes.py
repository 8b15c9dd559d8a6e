"""OAuth endpoints: app registration and your authorizations (JSON, bearer auth), and the
protocol endpoints apps call (token, revoke, introspect, server metadata)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.container import get_container
from codexos_server.errors import AuthorizationFailed
from codexos_server.oauth.apps import AppService
from codexos_server.oauth.schemas import (
    AppCreate,
    AppOut,
    AppUpdate,
    AppWithSecret,
    AuthorizationOut,
)
from codexos_server.oauth.server import OAuthError, OAuthServer, token_response
from codexos_server.openapi import errors

router = APIRouter(prefix="/oauth", tags=["oauth"])
well_known = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    }
}


async def _apps(request: Request) -> AppService:
    return get_container(request).oauth_apps


async def _server(request: Request) -> OAuthServer:
    return get_container(request).oauth_server


async def _user(principal: Annotated[Principal, scoped("profile")]) -> Principal:
    """Apps and authorizations are managed by the user, never by an app's token."""
    if principal.method is AuthMethod.OAUTH:
        raise AuthorizationFailed("An app's access token cannot manage OAuth apps or grants")
    return principal


AppsDep = Annotated[AppService, Depends(_apps)]
ServerDep = Annotated[OAuthServer, Depends(_server)]
User = Annotated[Principal, Depends(_user)]


@router.post(
    "/apps",
    status_code=status.HTTP_201_CREATED,
    operation_id="oauth_apps_create",
    summary="Register an app (a confidential app's secret is shown once)",
    responses=errors(403, 422),
)
async def create_app(body: AppCreate, apps: AppsDep, principal: User) -> AppWithSecret:
    return await apps.create(principal, body)


@router.get("/apps", operation_id="oauth_apps_list", summary="Apps you registered")
async def list_apps(apps: AppsDep, principal: User) -> list[AppOut]:
    return await apps.list(principal)


@router.get(
    "/apps/{app_id}",
    operation_id="oauth_apps_get",
    summary="One of your apps",
    responses=errors(404),
)
async def get_app(app_id: str, apps: AppsDep, principal: User) -> AppOut:
    return await apps.get(principal, app_id)


@router.patch(
    "/apps/{app_id}",
    operation_id="oauth_apps_update",
    summary="Rename an app, change its redirect URIs or scopes",
    responses=errors(404, 422),
)
async def update_app(app_id: str, body: AppUpdate, apps: AppsDep, principal: User) -> AppOut:
    return await apps.update(principal, app_id, body)


@router.post(
    "/apps/{app_id}/rotate-secret",
    operation_id="oauth_apps_rotate_secret",
    summary="Replace a confidential app's secret (shown once)",
    responses=errors(404, 409),
)
async def rotate_secret(app_id: str, apps: AppsDep, principal: User) -> AppWithSecret:
    return await apps.rotate_secret(principal, app_id)


@router.delete(
    "/apps/{app_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="oauth_apps_delete",
    summary="Delete an app with its grants and tokens",
    responses=errors(404),
)
async def delete_app(app_id: str, apps: AppsDep, principal: User) -> Response:
    await apps.delete(principal, app_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/authorizations",
    operation_id="oauth_authorizations_list",
    summary="Apps you authorized, with their workspace and scopes",
)
async def list_authorizations(apps: AppsDep, principal: User) -> list[AuthorizationOut]:
    return await apps.authorizations(principal)


@router.delete(
    "/authorizations/{authorization_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="oauth_authorizations_revoke",
    summary="Revoke an app's access (its tokens stop working at once)",
    responses=errors(404),
)
async def revoke_authorization(authorization_id: str, apps: AppsDep, principal: User) -> Response:
    await apps.revoke_authorization(principal.user_id, authorization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the protocol endpoints (RFC-shaped answers, not the API's error envelope) ----------------


async def _form(request: Request) -> tuple[dict[str, str], str | None, str | None]:
    """The form fields and the client's id and secret (HTTP Basic or in the form).
    Raises: OAuthError (invalid_request / invalid_client)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise OAuthError(error="invalid_request", description="Send the parameters form-encoded")
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        if "client_secret" in form:
            raise OAuthError(error="invalid_request", description="One client authentication")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
            client_id, _, secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError(error="invalid_client", description="Bad Basic credentials",
                             status_code=401) from exc  # fmt: skip
        return form, unquote(client_id), unquote(secret) or None
    return form, form.get("client_id"), form.get("client_secret") or None


def _oauth_error(error: OAuthError) -> JSONResponse:
    code, body = token_response(error)
    headers = dict(NO_STORE)
    if code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="codexos"'
    return JSONResponse(body, status_code=code, headers=headers)


@router.post(
    "/token",
    operation_id="oauth_token",
    summary="Token endpoint: authorization_code, refresh_token, client_credentials",
    openapi_extra=FORM_BODY,
)
async def token(request: Request, server: ServerDep) -> JSONResponse:
    """Errors follow RFC 6749 (`{"error": "invalid_grant", "error_description": …}`)."""
    try:
        form, client_id, secret = await _form(request)
        body = await server.token(form, client_id, secret)
    except OAuthError as error:
        return _oauth_error(error)
    return JSONResponse(body, headers=NO_STORE)


@router.post(
    "/revoke",
    operation_id="oauth_revoke",
    summary="Revoke a token (RFC 7009)",
    openapi_extra=FORM_BODY,
)
async def revoke(request: Request, server: ServerDep) -> Response:
    try:
        form, client_id, secret = await _form(request)
        await server.revoke(client_id, secret, form.get("token") or "")
    except OAuthError as error:
        return _oauth_error(error)
    return Response(status_code=status.HTTP_200_OK, headers=NO_STORE)


@router.post(
    "/introspect",
    operation_id="oauth_introspect",
    summary="Introspect a token of your app (RFC 7662)",
    openapi_extra=FORM_BODY,
)
async def introspect(request: Request, server: ServerDep) -> JSONResponse:
    try:
        form, client_id, secret = await _form(request)
        body = await server.introspect(client_id, secret, form.get("token") or "")
    except OAuthError as error:
        return _oauth_error(error)
    return JSONResponse(body, headers=NO_STORE)


@well_known.get(
    "/.well-known/oauth-authorization-server",
    operation_id="oauth_metadata",
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
)
async def metadata(request: Request, server: ServerDep) -> dict[str, Any]:
    return server.metadata(str(request.base_url))
