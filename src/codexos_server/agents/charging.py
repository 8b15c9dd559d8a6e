"""The port through which agent runs are paid for (the marketplace's per-run pricing).

The agents package does not know about listings: the container plugs in an implementation.
`check` runs when a run is created (refuse it early when the wallet cannot pay); `charge`
runs inside the transaction that records a run's success, so a run is charged exactly when
it succeeds, once.
"""

from __future__ import annotations

from typing import Protocol

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
