"""Ledger tables: accounts with cached balances, transactions, and their balanced entries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codexos_server.db.base import Base, IdMixin, JSONType, TimestampMixin, utcnow


class AccountKind(StrEnum):
    WALLET = "wallet"  # one per workspace; never negative
    PLATFORM_FEE = "platform_fee"  # the platform's cut of purchases and run charges
    EXTERNAL = "external"  # money entering from outside (a provider); negative by design


class TransactionKind(StrEnum):
    TOPUP = "topup"
    GRANT = "grant"
    PURCHASE = "purchase"
    RUN_CHARGE = "run_charge"
    REFUND = "refund"


class LedgerAccount(IdMixin, TimestampMixin, Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # The ledger checks before it writes; this is the backstop.
        CheckConstraint("kind != 'wallet' OR balance >= 0", name="wallet_not_negative"),
    )

    # "wallet:<workspace id>", "platform_fee" or "external:<provider>": one row per key.
    key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL"), index=True
    )
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransaction(IdMixin, Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (UniqueConstraint("idempotency_scope", "idempotency_key"),)

    kind: Mapped[str] = mapped_column(String(20))
    # The workspace that initiated it (the buyer, the credited workspace); None for system work.
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    amount: Mapped[int] = mapped_column(BigInteger)  # the headline amount, always positive
    # Keys are unique per scope: the payer's workspace id, "admin_grant", "stripe", "refund".
    idempotency_scope: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    reference: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    refund_of: Mapped[str | None] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False, index=True)


class LedgerEntry(IdMixin, Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("transaction_id", "account_id"),)

    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # signed; a transaction's entries sum to 0
