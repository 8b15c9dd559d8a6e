"""The agent loop: build the prompt, call the model, run the tools it asks for, repeat until
it answers or the step limit stops it. Every model and tool call is recorded as a step, and
everything that happens is published on `run:{id}`."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.charging import RunBudgets, RunCharges
from codexos_server.agents.memory import ConversationMemory
from codexos_server.agents.models import AgentType, AgentVersion, Run, RunStatus, RunStep
from codexos_server.agents.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    spec_of,
    validate_arguments,
)
from codexos_server.agents.tools.resolve import ToolResolver
from codexos_server.config import Settings
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import AppError, PaymentRequired
from codexos_server.events.bus import EventBus, workspace_channel
from codexos_server.llm.port import ModelError
from codexos_server.llm.providers import ProviderService, ResolvedModel
from codexos_server.llm.types import ChatMessage, ChatRequest, ChatResult, Usage
from codexos_server.log import get_logger
from codexos_server.monitoring import tracing
from codexos_server.monitoring.prometheus import metrics_of

log = get_logger("codexos.agents")

TOOL_TIMEOUT_SECONDS = 60.0
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

Canceller = Callable[[], Awaitable[bool]]


class RunCancelled(Exception):
    """Raised between steps when the run was asked to stop."""

    pass


def run_channel(run_id: str) -> str:
    return f"run:{run_id}"


def render(template: str, variables: dict[str, str]) -> str:
    """Fill `{{name}}` placeholders; unknown names are left as written."""
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), template)


def as_text(input_data: Any) -> str:
    return input_data if isinstance(input_data, str) else json.dumps(input_data, ensure_ascii=False)


@dataclass
class _State:
    run: Run
    snapshot: dict[str, Any]
    model: ResolvedModel | None = None
    usage: Usage = field(default_factory=Usage)
    steps: list[RunStep] = field(default_factory=list)
    unsaved: list[RunStep] = field(default_factory=list)  # written with the run's final state
    citations: list[dict[str, Any]] = field(default_factory=list)


# Agent versions are immutable, so their snapshots can be kept for the life of the process.
_SNAPSHOTS: dict[tuple[str, int], dict[str, Any]] = {}
_SNAPSHOTS_MAX = 4096


async def load_snapshot(session: AsyncSession, run: Run) -> dict[str, Any]:
    """The agent version a run uses (from a process-wide cache of immutable versions)."""
    key = (run.agent_id, run.agent_version)
    cached = _SNAPSHOTS.get(key)
    if cached is None:
        snapshot = await session.scalar(
            select(AgentVersion.snapshot).where(
                AgentVersion.agent_id == run.agent_id, AgentVersion.version == run.agent_version
            )
        )
        cached = dict(snapshot or {})
        if len(_SNAPSHOTS) >= _SNAPSHOTS_MAX:
            _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
        _SNAPSHOTS[key] = cached
    return cached


class AgentRuntime:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        providers: ProviderService,
        tools: ToolResolver,
        memory: ConversationMemory,
        settings: Settings,
    ) -> None:
        self.db = db
        self.events = events
        self.providers = providers
        self.tools = tools
        self.memory = memory
        self.settings = settings
        self.services: Any = None  # the Container, for tools that call other services
        self.charges: RunCharges | None = None  # per-run pricing (the marketplace)
        self.budgets: RunBudgets | None = None  # usage budgets (monitoring)

    async def execute(self, run_id: str, *, emit_tokens: bool, is_cancelled: Canceller) -> None:
        """Run a queued run (a background job) to its end. A run that already started is
        left alone, so a re-delivered job never executes an agent twice."""
        async with self.db.transaction() as session:
            claimed = await session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.RUNNING.value, started_at=utcnow())
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return
            run = await session.get_one(Run, run_id)
            snapshot = await load_snapshot(session, run)
        await self.run(run, snapshot, emit_tokens=emit_tokens, is_cancelled=is_cancelled)

    async def run(
        self, run: Run, snapshot: dict[str, Any], *, emit_tokens: bool, is_cancelled: Canceller
    ) -> Run:
        """Run a claimed (`running`) run to its end; returns it in its final state. The steps
        are written together with that final state, in one transaction."""
        await self.events.publish_many(
            [run_channel(run.id), workspace_channel(run.workspace_id)],
            "run.started",
            {"run_id": run.id, "agent_id": run.agent_id, "agent_version": run.agent_version},
        )
        state = _State(run, snapshot)
        try:
            state.model = await self.providers.resolve(
                run.workspace_id, snapshot.get("model") or {}
            )
            output, status, error = await self._loop(state, emit_tokens, is_cancelled)
        except RunCancelled:
            return await self._finish(state, RunStatus.CANCELLED, None, None)
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(state, RunStatus.CANCELLED, None, None))
            raise
        except (ModelError, AppError) as exc:
            kind = "model_error" if isinstance(exc, ModelError) else getattr(exc, "code", "error")
            message = str(getattr(exc, "message", exc))
            return await self._finish(
                state, RunStatus.FAILED, None, {"type": kind, "message": message}
            )
        except Exception as exc:
            log.exception("agent run crashed", run_id=run.id)
            error = {"type": "internal_error", "message": type(exc).__name__}
            return await self._finish(state, RunStatus.FAILED, None, error)
        finished = await self._finish(state, status, output, error)
        succeeded = finished.status == RunStatus.SUCCEEDED.value
        if succeeded and run.conversation_id and output is not None:
            await self.memory.append(
                run.conversation_id, run.id, [("user", as_text(run.input)), ("assistant", output)]
            )
        return finished

    async def _loop(
        self, state: _State, emit_tokens: bool, is_cancelled: Canceller
    ) -> tuple[str | None, RunStatus, dict[str, Any] | None]:
        run, snapshot = state.run, state.snapshot
        variables = {**(snapshot.get("variables") or {}), **(run.variables or {})}
        system = ChatMessage("system", render(snapshot.get("instructions") or "", variables))
        user = ChatMessage("user", as_text(run.input))
        model_settings = snapshot.get("model") or {}
        reply_tokens = int(model_settings.get("max_tokens", 512))
        memory = snapshot.get("memory") or {}
        if run.conversation_id:
            assert state.model is not None
            messages = await self.memory.context(
                run.conversation_id,
                state.model,
                system,
                user,
                int(memory.get("max_messages", 20)),
                bool(memory.get("summarize", True)),
                reply_tokens,
            )
        else:
            messages = [system, user]
        if snapshot.get("type") == AgentType.RAG.value:
            messages = await self._retrieve(state, messages, user)
        tools: dict[str, Tool] = {}
        if snapshot.get("type") == AgentType.TOOL.value:
            tools = await self.tools.for_agent(run.workspace_id, snapshot.get("tools") or [])
        max_steps = int(snapshot.get("max_steps") or self.settings.agent_max_steps)
        last_content: str | None = None
        for step in range(max_steps):
            # Checked between steps: before the first one there is nothing to interrupt, and
            # a run cancelled while still queued never gets here.
            if step and await is_cancelled():
                raise RunCancelled
            with tracing.model_span(run.id, state.model) as traced:
                result = await self._model_call(state, messages, tools, model_settings, emit_tokens)
                tracing.record_model_result(traced, result)
            last_content = result.content
            if not result.tool_calls or not tools:
                return result.content, RunStatus.SUCCEEDED, None
            messages.append(ChatMessage("assistant", result.content, result.tool_calls))
            for call in result.tool_calls:
                if await is_cancelled():
                    raise RunCancelled
                with tracing.tool_span(run.id, call.name, call.id):
                    observation = await self._tool_call(
                        state, tools, call.name, call.arguments, call.id
                    )
                messages.append(
                    ChatMessage("tool", observation, tool_call_id=call.id, name=call.name)
                )
        error = {
            "type": "max_steps",
            "message": f"stopped after {max_steps} steps without a final answer",
        }
        return last_content, RunStatus.INCOMPLETE, error

    async def _retrieve(
        self, state: _State, messages: list[ChatMessage], user: ChatMessage
    ) -> list[ChatMessage]:
        """`rag` agents: search their knowledge bases with the user's message and put the
        numbered sources in the prompt; the run returns them as `citations`."""
        kb_ids = list(state.snapshot.get("knowledge_base_ids") or [])
        if not kb_ids:
            return messages
        started, clock = utcnow(), time.perf_counter()
        hits = await self.services.knowledge_bases.search_many(
            state.run.workspace_id, kb_ids, user.content
        )
        state.citations = [
            {
                "index": i,
                "document_id": h.document_id,
                "document_name": h.document_name,
                "chunk_id": h.chunk_id,
                "position": h.position,
                "page": h.page,
                "citation": citation,
                "score": h.score,
            }
            for i, (h, citation) in enumerate(hits, start=1)
        ]
        await self._record(
            state,
            "retrieval",
            "knowledge_bases",
            {"query": user.content, "knowledge_base_ids": kb_ids},
            [
                {k: c[k] for k in ("index", "document_id", "chunk_id", "score")}
                for c in state.citations
            ],
            None,
            None,
            started,
            clock,
        )
        if not hits:
            sources = "No sources were found for this question; say so if you cannot answer."
        else:
            sources = "Answer from these sources and cite them as [n]:\n\n" + "\n\n".join(
                f"[{i}] {citation}\n{h.text}" for i, (h, citation) in enumerate(hits, start=1)
            )
        return [*messages[:-1], ChatMessage("system", sources), messages[-1]]

    async def _model_call(
        self,
        state: _State,
        messages: list[ChatMessage],
        tools: dict[str, Tool],
        model_settings: dict[str, Any],
        emit_tokens: bool,
    ) -> ChatResult:
        assert state.model is not None
        request = ChatRequest(
            messages=tuple(messages),
            model=state.model.model,
            temperature=float(model_settings.get("temperature", 0.7)),
            max_tokens=int(model_settings.get("max_tokens", 512)),
            tools=tuple(spec_of(t) for t in tools.values()),
            options=dict(model_settings.get("options") or {}),
        )
        started, clock = utcnow(), time.perf_counter()
        channel = run_channel(state.run.id)
        result: ChatResult | None = None
        error: dict[str, Any] | None = None
        try:
            if emit_tokens:
                async for chunk in state.model.chat.stream(request):
                    if chunk.delta:
                        await self.events.publish(channel, "token", {"delta": chunk.delta})
                    if chunk.result is not None:
                        result = chunk.result
                if result is None:
                    raise ModelError("the model stream ended without a result")
            else:
                result = await state.model.chat.complete(request)
        except ModelError as exc:
            error = {"type": "model_error", "message": str(exc)}
            raise
        finally:
            metrics_of(self.services).model_call(
                state.model.provider, result, time.perf_counter() - clock
            )
            await self._record(
                state,
                "model_call",
                state.model.model,
                {"messages": len(messages), "tools": sorted(tools)},
                None
                if result is None
                else {
                    "content": result.content,
                    "tool_calls": [
                        {"id": c.id, "name": c.name, "arguments": c.arguments}
                        for c in result.tool_calls
                    ],
                    "finish_reason": result.finish_reason,
                },
                error,
                result.usage if result else None,
                started,
                clock,
            )
        state.usage = state.usage + result.usage
        return result

    async def _tool_call(
        self,
        state: _State,
        tools: dict[str, Tool],
        name: str,
        arguments: dict[str, Any],
        call_id: str,
    ) -> str:
        """Run one tool call; any failure becomes the observation the model sees."""
        channel = run_channel(state.run.id)
        await self.events.publish(
            channel, "tool_call", {"call_id": call_id, "name": name, "arguments": arguments}
        )
        started, clock = utcnow(), time.perf_counter()
        output: Any = None
        error: dict[str, Any] | None = None
        tool = tools.get(name)
        try:
            if tool is None:
                raise ToolError(
                    f"unknown tool {name!r}; available: {', '.join(sorted(tools)) or 'none'}"
                )
            args = validate_arguments(tool.parameters, arguments)
            ctx = ToolContext(
                workspace_id=state.run.workspace_id,
                user_id=state.run.user_id,
                run_id=state.run.id,
                depth=state.run.depth,
                config=self.tools.config_for(state.snapshot.get("tools") or [], name),
                knowledge_base_ids=tuple(state.snapshot.get("knowledge_base_ids") or ()),
                services=self.services,
            )
            async with asyncio.timeout(TOOL_TIMEOUT_SECONDS):
                output = await tool(ctx, args)
            observation = (
                output
                if isinstance(output, str)
                else json.dumps(output, ensure_ascii=False, default=str)
            )
        except ToolError as exc:
            error = {"type": "tool_error", "message": str(exc)}
        except TimeoutError:
            error = {
                "type": "timeout",
                "message": f"the tool took longer than {TOOL_TIMEOUT_SECONDS:g} s",
            }
        except Exception as exc:  # a tool bug must not end the run: the model sees it
            log.warning("tool raised", tool=name, error=repr(exc))
            error = {"type": "tool_exception", "message": f"{type(exc).__name__}: {exc}"[:500]}
        if error is not None:
            observation = f"Error: {error['message']}"
            tracing.record_error(error["type"])
        await self._record(
            state,
            "tool_call",
            name,
            {"call_id": call_id, "arguments": arguments},
            output,
            error,
            None,
            started,
            clock,
        )
        await self.events.publish(
            channel,
            "tool_result",
            {"call_id": call_id, "name": name, "ok": error is None, "output": observation[:2000]},
        )
        return observation

    async def _record(
        self,
        state: _State,
        kind: str,
        name: str,
        input: Any,
        output: Any,
        error: dict[str, Any] | None,
        usage: Usage | None,
        started: Any,
        clock: float,
    ) -> None:
        """Keep a step. A synchronous run writes its steps with its final state (its caller
        is waiting anyway; one transaction instead of one per step); background and streamed
        runs write each step as it ends, so `GET /runs/{id}` shows their progress."""
        step = RunStep(
            run_id=state.run.id,
            position=len(state.steps),
            kind=kind,
            name=name,
            input=input,
            output=output,
            error=error,
            usage={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            }
            if usage
            else None,
            started_at=started,
            duration_ms=round((time.perf_counter() - clock) * 1000, 3),
        )
        state.steps.append(step)
        if state.run.mode == "sync":
            state.unsaved.append(step)
            return
        async with self.db.transaction() as session:
            session.add(step)

    def _cost(self, model: str, usage: Usage) -> float:
        price_in, price_out = self.settings.llm_prices.get(model, (0.0, 0.0))
        return round(
            usage.prompt_tokens / 1000 * price_in + usage.completion_tokens / 1000 * price_out, 8
        )

    async def _finish(
        self,
        state: _State,
        status: RunStatus,
        output: str | None,
        error: dict[str, Any] | None,
    ) -> Run:
        run, model = state.run, state.model
        usage = state.usage
        usage_out = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        values: dict[str, Any] = {
            "status": status.value,
            "output": output,
            "error": error,
            "usage": usage_out,
            "cost": self._cost(model.model, usage) if model else 0.0,
            "model": f"{model.provider}/{model.model}" if model else None,
            "citations": state.citations or None,
            "finished_at": utcnow(),
        }
        async with self.db.transaction() as session:
            if status is RunStatus.SUCCEEDED and self.charges is not None:
                try:
                    async with session.begin_nested():
                        await self.charges.charge(session, run)
                except PaymentRequired as exc:
                    # Its result is withheld: a run that was not paid for did not succeed.
                    status, output = RunStatus.FAILED, None
                    error = {"type": exc.code, "message": exc.message}
                    values.update(status=status.value, output=output, error=error)
            await session.execute(update(Run).where(Run.id == run.id).values(**values))
            session.add_all(state.unsaved)
            for field_name, value in values.items():
                setattr(run, field_name, value)
            budget_events = (
                await self.budgets.record(session, run) if self.budgets is not None else []
            )
        if budget_events and self.budgets is not None:
            await self.budgets.publish(budget_events)
        metrics_of(self.services).run_finished(status.value, float(values["cost"]))
        payload: dict[str, Any] = {
            "run_id": run.id,
            "status": status.value,
            "output": output,
            "error": error,
            "usage": usage_out,
        }
        if state.citations:
            payload["citations"] = state.citations
        await self.events.publish_many(
            [run_channel(run.id), workspace_channel(run.workspace_id)],
            f"run.{status.value}",
            payload,
        )
        return run
