"""Payment providers: the port, its registry, and the Stripe adapter.

A provider sells credits (a hosted checkout page) and turns its signed webhook deliveries
into `PaymentEvent`s; the billing service credits the wallet. Adapters register in
`PAYMENT_PROVIDERS` the way a third-party one would.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import stripe
import structlog

from codexos_server.config import Settings
from codexos_server.errors import AuthenticationFailed, ServiceUnavailable, ValidationFailed

log = structlog.get_logger(__name__)

MIN_CHARGE_CENTS = 50  # Stripe's smallest USD charge


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    url: str
    session_id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A completed payment: `credits` for `workspace_id`, paid through `provider`."""

    provider: str
    event_id: str
    payment_id: str  # the provider's id of what was paid (a checkout session); the ledger key
    workspace_id: str
    credits: int


class PaymentProvider(Protocol):
    """Sells credits and reports completed payments (port; adapters below)."""

    name: str

    async def create_checkout(
        self, workspace_id: str, credits: int, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        """A hosted payment page for `credits`. Raises: ServiceUnavailable, ValidationFailed."""
        ...

    def parse_webhook(self, payload: bytes, signature_header: str) -> PaymentEvent | None:
        """The payment a delivery reports, or None for events that credit nothing.

        Raises: AuthenticationFailed (bad signature), ValidationFailed (unreadable payload).
        """
        ...


class StripeProvider:
    """Stripe Checkout. Talks to Stripe only in `create_checkout`; webhook checks are local."""

    name = "stripe"

    def __init__(self, api_key: str | None, webhook_secret: str | None, credits_per_usd: int):
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self.credits_per_usd = credits_per_usd

    def cents_for(self, credits: int) -> int:
        return math.ceil(credits * 100 / self.credits_per_usd)

    async def create_checkout(
        self, workspace_id: str, credits: int, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        if not self._api_key:
            raise ServiceUnavailable("Stripe is not configured: set CODEXOS_STRIPE_API_KEY")
        cents = self.cents_for(credits)
        if cents < MIN_CHARGE_CENTS:
            raise ValidationFailed(
                "Too few credits for one payment",
                [{"field": "credits", "message": f"must cost at least {MIN_CHARGE_CENTS} cents"}],
            )
        client = stripe.StripeClient(self._api_key)
        try:
            session = await client.v1.checkout.sessions.create_async(
                params={
                    "mode": "payment",
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "client_reference_id": workspace_id,
                    "metadata": {"workspace_id": workspace_id, "credits": str(credits)},
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": "usd",
                                "unit_amount": cents,
                                "product_data": {"name": f"{credits} CodexOS credits"},
                            },
                        }
                    ],
                }
            )
        except stripe.StripeError as exc:
            log.warning("stripe_checkout_failed", error=str(exc))
            raise ServiceUnavailable(
                "The payment provider refused or could not be reached"
            ) from exc
        if not session.url:
            raise ServiceUnavailable("The payment provider returned no checkout page")
        return CheckoutSession(url=session.url, session_id=session.id, amount_cents=cents)

    def parse_webhook(self, payload: bytes, signature_header: str) -> PaymentEvent | None:
        if not self._webhook_secret:
            raise ServiceUnavailable(
                "Stripe webhooks are not configured: set CODEXOS_STRIPE_WEBHOOK_SECRET"
            )
        try:
            stripe.Webhook.construct_event(payload, signature_header, self._webhook_secret)
            # Verified: read the body as plain JSON (StripeObject access differs by version).
            event = json.loads(payload)
        except stripe.SignatureVerificationError as exc:
            raise AuthenticationFailed("Invalid Stripe signature") from exc
        except ValueError as exc:
            raise ValidationFailed(
                "Unreadable webhook payload", [{"field": "body", "message": "not JSON"}]
            ) from exc
        if not isinstance(event, dict):
            raise ValidationFailed(
                "Unreadable webhook payload", [{"field": "body", "message": "not an event"}]
            )
        event_id = str(event.get("id"))
        # Card payments are paid at `completed`; delayed methods report success separately.
        if event.get("type") not in (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ):
            return None
        data = event.get("data")
        session = data.get("object") if isinstance(data, dict) else None
        if not isinstance(session, dict) or session.get("payment_status") != "paid":
            return None
        metadata = session.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        workspace_id = metadata.get("workspace_id")
        credits = metadata.get("credits")
        if (
            not isinstance(workspace_id, str)
            or not isinstance(credits, str)
            or not (credits.isascii() and credits.isdigit())
            or not isinstance(session.get("id"), str)
        ):
            log.warning("stripe_session_without_credits", event_id=event_id)
            return None
        return PaymentEvent(
            provider=self.name,
            event_id=event_id,
            payment_id=session["id"],
            workspace_id=workspace_id,
            credits=int(credits),
        )


def _stripe(settings: Settings) -> PaymentProvider | None:
    if settings.stripe_api_key is None and settings.stripe_webhook_secret is None:
        return None
    return StripeProvider(
        settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else None,
        settings.stripe_webhook_secret.get_secret_value()
        if settings.stripe_webhook_secret
        else None,
        settings.credits_per_usd,
    )


PAYMENT_PROVIDERS: dict[str, Callable[[Settings], PaymentProvider | None]] = {"stripe": _stripe}


def build_providers(settings: Settings) -> dict[str, PaymentProvider]:
    """The configured providers by name (an unconfigured one is left out)."""
    built = {name: factory(settings) for name, factory in PAYMENT_PROVIDERS.items()}
    return {name: provider for name, provider in built.items() if provider is not None}
