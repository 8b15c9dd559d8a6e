"""A third-party app and a user's browser, as the OAuth tests drive them over HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.conftest import PASSWORD, Account

REDIRECT = "https://app.example.com/callback"


class Forms(HTMLParser):
    """The forms of a page: action, method and the value each field would submit."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {"action": a.get("action", ""), "method": a.get("method"), "fields": {}}
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "select" and self.forms:
            self._select = a.get("name")
        elif tag == "option" and self._select and self.forms:
            self.forms[-1]["fields"].setdefault(self._select, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def register_app(http: httpx.AsyncClient, owner: Account, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Acme <b>dashboard</b>",
        "redirect_uris": [REDIRECT],
        "client_type": "confidential",
        "scopes": ["agents:read", "agents:execute", "knowledge:read"],
        **overrides,
    }
    r = await http.post("/oauth/apps", json=body, headers=owner.headers())
    assert r.status_code == 201, r.text
    return dict(r.json())


def authorize_query(app: dict[str, Any], challenge: str | None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "agents:read agents:execute",
        "state": "xyz-123",
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    params |= extra
    return "/oauth/authorize?" + urlencode(params)


async def sign_in(
    browser: httpx.AsyncClient, login_page: httpx.Response, user: Account
) -> httpx.Response:
    """Fill the sign-in form on `login_page`; returns the page it leads to (followed)."""
    form = Forms(login_page.text).forms[0]
    assert form["action"].endswith("/oauth/login")
    fields = form["fields"] | {"email": user.email, "password": PASSWORD}
    r = await browser.post("/oauth/login", data=fields)
    assert r.status_code == 303, r.text
    location = r.headers["location"].removeprefix("/api/v1")
    return await browser.get(location)


async def consent(
    browser: httpx.AsyncClient, page: httpx.Response, decision: str = "approve", **overrides: str
) -> httpx.Response:
    """Answer the consent form; returns the redirect (not followed: it goes to the app)."""
    form = Forms(page.text).forms[0]
    fields = form["fields"] | {"decision": decision, **overrides}
    return await browser.post("/oauth/authorize", data=fields)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorize(
    http: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    app: dict[str, Any],
    user: Account,
    challenge: str | None,
    **extra: str,
) -> dict[str, str]:
    """The browser part of the code flow: sign in if needed, consent; the redirect's params."""
    page = await browser.get(authorize_query(app, challenge, **extra))
    assert page.status_code == 200, page.text
    if "Sign in" in page.text:
        page = await sign_in(browser, page, user)
    assert "Authorize" in page.text, page.text
    return redirect_params(await consent(browser, page))


async def exchange(
    http: httpx.AsyncClient, app: dict[str, Any], code: str, verifier: str | None, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    if verifier:
        data["code_verifier"] = verifier
    headers = basic(app["client_id"], app["client_secret"]) if app.get("client_secret") else {}
    if not app.get("client_secret"):
        data["client_id"] = app["client_id"]
    return await http.post("/oauth/token", data=data, headers=headers)


async def refresh(
    http: httpx.AsyncClient, app: dict[str, Any], token: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    headers = basic(app["client_id"], app["client_secret"]) if app.get("client_secret") else {}
    if not app.get("client_secret"):
        data["client_id"] = app["client_id"]
    return await http.post("/oauth/token", data=data, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
