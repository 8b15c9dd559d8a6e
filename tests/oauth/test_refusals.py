"""What the OAuth server refuses: wrong redirect URI, missing or wrong PKCE verifier, reused
and expired codes, scope escalation on refresh, a revoked token, a token used on another
workspace, a denied consent; client credentials for confidential apps only; bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from codexos_server.container import Container
from codexos_server.db.base import utcnow
from codexos_server.oauth.models import OAuthCode
from tests.conftest import Account, assert_envelope
from tests.oauth.helpers import (
    REDIRECT,
    authorize,
    authorize_query,
    basic,
    bearer,
    consent,
    exchange,
    pkce,
    redirect_params,
    refresh,
    register_app,
    sign_in,
)


async def test_redirect_uri_state_and_pkce_requirements(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    app = await register_app(client, owner)
    public = await register_app(client, owner, client_type="public")
    _, challenge = pkce()
    # Unregistered redirect URIs and unknown clients never redirect: an error page.
    for query in (
        authorize_query(app, challenge, redirect_uri="https://evil.example.com/callback"),
        authorize_query(app, challenge, redirect_uri=REDIRECT + "/"),  # exact match only
        authorize_query({**app, "client_id": "cxc_unknown"}, challenge),
    ):
        r = await browser.get(query)
        assert r.status_code == 400 and "location" not in r.headers
        assert "Authorization error" in r.text
    # Other errors go back to the app with the error.
    cases = {
        "invalid_request": authorize_query(app, challenge, state=""),
        "unsupported_response_type": authorize_query(app, challenge, response_type="token"),
        "invalid_scope": authorize_query(app, challenge, scope="agents:write"),
    }
    for error, query in cases.items():
        r = await browser.get(query)
        assert redirect_params(r)["error"] == error
    r = await browser.get(authorize_query(app, challenge, scope="admin"))
    assert redirect_params(r)["error"] == "invalid_scope"
    r = await browser.get(authorize_query(app, "x" * 43, code_challenge_method="plain"))
    assert redirect_params(r)["error"] == "invalid_request"
    r = await browser.get(authorize_query(public, None))  # public clients must use PKCE
    params = redirect_params(r)
    assert params["error"] == "invalid_request" and params["state"] == "xyz-123"


async def test_code_refusals(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    make_account: Callable[..., Any],
    container: Container,
) -> None:
    owner: Account = await make_account()
    user: Account = await make_account()
    app = await register_app(client, owner)
    other_app = await register_app(client, owner)
    verifier, challenge = pkce()
    code = (await authorize(client, browser, app, user, challenge))["code"]

    def error(r: httpx.Response) -> str:
        assert r.status_code in (400, 401), r.text
        return str(r.json()["error"])

    assert error(await exchange(client, app, code, None)) == "invalid_grant"  # no verifier
    assert error(await exchange(client, app, code, pkce()[0])) == "invalid_grant"  # wrong one
    assert error(await exchange(client, app, code, "short")) == "invalid_grant"
    r = await exchange(client, app, code, verifier, redirect_uri="https://app.example.com/other")
    assert error(r) == "invalid_grant"
    assert error(await exchange(client, other_app, code, verifier)) == "invalid_grant"
    bad_secret = {**app, "client_secret": "cxs_wrong"}
    r = await exchange(client, bad_secret, code, verifier)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # The right request works once; the code replayed is refused and what it gave revoked.
    first = await exchange(client, app, code, verifier)
    assert first.status_code == 200, first.text
    access = first.json()["access_token"]
    assert error(await exchange(client, app, code, verifier)) == "invalid_grant"
    assert_envelope(
        await client.get("/agents", headers=bearer(access)), 401, "AUTHENTICATION_FAILED"
    )
    # An expired code.
    verifier, challenge = pkce()
    code = (await authorize(client, browser, app, user, challenge))["code"]
    async with container.db.transaction() as session:
        await session.execute(
            update(OAuthCode)
            .where(OAuthCode.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = await exchange(client, app, code, verifier)
    assert error(r) == "invalid_grant" and "expired" in r.json()["error_description"]
    # Bad token requests.
    for data in (
        {"grant_type": "password", "username": "x", "password": "y"},
        {"grant_type": "authorization_code"},
        {},
    ):
        r = await client.post(
            "/oauth/token", data=data, headers=basic(app["client_id"], app["client_secret"])
        )
        assert r.status_code == 400 and r.json()["error"] in (
            "unsupported_grant_type",
            "invalid_grant",
            "invalid_request",
        )
    r = await client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!not-base64"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_refresh_escalation_revocation_and_workspace_binding(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    user: Account = await make_account()
    app = await register_app(client, owner)
    verifier, challenge = pkce()
    code = (await authorize(client, browser, app, user, challenge, scope="agents:read"))["code"]
    tokens = (await exchange(client, app, code, verifier)).json()
    assert tokens["scope"] == "agents:read"
    # A refresh cannot widen the scope, even to one the app may ask for.
    r = await refresh(client, app, tokens["refresh_token"], scope="agents:read agents:execute")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    # The token is bound to the granted workspace: another workspace is refused.
    other_ws = (
        await client.post("/workspaces", json={"name": "Team"}, headers=user.headers())
    ).json()["id"]
    r = await client.get(
        "/agents", headers=bearer(tokens["access_token"]) | {"X-Workspace-ID": other_ws}
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    # A rotated-out refresh token coming back revokes the whole grant.
    rotated = (await refresh(client, app, tokens["refresh_token"])).json()
    r = await refresh(client, app, tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert_envelope(
        await client.get("/agents", headers=bearer(rotated["access_token"])),
        401,
        "AUTHENTICATION_FAILED",
    )
    assert (await client.get("/oauth/authorizations", headers=user.headers())).json() == []
    # Garbage tokens.
    for token in ("cxoa_nope", "cxoa_", "cxoa_" + "a" * 5000):
        r = await client.get("/agents", headers=bearer(token))
        assert_envelope(r, 401, "AUTHENTICATION_FAILED")


async def test_denied_consent_and_forged_consent(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    user: Account = await make_account()
    stranger: Account = await make_account()
    app = await register_app(client, owner)
    _, challenge = pkce()
    page = await browser.get(authorize_query(app, challenge))
    page = await sign_in(browser, page, user)
    denied = redirect_params(await consent(browser, page, decision="deny"))
    assert denied == {
        "error": "access_denied",
        "error_description": "The user denied access",
        "state": "xyz-123",
    }
    assert (await client.get("/oauth/authorizations", headers=user.headers())).json() == []
    forged = await consent(browser, page, csrf="0" * 64)
    assert forged.status_code == 403 and "location" not in forged.headers
    foreign_ws = await stranger.personal_workspace()
    r = await consent(browser, page, workspace_id=foreign_ws)
    assert r.status_code == 400 and "location" not in r.headers
    # Without the sign-in cookie a consent cannot be posted.
    anonymous = await client.post("/oauth/authorize", data={"decision": "approve"})
    assert anonymous.status_code == 400
    # Bad sign-ins re-render the form with the error.
    page = await browser.get(authorize_query(app, challenge))
    r = await browser.post(
        "/oauth/login", data={"email": user.email, "password": "wrong", "next": "https://evil"}
    )
    assert r.status_code == 401 and "Invalid email or password" in r.text


async def test_client_credentials(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    app = await register_app(client, owner)
    public = await register_app(client, owner, client_type="public")
    auth = basic(app["client_id"], app["client_secret"])
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "agents:read"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body and body["scope"] == "agents:read"
    assert body["workspace_id"] == await owner.personal_workspace()
    assert (await client.get("/agents", headers=bearer(body["access_token"]))).status_code == 200
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "agents:write"},
        headers=auth,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": public["client_id"]}
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    # Rotating the secret ends the old one; deleting the app ends its tokens.
    rotated = (
        await client.post(f"/oauth/apps/{app['id']}/rotate-secret", headers=owner.headers())
    ).json()
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(app["client_id"], rotated["client_secret"]),
    )
    assert r.status_code == 200
    assert (
        await client.delete(f"/oauth/apps/{app['id']}", headers=owner.headers())
    ).status_code == 204
    assert_envelope(
        await client.get("/agents", headers=bearer(body["access_token"])),
        401,
        "AUTHENTICATION_FAILED",
    )


async def test_app_registration_validation_and_ownership(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    good = {"name": "A", "redirect_uris": [REDIRECT], "scopes": ["agents:read"]}
    for bad in (
        {**good, "redirect_uris": []},
        {**good, "redirect_uris": ["http://app.example.com/cb"]},  # http off loopback
        {**good, "redirect_uris": ["https://app.example.com/cb#frag"]},
        {**good, "redirect_uris": ["/relative"]},
        {**good, "redirect_uris": ["javascript:alert(1)"]},
        {**good, "scopes": ["admin"]},
        {**good, "scopes": ["api_keys:write"]},  # a key would outlive the user's revocation
        {**good, "scopes": ["workspaces:write"]},
        {**good, "scopes": ["nope"]},
        {**good, "scopes": []},
        {**good, "client_type": "secret"},
        {**good, "name": ""},
        {**good, "extra": 1},
    ):
        r = await client.post("/oauth/apps", json=bad, headers=owner.headers())
        assert_envelope(r, 422, "VALIDATION_ERROR")
    ok = await client.post(
        "/oauth/apps",
        json={**good, "redirect_uris": ["http://127.0.0.1:9000/cb", "com.acme.app:/cb"]},
        headers=owner.headers(),
    )
    assert ok.status_code == 201, ok.text
    app_id = ok.json()["id"]
    for method, path in (
        ("GET", f"/oauth/apps/{app_id}"),
        ("PATCH", f"/oauth/apps/{app_id}"),
        ("DELETE", f"/oauth/apps/{app_id}"),
        ("POST", f"/oauth/apps/{app_id}/rotate-secret"),
        ("DELETE", "/oauth/authorizations/nope"),
    ):
        r = await client.request(
            method, path, json={"name": "x"} if method == "PATCH" else None, headers=other.headers()
        )
        assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    assert (await client.get("/oauth/apps", headers=other.headers())).json() == []
    r = await client.patch(
        f"/oauth/apps/{app_id}", json={"scopes": ["agents:read", "knowledge:read"]},
        headers=owner.headers(),
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["scopes"] == ["agents:read", "knowledge:read"]


async def test_redirect_uri_left_out_of_both_requests(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    user: Account = await make_account()
    app = await register_app(client, owner)
    verifier, challenge = pkce()
    page = await browser.get(authorize_query(app, challenge).replace(
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&", ""))  # fmt: skip
    page = await sign_in(browser, page, user)
    code = redirect_params(await consent(browser, page))["code"]
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert r.status_code == 200, r.text
