"""Stripe top-ups offline: webhooks signed with the stripe package's own helper."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import stripe

from codexos_server.billing.payments import StripeProvider
from codexos_server.container import Container
from tests.billing.helpers import assert_invariants
from tests.conftest import Account, assert_envelope, register

SECRET = "whsec_test_secret"


def _sign(payload: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<ts>,v1=<hex HMAC-SHA256(secret, f"{ts}.{payload}")>."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            payload, secret, timestamp=timestamp or int(time.time())
        )
    )


def _event(
    workspace_id: str,
    credits: int,
    *,
    event_id: str = "evt_1",
    session_id: str = "cs_test_1",
    kind: str = "checkout.session.completed",
    paid: bool = True,
) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "payment_status": "paid" if paid else "unpaid",
                    "client_reference_id": workspace_id,
                    "metadata": {"workspace_id": workspace_id, "credits": str(credits)},
                }
            },
        }
    )


async def _deliver(http: httpx.AsyncClient, payload: str, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await http.post("/billing/webhooks/stripe", content=payload, headers=headers)


async def test_signed_webhook_credits_once(
    client_factory: Callable[..., Any], container: Container
) -> None:
    http: httpx.AsyncClient = await client_factory(stripe_webhook_secret=SECRET)
    user: Account = await register(http)
    ws = await user.personal_workspace()
    payload = _event(ws, 500)
    first = await _deliver(http, payload, _sign(payload))
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "credited": True}
    # Stripe redelivers: the same event, and the same payment under another event id.
    again = await _deliver(http, payload, _sign(payload))
    assert again.json() == {"received": True, "credited": False}
    other = _event(ws, 500, event_id="evt_2", kind="checkout.session.async_payment_succeeded")
    assert (await _deliver(http, other, _sign(other))).json()["credited"] is False
    r = await http.get("/billing/wallet", headers=user.headers())
    assert r.json()["balance"] == 500
    r = await http.get("/billing/transactions", headers=user.headers())
    (item,) = r.json()["items"]
    assert item["kind"] == "topup" and item["reference"]["payment_id"] == "cs_test_1"
    balances = await assert_invariants(container)
    assert balances["external:stripe"] == -500


async def test_bad_signatures_are_refused(
    client_factory: Callable[..., Any], container: Container
) -> None:
    http: httpx.AsyncClient = await client_factory(stripe_webhook_secret=SECRET)
    user: Account = await register(http)
    ws = await user.personal_workspace()
    payload = _event(ws, 500)
    for signature in (
        _sign(payload, secret="whsec_wrong"),
        _sign(payload, timestamp=int(time.time()) - 3600),  # outside the tolerance
        _sign(_event(ws, 50000)),  # signed another body
        "garbage",
        "",
        None,
    ):
        assert_envelope(await _deliver(http, payload, signature), 401, "AUTHENTICATION_FAILED")
    not_json = "not json"
    assert_envelope(await _deliver(http, not_json, _sign(not_json)), 422, "VALIDATION_ERROR")
    r = await http.get("/billing/wallet", headers=user.headers())
    assert r.json()["balance"] == 0


async def test_other_events_are_acknowledged_and_ignored(
    client_factory: Callable[..., Any], container: Container
) -> None:
    http: httpx.AsyncClient = await client_factory(stripe_webhook_secret=SECRET)
    user: Account = await register(http)
    ws = await user.personal_workspace()
    for payload in (
        _event(ws, 100, kind="customer.created"),
        _event(ws, 100, paid=False),
        _event("no-such-workspace", 100, session_id="cs_2"),
        _event(ws, 10**13, session_id="cs_3"),
        _event(ws, 100, session_id="cs_4").replace('"100"', '"\\u00b2"'),
        _event(ws, 100, session_id="cs_5")
        .replace('"metadata": {', '"metadata": [{')
        .replace('"}}}', '"}]}}'),
    ):
        r = await _deliver(http, payload, _sign(payload))
        assert r.status_code == 200, r.text
        assert r.json() == {"received": True, "credited": False}
    r = await http.get("/billing/wallet", headers=user.headers())
    assert r.json()["balance"] == 0


async def test_unconfigured_stripe_is_503(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    user: Account = await make_account()
    payload = _event(await user.personal_workspace(), 100)
    assert_envelope(await _deliver(client, payload, _sign(payload)), 503, "SERVICE_UNAVAILABLE")
    body = {"credits": 1000, "success_url": "https://x.test/ok", "cancel_url": "https://x.test/no"}
    r = await client.post("/billing/checkout", json=body, headers=user.headers())
    error = assert_envelope(r, 503, "SERVICE_UNAVAILABLE")
    assert "not configured" in error["message"]
    for bad in ({**body, "credits": 0}, {**body, "success_url": "javascript:alert(1)"}, {}):
        r = await client.post("/billing/checkout", json=bad, headers=user.headers())
        assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_checkout_without_api_key_is_503_even_with_webhook_secret(
    client_factory: Callable[..., Any],
) -> None:
    http: httpx.AsyncClient = await client_factory(stripe_webhook_secret=SECRET)
    user: Account = await register(http)
    body = {"credits": 1000, "success_url": "https://x.test/ok", "cancel_url": "https://x.test/no"}
    r = await http.post("/billing/checkout", json=body, headers=user.headers())
    assert_envelope(r, 503, "SERVICE_UNAVAILABLE")


def test_prices_round_up_to_whole_cents() -> None:
    provider = StripeProvider("sk_test_x", SECRET, credits_per_usd=100)
    assert provider.cents_for(1000) == 1000
    assert StripeProvider(None, None, credits_per_usd=3).cents_for(1) == 34
