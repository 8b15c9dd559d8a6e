"""The authorization code + PKCE flow, driven over HTTP as a third-party app and a user's
browser would: sign in, consent, exchange the code, call the API, refresh, revoke."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Account, assert_envelope
from tests.oauth.helpers import (
    authorize,
    basic,
    bearer,
    exchange,
    pkce,
    refresh,
    register_app,
)


async def test_code_pkce_flow_end_to_end(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    user: Account = await make_account()
    app = await register_app(client, owner)
    assert app["client_secret"].startswith("cxs_") and app["secret_last_four"]
    listed = (await client.get("/oauth/apps", headers=owner.headers())).json()
    assert "client_secret" not in listed[0] and listed[0]["client_id"] == app["client_id"]
    # The user's agent, which the app will read and run.
    agent = (
        await client.post(
            "/agents",
            json={
                "name": "Helper",
                "model": {"provider": "scripted", "options": {"script": [{"content": "ok"}]}},
            },
            headers=user.headers(),
        )
    ).json()
    verifier, challenge = pkce()
    got = await authorize(client, browser, app, user, challenge)
    assert got["state"] == "xyz-123" and got["code"]
    r = await exchange(client, app, got["code"], verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "agents:execute agents:read"
    assert tokens["workspace_id"] == await user.personal_workspace()
    access = tokens["access_token"]
    # The API accepts the token, limited to its scopes.
    r = await client.get("/agents", headers=bearer(access))
    assert r.status_code == 200 and [a["id"] for a in r.json()["items"]] == [agent["id"]]
    r = await client.post(
        f"/agents/{agent['id']}/execute", json={"input_data": "hi"}, headers=bearer(access)
    )
    assert r.status_code == 200 and r.json()["output"] == "ok"
    r = await client.post("/agents", json={"name": "x"}, headers=bearer(access))
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    # GraphQL takes the same token, with the same limits.
    r = await client.post(
        "/graphql", json={"query": "{ agents { edges { node { id } } } }"}, headers=bearer(access)
    )
    assert r.json()["data"]["agents"]["edges"][0]["node"]["id"] == agent["id"]
    r = await client.post(
        "/graphql",
        json={"query": 'mutation { createAgent(input: {name: "x"}) { id } }'},
        headers=bearer(access),
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "AUTHORIZATION_FAILED"
    assert_envelope(
        await client.get("/oauth/apps", headers=bearer(access)), 403, "AUTHORIZATION_FAILED"
    )
    # Introspection by the app.
    r = await client.post(
        "/oauth/introspect",
        data={"token": access},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert r.json()["active"] is True and r.json()["sub"] == user.id
    # Refresh rotates: the new pair works, the old access token does not.
    r = await refresh(client, app, tokens["refresh_token"], scope="agents:read")
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["scope"] == "agents:read" and second["refresh_token"] != tokens["refresh_token"]
    assert_envelope(
        await client.get("/agents", headers=bearer(access)), 401, "AUTHENTICATION_FAILED"
    )
    assert (await client.get("/agents", headers=bearer(second["access_token"]))).status_code == 200
    # The user sees the app among their authorizations.
    grants = (await client.get("/oauth/authorizations", headers=user.headers())).json()
    assert [g["client_id"] for g in grants] == [app["client_id"]]
    assert grants[0]["scopes"] == ["agents:execute", "agents:read"]
    # Revocation (RFC 7009) ends the token at once.
    r = await client.post(
        "/oauth/revoke",
        data={"token": second["access_token"]},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert r.status_code == 200
    assert_envelope(
        await client.get("/agents", headers=bearer(second["access_token"])),
        401,
        "AUTHENTICATION_FAILED",
    )
    r = await client.post(
        "/oauth/introspect",
        data={"token": second["access_token"]},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert r.json() == {"active": False}
    # Revoking the authorization ends the remaining refresh token too.
    r = await client.delete(f"/oauth/authorizations/{grants[0]['id']}", headers=user.headers())
    assert r.status_code == 204
    r = await refresh(client, app, second["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_public_client_pkce_and_the_authorized_apps_page(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    user: Account = await make_account()
    app = await register_app(client, owner, client_type="public", redirect_uris=[
        "https://app.example.com/callback", "com.example.app:/cb"])  # fmt: skip
    assert app["client_secret"] is None
    verifier, challenge = pkce()
    got = await authorize(client, browser, app, user, challenge)
    r = await exchange(client, app, got["code"], verifier)
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    # The page of authorized apps (same sign-in cookie), with a CSRF-protected revoke form.
    page = await browser.get("/oauth/authorized-apps")
    assert page.status_code == 200 and "Acme &lt;b&gt;dashboard&lt;/b&gt;" in page.text
    from tests.oauth.helpers import Forms

    form = Forms(page.text).forms[0]
    action = form["action"].removeprefix("/api/v1")
    bad = await browser.post(action, data={"csrf": "forged"})
    assert bad.status_code == 403
    assert (await client.get("/agents", headers=bearer(access))).status_code == 200
    done = await browser.post(action, data=form["fields"])
    assert done.status_code == 303
    assert_envelope(
        await client.get("/agents", headers=bearer(access)), 401, "AUTHENTICATION_FAILED"
    )
    assert "not authorized any" in (await browser.get("/oauth/authorized-apps")).text


async def test_metadata(client: httpx.AsyncClient) -> None:
    r = await client.get("http://testserver/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.json()
    assert meta["issuer"] == "http://testserver"
    assert meta["token_endpoint"] == "http://testserver/api/v1/oauth/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "admin" not in meta["scopes_supported"]
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
