"""Billing endpoints: wallet, transactions, earnings, checkout, Stripe webhooks, admin
grants and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.billing.schemas import (
    CheckoutCreate,
    CheckoutOut,
    EarningsOut,
    GrantCreate,
    RefundCreate,
    TransactionOut,
    WalletOut,
    WebhookAck,
)
from codexos_server.billing.service import BillingService, Period
from codexos_server.container import get_container
from codexos_server.errors import PayloadTooLarge
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep

router = APIRouter(tags=["billing"])

MAX_WEBHOOK_BYTES = 512 * 1024


async def _billing(request: Request) -> BillingService:
    return get_container(request).billing


BillingServiceDep = Annotated[BillingService, Depends(_billing)]
Reader = Annotated[Principal, scoped("marketplace:read")]
Writer = Annotated[Principal, scoped("marketplace:write")]
Admin = Annotated[Principal, scoped("admin")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Same key + same body → the same transaction, credited once",
    ),
]


@router.get("/billing/wallet", operation_id="billing_wallet", summary="Your workspace's wallet")
async def get_wallet(billing: BillingServiceDep, principal: Reader) -> WalletOut:
    return await billing.wallet(principal)


@router.get(
    "/billing/transactions",
    operation_id="billing_transactions_list",
    summary="Your wallet's transactions, newest first",
)
async def list_transactions(
    billing: BillingServiceDep, page: PageParamsDep, principal: Reader
) -> Page[TransactionOut]:
    return await billing.transactions(principal, page)


@router.get(
    "/billing/transactions/{transaction_id}",
    operation_id="billing_transactions_get",
    summary="One transaction of your wallet",
    responses=errors(404),
)
async def get_transaction(
    transaction_id: str, billing: BillingServiceDep, principal: Reader
) -> TransactionOut:
    return await billing.transaction(principal, transaction_id)


@router.post(
    "/billing/transactions/{transaction_id}/refund",
    status_code=status.HTTP_201_CREATED,
    operation_id="billing_transactions_refund",
    summary="Refund a transaction (admin)",
    responses=errors(403, 404, 409),
)
async def refund_transaction(
    transaction_id: str,
    billing: BillingServiceDep,
    principal: Admin,
    body: RefundCreate | None = None,
) -> TransactionOut:
    """Posts the reversing entries once. 409 when already refunded, when it is itself a
    refund, or when a credited wallet no longer holds the credits to give back."""
    return await billing.refund(principal, transaction_id, body or RefundCreate())


@router.post(
    "/billing/grants",
    status_code=status.HTTP_201_CREATED,
    operation_id="billing_grants_create",
    summary="Grant credits to a workspace (admin)",
    responses=errors(403, 404, 409),
)
async def create_grant(
    body: GrantCreate,
    billing: BillingServiceDep,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> TransactionOut:
    return await billing.grant(principal, body, idempotency_key)


@router.get(
    "/billing/earnings",
    operation_id="billing_earnings",
    summary="Credits your wallet earned, by period and listing",
)
async def get_earnings(
    billing: BillingServiceDep,
    principal: Reader,
    period: Annotated[Period, Query()] = "month",
    since: Annotated[datetime | None, Query(description="Start (inclusive), with timezone")] = None,
    until: Annotated[datetime | None, Query(description="End (exclusive); default now")] = None,
) -> EarningsOut:
    return await billing.earnings(principal, period, since, until)


@router.post(
    "/billing/checkout",
    status_code=status.HTTP_201_CREATED,
    operation_id="billing_checkout_create",
    summary="Start a Stripe Checkout to buy credits",
    responses=errors(403, 503),
)
async def create_checkout(
    body: CheckoutCreate, billing: BillingServiceDep, principal: Writer
) -> CheckoutOut:
    """Returns the hosted payment page; the wallet is credited when Stripe reports the
    payment to `/billing/webhooks/stripe`. 503 when Stripe is not configured."""
    return await billing.checkout(principal, body)


@router.post(
    "/billing/webhooks/stripe",
    operation_id="billing_webhooks_stripe",
    summary="Receive a Stripe webhook (signed; no bearer token)",
    responses=errors(401, 413, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def stripe_webhook(
    request: Request,
    billing: BillingServiceDep,
    signature: Annotated[
        str | None, Header(alias="Stripe-Signature", description="t=<unix>,v1=<hex HMAC>")
    ] = None,
) -> WebhookAck:
    """A completed checkout credits the wallet once, however often it is delivered; other
    events are acknowledged and ignored. A bad signature is a 401."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_WEBHOOK_BYTES:
            raise PayloadTooLarge(f"A webhook body may be at most {MAX_WEBHOOK_BYTES} bytes")
    return await billing.receive_webhook("stripe", bytes(body), signature or "")
