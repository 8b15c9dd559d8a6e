"""Cron schedules of workflows, and the Scheduler that fires them.

Every API node and worker may run a Scheduler; a slot still fires once. Firing a slot is one
transaction that inserts the ScheduleFiring row (UNIQUE(schedule_id, slot)), starts the run
and advances `next_fire_at`; a scheduler that loses the race gets an IntegrityError on the
insert, rolls back, and moves on.

Time: cron is matched on the schedule's own wall clock (IANA zone), and `next_fire_at` is
stored in UTC. A wall time skipped by a spring-forward jump fires at the instant the offset
before the jump gives it (an hour late on the wall clock, e.g. 02:30 → 03:30 in Paris). A
wall time that occurs twice at a fall-back fires once, on its first occurrence, unless the
hour field is `*`: such schedules follow elapsed time and fire in both copies of the hour
(Vixie cron behaves the same way).

Catch-up: after downtime the earliest missed slot fires once (late), and `next_fire_at`
moves to the first slot after *now*: the slots in between are skipped, not fired in a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import NotFound, ValidationFailed
from codexos_server.log import get_logger
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.users.models import User
from codexos_server.workflows.models import Schedule, ScheduleFiring, Workflow
from codexos_server.workflows.runs import WorkflowRunService, check_inputs
from codexos_server.workflows.schemas import ScheduleCreate, ScheduleOut
from codexos_server.workflows.service import WorkflowService
from codexos_server.workflows.spec import WorkflowSpec
from codexos_server.workflows.state import Progress
from codexos_server.workflows.trigger_schemas import ScheduleUpdate
from codexos_server.workspaces.permissions import Action

log = get_logger("codexos.workflows.scheduler")

TICK_BATCH = 500  # due schedules fired per tick at most; the rest wait for the next tick
DST_REACH = timedelta(hours=3)  # more than any clock change


def parse_zone(name: str) -> ZoneInfo:
    """Raises: ValidationFailed for a name that is not an IANA time zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(
            "Unknown time zone",
            [{"field": "timezone", "message": f"{name!r} is not an IANA time zone name"}],
        ) from exc


def check_cron(expression: str) -> str:
    """The expression with normalised spacing. Raises: ValidationFailed unless it is a valid
    standard five-field cron expression (minute hour day-of-month month day-of-week)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValidationFailed(
            "Invalid cron expression",
            [{"field": "cron", "message": f"expected 5 fields, got {len(fields)}"}],
        )
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised):
        raise ValidationFailed(
            "Invalid cron expression",
            [{"field": "cron", "message": f"{normalised!r} is not a valid cron expression"}],
        )
    return normalised


def next_slot(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first slot strictly after `after` (aware), in UTC; see the module docstring for
    how daylight-saving changes are handled.

    Raises: ValidationFailed when the expression never matches (e.g. 30 February)."""
    try:
        if _offset(zone, after - DST_REACH) == _offset(zone, after + DST_REACH):
            return _next_plain(expression, zone, after)
        return _next_near_transition(expression, zone, after)
    except CroniterBadDateError as exc:
        raise ValidationFailed(
            "The cron expression never fires",
            [{"field": "cron", "message": f"{expression!r} matches no date"}],
        ) from exc


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _next_plain(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """No clock change near `after`: the next wall-clock match is the next slot."""
    slots = croniter(expression, after.astimezone(zone).replace(tzinfo=None))
    while True:
        instant = _instants(slots.get_next(datetime), zone, both=False)[0]
        if instant > after:
            return instant


def _next_near_transition(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """Around a clock change wall times and instants are not in the same order: look at
    every wall-clock match within reach and take the earliest instant after `after`."""
    both = expression.split()[1] == "*"
    slots = croniter(expression, after.astimezone(zone).replace(tzinfo=None) - DST_REACH)
    best: datetime | None = None
    best_wall: datetime | None = None
    while True:
        wall: datetime = slots.get_next(datetime)
        if best is not None and best_wall is not None and wall > best_wall + DST_REACH:
            return best
        for instant in _instants(wall, zone, both=both):
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, wall


def _instants(wall: datetime, zone: ZoneInfo, *, both: bool) -> list[datetime]:
    """The UTC instants a wall-clock slot stands for: its first occurrence (for a time the
    spring-forward skips, the pre-jump offset applied to it), and with `both` the second
    occurrence of a time the fall-back repeats."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if not both:
        return [first]
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    repeated = second != first and second.astimezone(zone).replace(tzinfo=None) == wall
    return [first, second] if repeated else [first]


def schedule_out(row: Schedule) -> ScheduleOut:
    return ScheduleOut.model_validate(row, from_attributes=True)


async def run_user(session: AsyncSession, user_id: str | None) -> str | None:
    """The user a triggered run acts for, if that user still exists."""
    if user_id is None:
        return None
    return await session.scalar(select(User.id).where(User.id == user_id))


class ScheduleService:
    def __init__(self, db: Database, workflows: WorkflowService) -> None:
        self.db = db
        self.workflows = workflows

    async def _load(
        self, session: AsyncSession, actor: Principal, workflow_id: str, schedule_id: str
    ) -> Schedule:
        await self.workflows.load(session, actor.workspace_id, workflow_id)
        row = await session.scalar(
            select(Schedule).where(Schedule.id == schedule_id, Schedule.workflow_id == workflow_id)
        )
        if row is None:
            raise NotFound("schedule", schedule_id)
        return row

    async def create(self, actor: Principal, workflow_id: str, body: ScheduleCreate) -> ScheduleOut:
        """Raises: NotFound, ValidationFailed (cron, time zone, inputs)."""
        actor.require(Action.WRITE)
        cron = check_cron(body.cron)
        zone = parse_zone(body.timezone)
        next_fire_at = next_slot(cron, zone, utcnow())
        async with self.db.transaction() as session:
            workflow = await self.workflows.load(session, actor.workspace_id, workflow_id)
            _check_schedule_inputs(workflow, body.inputs)
            row = Schedule(
                workflow_id=workflow.id,
                workspace_id=workflow.workspace_id,
                created_by=actor.user_id,
                cron=cron,
                timezone=zone.key,
                inputs=body.inputs,
                enabled=body.enabled,
                next_fire_at=next_fire_at if body.enabled else None,
            )
            session.add(row)
            await session.flush()
            return schedule_out(row)

    async def list(
        self, actor: Principal, workflow_id: str, params: PageParams
    ) -> Page[ScheduleOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.workflows.load(session, actor.workspace_id, workflow_id)
            stmt = select(Schedule).where(Schedule.workflow_id == workflow_id)
            rows, cursor = await paginate(session, stmt, params, Schedule.created_at, Schedule.id)
            return Page(items=[schedule_out(r[0]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, workflow_id: str, schedule_id: str) -> ScheduleOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            return schedule_out(await self._load(session, actor, workflow_id, schedule_id))

    async def update(
        self, actor: Principal, workflow_id: str, schedule_id: str, body: ScheduleUpdate
    ) -> ScheduleOut:
        """Change cron, time zone, inputs or enabled; the next slot is computed afresh from
        now. Raises: NotFound, ValidationFailed."""
        actor.require(Action.WRITE)
        cron = check_cron(body.cron) if body.cron is not None else None
        zone = parse_zone(body.timezone) if body.timezone is not None else None
        async with self.db.transaction() as session:
            row = await self._load(session, actor, workflow_id, schedule_id)
            if body.inputs is not None:
                workflow = await self.workflows.load(session, actor.workspace_id, workflow_id)
                _check_schedule_inputs(workflow, body.inputs)
                row.inputs = body.inputs
            if cron is not None:
                row.cron = cron
            if zone is not None:
                row.timezone = zone.key
            if body.enabled is not None:
                row.enabled = body.enabled
            row.next_fire_at = (
                next_slot(row.cron, parse_zone(row.timezone), utcnow()) if row.enabled else None
            )
            await session.flush()
            return schedule_out(row)

    async def delete(self, actor: Principal, workflow_id: str, schedule_id: str) -> None:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            await session.delete(await self._load(session, actor, workflow_id, schedule_id))


def _check_schedule_inputs(workflow: Workflow, inputs: dict[str, Any]) -> None:
    """Refuse inputs the workflow's current input schema rejects, at save time rather than
    at every firing. Raises: ValidationFailed."""
    check_inputs(WorkflowSpec.model_validate(workflow.spec), inputs)


class Scheduler:
    """Fires due schedules; `start()` runs `tick()` every interval in a background task."""

    def __init__(self, db: Database, runs: WorkflowRunService, interval_seconds: float) -> None:
        self.db = db
        self.runs = runs
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime | None = None) -> int:
        """Fire every enabled schedule whose next slot is due; returns the runs started here
        (slots that another scheduler fired first are not counted)."""
        now = now or utcnow()
        async with self.db.read() as session:
            due = (
                await session.scalars(
                    select(Schedule.id)
                    .where(Schedule.enabled.is_(True), Schedule.next_fire_at <= now)
                    .order_by(Schedule.next_fire_at)
                    .limit(TICK_BATCH)
                )
            ).all()
        fired = 0
        for schedule_id in due:
            try:
                fired += await self._fire(schedule_id, now)
            except Exception:  # one broken schedule must not stop the others
                log.exception("schedule_fire_failed", schedule_id=schedule_id)
        return fired

    async def _fire(self, schedule_id: str, now: datetime) -> int:
        progress = Progress()
        slot: datetime | None = None
        run_id: str | None = None
        try:
            async with self.db.transaction() as session:
                schedule = await session.get(Schedule, schedule_id)
                if schedule is None or not schedule.enabled or schedule.next_fire_at is None:
                    return 0
                slot = schedule.next_fire_at
                if slot > now:
                    return 0  # another scheduler fired it meanwhile
                firing = ScheduleFiring(schedule_id=schedule_id, slot=slot)
                session.add(firing)
                await session.flush()  # the slot is ours from here, or IntegrityError
                schedule.next_fire_at = next_slot(
                    schedule.cron, ZoneInfo(schedule.timezone), max(now, slot)
                )
                schedule.last_fired_at = now
                run_id = firing.run_id = await self._start(session, schedule, progress)
        except IntegrityError as exc:
            log.info(
                "schedule_slot_taken",
                schedule_id=schedule_id,
                slot=str(slot),
                error=type(exc).__name__,
            )
            if slot is not None:
                await self._skip_fired(schedule_id, slot, now)
            return 0
        await self.runs.engine.after(progress)
        return 1 if run_id is not None else 0

    async def _start(
        self, session: AsyncSession, schedule: Schedule, progress: Progress
    ) -> str | None:
        """Start the slot's run; inputs the workflow no longer accepts skip the slot (logged)
        rather than retrying it every tick."""
        workflow = await session.get(Workflow, schedule.workflow_id)
        if workflow is None:
            return None
        user_id = await run_user(session, schedule.created_by)
        try:
            run = await self.runs.start_in(
                session, workflow, schedule.inputs or {}, "schedule", user_id, progress
            )
        except ValidationFailed as exc:
            log.warning("schedule_inputs_rejected", schedule_id=schedule.id, details=exc.details)
            return None
        return run.id

    async def _skip_fired(self, schedule_id: str, slot: datetime, now: datetime) -> None:
        """A firing for this slot exists but the schedule still points at it (it cannot after
        a normal race, whose winner advanced it): move past it so it is not retried."""
        async with self.db.transaction() as session:
            schedule = await session.get(Schedule, schedule_id)
            if schedule is None or schedule.next_fire_at != slot:
                return
            following = next_slot(schedule.cron, ZoneInfo(schedule.timezone), max(now, slot))
            await session.execute(
                update(Schedule)
                .where(Schedule.id == schedule_id, Schedule.next_fire_at == slot)
                .values(next_fire_at=following)
            )

    def start(self) -> None:
        """Tick in the background until `stop()`; a failed tick is logged and retried."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="workflow-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler_tick_failed")
            await asyncio.sleep(self.interval_seconds)
