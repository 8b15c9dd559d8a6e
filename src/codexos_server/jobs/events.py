"""Job lifecycle events, published on `job:{id}` and on the job's `workspace:{id}`."""

from __future__ import annotations

from typing import Any

from codexos_server.events.bus import EventBus, workspace_channel

# One process-wide channel that tells runners a job they may be running was cancelled, so a
# cancellation reaches the handler at once instead of at the next heartbeat.
CANCEL_CHANNEL = "jobs:cancel"


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


async def publish_job_event(
    events: EventBus,
    job_id: str,
    workspace_id: str | None,
    type: str,
    data: dict[str, Any] | None = None,
) -> None:
    channels = [job_channel(job_id)] + ([workspace_channel(workspace_id)] if workspace_id else [])
    await events.publish_many(channels, type, {"job_id": job_id, **(data or {})})
