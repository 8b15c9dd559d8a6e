"""Cron schedules: CRUD and validation over HTTP, time zones and DST, and firing each slot
exactly once with two schedulers (two containers on the same database) racing for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, update

from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.errors import ValidationFailed
from codexos_server.workflows.models import Schedule, ScheduleFiring, WorkflowRun
from codexos_server.workflows.schedules import check_cron, next_slot
from tests.conftest import Account, assert_envelope
from tests.workflows.helpers import create_workflow, wait_run

SPEC = {
    "nodes": [
        {"id": "in", "type": "input"},
        {"id": "out", "type": "output", "config": {"value": "{{ inputs }}"}},
    ],
    "edges": [{"source": "in", "target": "out"}],
}
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """No background scheduler: the tests tick by hand at chosen instants."""
    return settings_factory(scheduler_enabled=False, job_poll_seconds=0.1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- time -----------------------------------------------------------------------------------


def test_daily_slot_in_paris_is_utc_stored_and_follows_dst() -> None:
    cron = "0 9 * * *"
    assert next_slot(cron, PARIS, utc(2025, 1, 15, 10, 0)) == utc(2025, 1, 16, 8, 0)  # CET
    assert next_slot(cron, PARIS, utc(2025, 7, 15, 10, 0)) == utc(2025, 7, 16, 7, 0)  # CEST
    assert next_slot(cron, PARIS, utc(2025, 1, 15, 7, 59)) == utc(2025, 1, 15, 8, 0)
    # strictly after: a slot is never returned for its own instant
    assert next_slot(cron, PARIS, utc(2025, 1, 15, 8, 0)) == utc(2025, 1, 16, 8, 0)
    # across the spring-forward weekend: 09:00 local is 08:00 UTC, then 07:00 UTC
    assert next_slot(cron, PARIS, utc(2025, 3, 29, 12, 0)) == utc(2025, 3, 30, 7, 0)
    assert next_slot("0 9 * * *", ZoneInfo("UTC"), utc(2025, 1, 15, 10, 0)) == utc(2025, 1, 16, 9)


def test_skipped_and_repeated_wall_times() -> None:
    # 02:30 does not exist on 30 March 2025 in Paris: it fires at 03:30 CEST (01:30 UTC)
    assert next_slot("30 2 * * *", PARIS, utc(2025, 3, 29, 12, 0)) == utc(2025, 3, 30, 1, 30)
    # 02:30 happens twice on 26 October 2025: it fires once, at the first one (00:30 UTC)
    first = next_slot("30 2 * * *", PARIS, utc(2025, 10, 25, 12, 0))
    assert first == utc(2025, 10, 26, 0, 30)
    assert next_slot("30 2 * * *", PARIS, first) == utc(2025, 10, 27, 1, 30)
    # a daily schedule fires once across the fall-back...
    assert next_slot("30 2 * * *", PARIS, utc(2025, 10, 26, 0, 0)) == utc(2025, 10, 26, 0, 30)
    # ...while one whose hour field is `*` follows elapsed time, in both copies of the hour
    assert _series("0 * * * *", utc(2025, 10, 25, 23, 0), 4) == [
        utc(2025, 10, 26, h) for h in (0, 1, 2, 3)
    ]
    assert _series("*/30 * * * *", utc(2025, 10, 26, 0, 10), 4) == [
        utc(2025, 10, 26, 0, 30),
        utc(2025, 10, 26, 1, 0),
        utc(2025, 10, 26, 1, 30),
        utc(2025, 10, 26, 2, 0),
    ]
    # and keeps firing every hour across the spring-forward
    assert _series("0 * * * *", utc(2025, 3, 29, 23, 0), 3) == [
        utc(2025, 3, 30, h) for h in (0, 1, 2)
    ]


def _series(cron: str, after: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    for _ in range(n):
        after = next_slot(cron, PARIS, after)
        out.append(after)
    return out


@pytest.mark.parametrize(
    "cron", ["61 * * * *", "* * * * * *", "* * * *", "0 9 * * MON-XYZ", "0 0 30 2 *", "@daily"]
)
def test_bad_cron_is_a_validation_error(cron: str) -> None:
    with pytest.raises(ValidationFailed):
        next_slot(check_cron(cron), PARIS, utc(2025, 1, 1))


def test_cron_spacing_is_normalised() -> None:
    assert check_cron("  0   9 * *  1-5 ") == "0 9 * * 1-5"


# -- API ------------------------------------------------------------------------------------


async def _workflow(
    client: httpx.AsyncClient, account: Account, spec: dict[str, Any] = SPEC
) -> str:
    return str((await create_workflow(client, account, spec))["id"])


async def test_create_list_get_update_delete(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    wf = await _workflow(client, account)
    body = {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "inputs": {"x": 1}}
    r = await client.post(f"/workflows/{wf}/schedules", json=body, headers=account.headers())
    assert r.status_code == 201, r.text
    schedule = r.json()
    assert schedule["cron"] == "0 9 * * 1-5" and schedule["timezone"] == "Europe/Paris"
    assert schedule["enabled"] is True and schedule["last_fired_at"] is None
    fire_at = datetime.fromisoformat(schedule["next_fire_at"])
    local = fire_at.astimezone(PARIS)
    assert (local.hour, local.minute, local.weekday() < 5) == (9, 0, True)
    assert fire_at > datetime.now(UTC)
    sid = schedule["id"]

    r = await client.get(f"/workflows/{wf}/schedules", headers=account.headers())
    assert [s["id"] for s in r.json()["items"]] == [sid]
    r = await client.get(f"/workflows/{wf}/schedules/{sid}", headers=account.headers())
    assert r.status_code == 200 and r.json()["inputs"] == {"x": 1}

    url = f"/workflows/{wf}/schedules/{sid}"
    r = await client.patch(url, json={"enabled": False}, headers=account.headers())
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["next_fire_at"] is None
    r = await client.patch(
        url,
        json={"enabled": True, "cron": "30 6 * * *", "timezone": "UTC"},
        headers=account.headers(),
    )
    assert r.status_code == 200, r.text
    fire_at = datetime.fromisoformat(r.json()["next_fire_at"])
    assert (fire_at.hour, fire_at.minute) == (6, 30) and r.json()["timezone"] == "UTC"

    assert (await client.delete(url, headers=account.headers())).status_code == 204
    assert_envelope(await client.get(url, headers=account.headers()), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await client.delete(url, headers=account.headers()), 404, "RESOURCE_NOT_FOUND")


async def test_bad_schedules_are_422(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    wf = await _workflow(client, account)
    url = f"/workflows/{wf}/schedules"
    for body, field in [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 9 * * * *"}, "cron"),
        ({"cron": "0 0 30 2 *"}, "cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"cron": "0 9 * * *", "timezone": "../../etc/passwd"}, "timezone"),
    ]:
        error = assert_envelope(
            await client.post(url, json=body, headers=account.headers()), 422, "VALIDATION_ERROR"
        )
        assert error["details"][0]["field"] == field, error
    for body in [
        {},
        {"cron": 5},
        {"cron": "0 9 * * *", "inputs": [1]},
        {"cron": "0 9 * * *", "x": 1},
    ]:
        assert_envelope(
            await client.post(url, json=body, headers=account.headers()), 422, "VALIDATION_ERROR"
        )
    r = await client.post(url, json={"cron": "0 9 * * *"}, headers=account.headers())
    sid = r.json()["id"]
    for patch in [{"cron": "99 * * * *"}, {"timezone": "Nowhere/Land"}, {"enabled": "maybe"}]:
        assert_envelope(
            await client.patch(f"{url}/{sid}", json=patch, headers=account.headers()),
            422,
            "VALIDATION_ERROR",
        )


async def test_inputs_are_checked_against_the_input_schema(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "config": {"schema": {"type": "object", "required": ["topic"]}},
            },
            {"id": "out", "type": "output", "config": {"value": "{{ inputs }}"}},
        ],
        "edges": [{"source": "in", "target": "out"}],
    }
    wf = await _workflow(client, account, spec)
    url = f"/workflows/{wf}/schedules"
    assert_envelope(
        await client.post(url, json={"cron": "0 9 * * *"}, headers=account.headers()),
        422,
        "VALIDATION_ERROR",
    )
    r = await client.post(
        url, json={"cron": "0 9 * * *", "inputs": {"topic": "tides"}}, headers=account.headers()
    )
    assert r.status_code == 201, r.text


async def test_other_workspaces_get_404(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    wf = await _workflow(client, owner)
    r = await client.post(
        f"/workflows/{wf}/schedules", json={"cron": "0 9 * * *"}, headers=owner.headers()
    )
    sid = r.json()["id"]
    base = f"/workflows/{wf}/schedules"
    for response in [
        await client.get(base, headers=other.headers()),
        await client.post(base, json={"cron": "0 9 * * *"}, headers=other.headers()),
        await client.get(f"{base}/{sid}", headers=other.headers()),
        await client.patch(f"{base}/{sid}", json={"enabled": False}, headers=other.headers()),
        await client.delete(f"{base}/{sid}", headers=other.headers()),
    ]:
        assert_envelope(response, 404, "RESOURCE_NOT_FOUND")
    # a schedule id under another of the owner's workflows is not found either
    wf2 = await _workflow(client, owner)
    assert_envelope(
        await client.get(f"/workflows/{wf2}/schedules/{sid}", headers=owner.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    r = await client.get(f"{base}/{sid}", headers=owner.headers())
    assert r.status_code == 200 and r.json()["enabled"] is True


# -- firing ---------------------------------------------------------------------------------


async def _counts(container: Container, schedule_id: str) -> tuple[int, int]:
    async with container.db.read() as session:
        firings = await session.scalar(
            select(func.count())
            .select_from(ScheduleFiring)
            .where(ScheduleFiring.schedule_id == schedule_id)
        )
        runs = await session.scalar(
            select(func.count()).select_from(WorkflowRun).where(WorkflowRun.trigger == "schedule")
        )
    return int(firings or 0), int(runs or 0)


async def _schedule(container: Container, schedule_id: str) -> Schedule:
    async with container.db.read() as session:
        row = await session.get(Schedule, schedule_id)
    assert row is not None
    return row


async def test_two_schedulers_fire_each_slot_exactly_once(
    client: httpx.AsyncClient,
    container: Container,
    settings: Settings,
    make_account: Callable[..., Any],
) -> None:
    account: Account = await make_account()
    wf = await _workflow(client, account)
    r = await client.post(
        f"/workflows/{wf}/schedules",
        json={"cron": "0 9 * * *", "timezone": "Europe/Paris", "inputs": {"n": 1}},
        headers=account.headers(),
    )
    sid = r.json()["id"]
    slot = datetime.fromisoformat(r.json()["next_fire_at"])
    assert slot.astimezone(PARIS).hour == 9

    second = build_container(settings)  # another node: its own engine, pool and runner
    await second.start()
    try:
        fired = await asyncio.gather(container.scheduler.tick(slot), second.scheduler.tick(slot))
        assert sum(fired) == 1
        assert await _counts(container, sid) == (1, 1)
        row = await _schedule(container, sid)
        assert row.next_fire_at == next_slot("0 9 * * *", PARIS, slot)
        assert row.last_fired_at == slot

        # the same slot again, and a tick before the next one: nothing
        again = await asyncio.gather(container.scheduler.tick(slot), second.scheduler.tick(slot))
        assert sum(again) == 0
        assert await _counts(container, sid) == (1, 1)

        # the next slot fires once more, even with many concurrent ticks
        following = row.next_fire_at
        assert following is not None and following - slot in (
            timedelta(hours=23),
            timedelta(hours=24),
            timedelta(hours=25),
        )
        ticks = [s.scheduler.tick(following) for s in (container, second) for _ in range(3)]
        assert sum(await asyncio.gather(*ticks)) == 1
        assert await _counts(container, sid) == (2, 2)

        # either node may run the runs' steps: wait before stopping one of them
        r = await client.get(
            "/workflow-runs", params={"trigger": "schedule"}, headers=account.headers()
        )
        runs = r.json()["items"]
        assert len(runs) == 2
        for run in runs:
            done = await wait_run(client, account, run["id"])
            assert done["status"] == "succeeded" and done["output"] == {"n": 1}, done
            assert done["trigger"] == "schedule"
    finally:
        await second.close()


async def test_a_slot_already_fired_is_skipped_not_retried(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    """The unique (schedule, slot) key refuses a second firing; the loser moves on."""
    account: Account = await make_account()
    wf = await _workflow(client, account)
    r = await client.post(
        f"/workflows/{wf}/schedules", json={"cron": "*/5 * * * *"}, headers=account.headers()
    )
    sid = r.json()["id"]
    slot = datetime.fromisoformat(r.json()["next_fire_at"])
    async with container.db.transaction() as session:
        session.add(ScheduleFiring(schedule_id=sid, slot=slot))
    assert await container.scheduler.tick(slot) == 0
    assert await _counts(container, sid) == (1, 0)
    row = await _schedule(container, sid)
    assert row.next_fire_at == slot + timedelta(minutes=5)
    assert await container.scheduler.tick(slot + timedelta(minutes=5)) == 1
    assert await _counts(container, sid) == (2, 1)


async def test_missed_slots_fire_once_then_resume(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    wf = await _workflow(client, account)
    r = await client.post(
        f"/workflows/{wf}/schedules", json={"cron": "0 * * * *"}, headers=account.headers()
    )
    sid = r.json()["id"]
    slot = datetime.fromisoformat(r.json()["next_fire_at"])
    late = slot + timedelta(hours=5, minutes=20)  # five more slots were missed meanwhile
    assert await container.scheduler.tick(late) == 1
    assert await container.scheduler.tick(late) == 0
    assert await _counts(container, sid) == (1, 1)
    row = await _schedule(container, sid)
    assert row.next_fire_at == slot + timedelta(hours=6)


async def test_disabled_and_deleted_schedules_do_not_fire(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    wf = await _workflow(client, account)
    base = f"/workflows/{wf}/schedules"
    r = await client.post(
        base, json={"cron": "* * * * *", "enabled": False}, headers=account.headers()
    )
    assert r.json()["next_fire_at"] is None
    far = datetime.now(UTC) + timedelta(days=400)
    assert await container.scheduler.tick(far) == 0
    r = await client.post(base, json={"cron": "* * * * *"}, headers=account.headers())
    assert (
        await client.delete(f"{base}/{r.json()['id']}", headers=account.headers())
    ).status_code == 204
    assert await container.scheduler.tick(far) == 0


async def test_the_background_scheduler_fires_due_schedules(
    client: httpx.AsyncClient,
    container: Container,
    client_factory: Callable[..., Any],
    make_account: Callable[..., Any],
) -> None:
    """An app started with the scheduler on fires a due schedule by itself."""
    await client_factory(scheduler_enabled=True, scheduler_interval_seconds=0.05)
    account: Account = await make_account()
    wf = await _workflow(client, account)
    r = await client.post(
        f"/workflows/{wf}/schedules",
        json={"cron": "0 0 1 1 *", "inputs": {"auto": True}},
        headers=account.headers(),
    )
    sid = r.json()["id"]
    async with container.db.transaction() as session:
        await session.execute(
            update(Schedule)
            .where(Schedule.id == sid)
            .values(next_fire_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    deadline = time.monotonic() + 20
    while (await _counts(container, sid))[0] == 0:
        assert time.monotonic() < deadline, "the background scheduler never fired"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # more ticks: still one firing
    assert await _counts(container, sid) == (1, 1)
    r = await client.get(
        "/workflow-runs", params={"trigger": "schedule"}, headers=account.headers()
    )
    done = await wait_run(client, account, r.json()["items"][0]["id"])
    assert done["status"] == "succeeded" and done["output"] == {"auto": True}
