"""The ports through which agent runs are paid for (the marketplace's per-run pricing) and
kept within budgets (monitoring).

The agents package does not know about listings: the container plugs in an implementation.
`check` runs when a run is created (refuse it early when the wallet cannot pay); `charge`
runs inside the transaction that records a run's success, so a run is charged exactly when
it succeeds, once.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Run


class RunCharges(Protocol):
    async def check(self, session: AsyncSession, workspace_id: str, agent_id: str) -> None:
        """Raises: PaymentRequired when the workspace cannot pay for one run of the agent."""
        ...

    async def charge(self, session: AsyncSession, run: Run) -> None:
        """Charge a succeeded run, if its agent is paid per run. Idempotent per run.
        Raises: PaymentRequired (nothing was written)."""
        ...


class RunBudgets(Protocol):
    async def check(
        self, session: AsyncSession, workspace_id: str, agent_id: str, api_key_id: str | None
    ) -> None:
        """Raises: RateLimitExceeded when a budget covering the run is used up."""
        ...

    async def record(self, session: AsyncSession, run: Run) -> list[dict[str, Any]]:
        """Count a finished run's usage (in the transaction recording it); returns events to
        publish after the commit."""
        ...

    async def publish(self, events: list[dict[str, Any]]) -> None: ...
