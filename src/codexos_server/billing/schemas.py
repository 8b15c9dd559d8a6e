"""Billing API shapes: wallet, transactions, grants, earnings, checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl

from codexos_server.billing.ledger import MAX_AMOUNT

MAX_CHECKOUT_CREDITS = 10_000_000


class WalletOut(BaseModel):
    workspace_id: str
    balance: int = Field(description="Credits available to spend")
    currency: Literal["credits"] = "credits"


class EntryOut(BaseModel):
    account_id: str
    account_kind: str = Field(description="wallet, platform_fee or external")
    workspace_id: str | None = None
    amount: int = Field(description="Signed credits: negative leaves the account")


class TransactionOut(BaseModel):
    id: str
    kind: str = Field(description="topup, grant, purchase, run_charge or refund")
    amount: int = Field(description="The credits moved")
    workspace_id: str | None = Field(default=None, description="The initiating workspace")
    reference: dict[str, Any] = Field(default_factory=dict)
    refund_of: str | None = None
    refunded_by: str | None = None
    created_at: datetime
    entries: list[EntryOut] = Field(
        description="Your wallet's entries (every entry for an admin's view of a posting)"
    )


class GrantCreate(BaseModel):
    workspace_id: str = Field(min_length=1, max_length=36)
    credits: int = Field(gt=0, le=MAX_AMOUNT)
    reason: str | None = Field(default=None, max_length=500)


class RefundCreate(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class EarningsBucket(BaseModel):
    period_start: str = Field(description="YYYY-MM-DD (day) or YYYY-MM (month), UTC")
    listing_id: str | None = None
    credits: int = Field(description="Net credits received (refunds subtracted)")
    transactions: int


class EarningsOut(BaseModel):
    period: Literal["day", "month"]
    since: datetime
    until: datetime
    total: int
    buckets: list[EarningsBucket]


class CheckoutCreate(BaseModel):
    credits: int = Field(gt=0, le=MAX_CHECKOUT_CREDITS)
    success_url: HttpUrl
    cancel_url: HttpUrl


class CheckoutOut(BaseModel):
    url: str
    session_id: str
    credits: int
    amount_cents: int


class WebhookAck(BaseModel):
    received: bool = True
    credited: bool = Field(description="True when this delivery credited a wallet")
