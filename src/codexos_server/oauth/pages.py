"""Server-rendered pages of the OAuth flow: sign-in, consent, and the apps you authorized.

Plain HTML forms (no JavaScript). Signing in here starts a normal session and keeps its
access token in an HttpOnly, SameSite=Lax cookie scoped to the OAuth pages. Every form
carries a CSRF token: an HMAC of the session id and the form's purpose under the server's
secret key, so a page of another site cannot post a consent in the user's name.
"""

from __future__ import annotations

import hashlib
import hmac
from html import escape
from typing import Any

from codexos_server.auth.scopes import SCOPES

COOKIE = "codexos_oauth"
COOKIE_PATH = "/api/v1/oauth"

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} .box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem}
label{display:block;margin:.6rem 0 .2rem} input,select{width:100%;padding:.45rem;font-size:1rem}
button{padding:.5rem 1.1rem;font-size:1rem;margin:.8rem .4rem 0 0} .error{color:#a00}
li{margin:.25rem 0} .muted{color:#666;font-size:.9rem}
"""


def csrf_token(secret_key: str, session_id: str, purpose: str) -> str:
    message = f"{session_id}:{purpose}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def csrf_ok(secret_key: str, session_id: str, purpose: str, token: str) -> bool:
    return hmac.compare_digest(csrf_token(secret_key, session_id, purpose), token or "")


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · CodexOS</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type=hidden name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def error_page(message: str) -> str:
    return _page("Authorization error", f"<p class=error>{escape(message)}</p>")


def login_page(next_url: str, error: str | None = None) -> str:
    problem = f"<p class=error>{escape(error)}</p>" if error else ""
    return _page(
        "Sign in to CodexOS",
        f"""{problem}<form class=box method=post action="{COOKIE_PATH}/login">
{_hidden({"next": next_url})}
<label for=email>Email</label><input id=email name=email type=email required autofocus>
<label for=password>Password</label>
<input id=password name=password type=password required>
<button type=submit>Sign in</button></form>""",
    )


def consent_page(
    *,
    app_name: str,
    redirect_uri: str,
    scopes: list[str],
    workspaces: list[tuple[str, str]],
    email: str,
    params: dict[str, str],
    csrf: str,
) -> str:
    items = "".join(
        f"<li><code>{escape(s)}</code> — {escape(SCOPES.get(s, s))}</li>" for s in scopes
    )
    options = "".join(
        f'<option value="{escape(wid)}">{escape(name)}</option>' for wid, name in workspaces
    )
    return _page(
        f"Authorize {app_name}",
        f"""<div class=box><p><b>{escape(app_name)}</b> wants to act for you
(<b>{escape(email)}</b>) in a workspace of yours, with these permissions:</p>
<ul>{items}</ul>
<p class=muted>After you decide you go back to {escape(redirect_uri)}</p>
<form method=post action="{COOKIE_PATH}/authorize">{_hidden({**params, "csrf": csrf})}
<label for=workspace_id>Workspace</label>
<select id=workspace_id name=workspace_id>{options}</select>
<button type=submit name=decision value=approve>Allow</button>
<button type=submit name=decision value=deny>Deny</button></form></div>""",
    )


def authorized_apps_page(grants: list[Any], csrf: str, email: str) -> str:
    if not grants:
        rows = "<p>You have not authorized any application.</p>"
    else:
        rows = "".join(
            f"""<div class=box><b>{escape(g.app_name)}</b>
<p class=muted>workspace {escape(g.workspace_id)} · since {g.created_at:%Y-%m-%d}</p>
<p>{escape(" ".join(g.scopes))}</p>
<form method=post action="{COOKIE_PATH}/authorized-apps/{escape(g.id)}/revoke">
{_hidden({"csrf": csrf})}<button type=submit>Revoke access</button></form></div>"""
            for g in grants
        )
    return _page("Applications you authorized", f"<p class=muted>{escape(email)}</p>{rows}")
