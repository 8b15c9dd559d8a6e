"""The browser side of OAuth: sign-in, the consent form, and the page listing the apps you
authorized. Not in the OpenAPI document: people use these, not programs."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.container import Container, get_container
from codexos_server.errors import AppError
from codexos_server.oauth import pages
from codexos_server.oauth.server import AuthorizeRequest, OAuthError, PageError
from codexos_server.workspaces.models import Workspace, WorkspaceMember

router = APIRouter(prefix="/oauth", include_in_schema=False)
CONSENT, APPS = "consent", "authorized-apps"
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}


async def _container(request: Request) -> Container:
    return get_container(request)


ContainerDep = Annotated[Container, Depends(_container)]


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


async def _browser_user(request: Request, container: Container) -> Principal | None:
    """The user signed in on these pages (their session cookie), if any."""
    token = request.cookies.get(pages.COOKIE)
    if not token:
        return None
    try:
        principal = await container.authenticator.authenticate(token, None)
    except AppError:
        return None
    return principal if principal.method is AuthMethod.SESSION else None


def _csrf(container: Container, principal: Principal, purpose: str) -> str:
    key = container.settings.resolved_secret_key()
    return pages.csrf_token(key, principal.session_id or "", purpose)


def _csrf_ok(container: Container, principal: Principal, purpose: str, token: str) -> bool:
    key = container.settings.resolved_secret_key()
    return pages.csrf_ok(key, principal.session_id or "", purpose, token)


async def _workspaces(container: Container, user_id: str) -> list[tuple[str, str]]:
    async with container.db.read() as session:
        rows = await session.execute(
            select(Workspace.id, Workspace.name)
            .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
            .where(WorkspaceMember.user_id == user_id)
            .order_by(Workspace.is_personal.desc(), Workspace.name)
        )
        return [(wid, name) for wid, name in rows.all()]


async def _validated(container: Container, params: dict[str, str]) -> AuthorizeRequest | Response:
    try:
        return await container.oauth_server.validate_authorize(params)
    except PageError as exc:
        return _html(pages.error_page(exc.message), 400)
    except OAuthError as error:
        return _see_other(container.oauth_server.error_redirect(error))


@router.get("/authorize")
async def authorize_page(request: Request, container: ContainerDep) -> Response:
    params = {k: v for k, v in request.query_params.items()}
    checked = await _validated(container, params)
    if not isinstance(checked, AuthorizeRequest):
        return checked
    user = await _browser_user(request, container)
    if user is None:
        return _html(pages.login_page(f"{pages.COOKIE_PATH}/authorize?{urlencode(params)}"))
    return _html(
        pages.consent_page(
            app_name=checked.client.name,
            redirect_uri=checked.redirect_uri,
            scopes=checked.scopes,
            workspaces=await _workspaces(container, user.user_id),
            email=user.email,
            params=checked.params(),
            csrf=_csrf(container, user, CONSENT),
        )
    )


@router.post("/authorize")
async def authorize_decision(request: Request, container: ContainerDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    checked = await _validated(container, form)
    if not isinstance(checked, AuthorizeRequest):
        return checked
    user = await _browser_user(request, container)
    if user is None:
        return _html(pages.error_page("Your sign-in expired; start again from the app."), 401)
    if not _csrf_ok(container, user, CONSENT, form.get("csrf", "")):
        return _html(pages.error_page("The form expired or came from another site."), 403)
    if form.get("decision") != "approve":
        return _see_other(container.oauth_server.deny(checked))
    workspace_id = form.get("workspace_id", "")
    if workspace_id not in {wid for wid, _ in await _workspaces(container, user.user_id)}:
        return _html(pages.error_page("Choose one of your workspaces."), 400)
    return _see_other(await container.oauth_server.approve(checked, user.user_id, workspace_id))


@router.post("/login")
async def login(request: Request, container: ContainerDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    next_url = form.get("next", "")
    if not next_url.startswith(pages.COOKIE_PATH + "/") or "//" in next_url:
        next_url = f"{pages.COOKIE_PATH}/{APPS}"
    client = request.client.host if request.client else "unknown"
    try:
        tokens = await container.auth.login(
            form.get("email", ""),
            form.get("password", ""),
            client,
            request.headers.get("user-agent"),
        )
    except AppError as exc:
        return _html(pages.login_page(next_url, exc.message), exc.status_code)
    response = _see_other(next_url)
    response.set_cookie(
        pages.COOKIE,
        tokens.access_token,
        max_age=int(tokens.expires_in),
        path=pages.COOKIE_PATH,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )
    return response


@router.get("/authorized-apps")
async def authorized_apps(request: Request, container: ContainerDep) -> Response:
    user = await _browser_user(request, container)
    if user is None:
        return _html(pages.login_page(f"{pages.COOKIE_PATH}/{APPS}"))
    grants = await container.oauth_apps.authorizations(user)
    return _html(pages.authorized_apps_page(grants, _csrf(container, user, APPS), user.email))


@router.post("/authorized-apps/{grant_id}/revoke")
async def revoke_from_page(request: Request, grant_id: str, container: ContainerDep) -> Response:
    user = await _browser_user(request, container)
    if user is None:
        return _html(pages.login_page(f"{pages.COOKIE_PATH}/{APPS}"), 401)
    form = await request.form()
    csrf = form.get("csrf")
    if not isinstance(csrf, str) or not _csrf_ok(container, user, APPS, csrf):
        return _html(pages.error_page("The form expired or came from another site."), 403)
    try:
        await container.oauth_apps.revoke_authorization(user.user_id, grant_id)
    except AppError as exc:
        return _html(pages.error_page(exc.message), exc.status_code)
    return _see_other(f"{pages.COOKIE_PATH}/{APPS}")
