"""OpenTelemetry tracing, on when `settings.otel_endpoint` is set.

Spans: one per HTTP request (kind SERVER, named `GET /api/v1/agents/{agent_id}`, its parent
taken from an incoming W3C `traceparent`) and, nested in whatever is current, model calls,
tool calls, knowledge retrieval and workflow nodes. A BatchSpanProcessor sends them to an
OTLP/HTTP collector; the container flushes and stops it on close.

Off (the default) tracing costs nothing: the OpenTelemetry SDK and exporter are imported only
by `setup_tracing`, the request middleware is not installed, and every instrumentation point
gets one shared `nullcontext` back after a single `is None` check.

Attributes carry ids, names, counts and statuses only: never prompts, outputs, tool arguments
or anything secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codexos_server import __version__
from codexos_server.config import Settings
from codexos_server.middleware import route_template
from codexos_server.monitoring.requests import UNMATCHED_ROUTE

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from codexos_server.llm.types import ChatResult

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue | None]
Kind = Literal["internal", "server", "client"]

INSTRUMENTATION_NAME = "codexos_server"

# The tracer every instrumentation point uses; None while tracing is off.
tracer: Tracer | None = None

_OFF: nullcontext[None] = nullcontext()
_TRACE_HEADERS = (b"traceparent", b"tracestate")


class _Otel:
    """The few OpenTelemetry objects the hot paths need, loaded by `setup_tracing` (so that
    nothing is imported while tracing is off)."""

    kinds: dict[str, Any]
    error_status: Any
    propagator: Any
    current_span: Any


class Tracing:
    """A configured tracer provider. `flush()` exports what is buffered; `close()` flushes and
    stops it (the container calls it on shutdown)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Export every finished span now (blocking); False if the exporter timed out."""
        return bool(self.provider.force_flush(int(timeout_seconds * 1000)))

    async def close(self) -> None:
        """Stop handing out this tracer, then flush and shut the provider down in a thread
        (the exporter's last POST must not block the event loop)."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
            _use(_ACTIVE[-1] if _ACTIVE else None)
        await asyncio.to_thread(self.provider.shutdown)


# Set-up tracers, latest last. One per process in production; tests build several apps.
_ACTIVE: list[Tracing] = []


def _use(handle: Tracing | None) -> None:
    global tracer
    tracer = handle.tracer if handle is not None else None


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: `http://collector:4318` → `http://collector:4318/v1/traces`
    (a URL that already ends in `/v1/traces` is kept)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def setup_tracing(settings: Settings, role: str = "api") -> Tracing | None:
    """Start exporting spans when `otel_endpoint` is set; None (and no import) otherwise.

    The provider is this app's own, not the global one: FastAPI's and redis-py's built-in
    telemetry stay off, and several apps in one process (tests) do not fight over it.
    """
    if not settings.otel_endpoint:
        return None
    # Imported here and not at the top: with tracing off the SDK is never loaded.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _Otel.kinds = {
        "internal": trace.SpanKind.INTERNAL,
        "server": trace.SpanKind.SERVER,
        "client": trace.SpanKind.CLIENT,
    }
    _Otel.error_status = trace.Status(trace.StatusCode.ERROR)
    _Otel.propagator = TraceContextTextMapPropagator()
    _Otel.current_span = trace.get_current_span
    resource = Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": __version__,
            "codexos.role": role,
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=traces_url(settings.otel_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    handle = Tracing(provider)
    _ACTIVE.append(handle)
    _use(handle)
    return handle


# -- instrumentation points ---------------------------------------------------------------


def span(
    name: str, attributes: Attributes | None = None, *, kind: Kind = "internal"
) -> AbstractContextManager[Span | None]:
    """A span around a block, the current span inside it; the shared no-op when off. An
    exception leaving the block marks the span failed with its class as `error.type`."""
    if tracer is None:
        return _OFF
    return _span(tracer, name, attributes, kind)


def model_span(run_id: str, model: _ModelRef | None) -> AbstractContextManager[Span | None]:
    """A model call of an agent run (GenAI semantic conventions)."""
    if tracer is None:
        return _OFF
    name = model.model if model is not None else "unknown"
    attributes: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": model.provider if model is not None else None,
        "gen_ai.request.model": name,
        "codexos.run_id": run_id,
    }
    return _span(tracer, f"chat {name}", attributes, "client")


def record_model_result(current: Span | None, result: ChatResult) -> None:
    """Token usage and finish reason of a model call (never its content)."""
    if current is not None:
        current.set_attributes(
            {
                "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": result.usage.completion_tokens,
                "gen_ai.response.finish_reasons": [result.finish_reason],
                "codexos.tool_calls": len(result.tool_calls),
            }
        )


def tool_span(run_id: str, tool: str, call_id: str) -> AbstractContextManager[Span | None]:
    """A tool call of an agent run (its arguments and output stay out of the span)."""
    if tracer is None:
        return _OFF
    attributes: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": call_id,
        "codexos.run_id": run_id,
    }
    return _span(tracer, f"execute_tool {tool}", attributes, "internal")


def retrieval_span(kb_id: str, mode: str, top_k: int) -> AbstractContextManager[Span | None]:
    """A search of one knowledge base (the query text stays out of the span)."""
    if tracer is None:
        return _OFF
    attributes: Attributes = {
        "codexos.knowledge_base_id": kb_id,
        "codexos.retrieval.mode": mode,
        "codexos.retrieval.top_k": top_k,
    }
    return _span(tracer, "retrieval", attributes, "internal")


def node_span(
    run_id: str,
    node_id: str,
    node_type: str,
    attempt: int,
    *,
    pause: type[BaseException] | tuple[()] = (),
    inline: bool = False,
) -> AbstractContextManager[Span | None]:
    """One attempt of a workflow node. `codexos.node.status` is `succeeded`, `waiting` (the
    node raised `pause`: a wait, an approval or a map that goes on later) or `failed`.
    `inline`: a pure node run while settling the run (a failed one is retried as a job)."""
    if tracer is None:
        return _OFF
    attributes: Attributes = {
        "codexos.workflow_run_id": run_id,
        "codexos.node.id": node_id,
        "codexos.node.type": node_type,
        "codexos.node.attempt": attempt,
        "codexos.node.inline": inline,
    }
    return _span(
        tracer, f"workflow.node {node_type}", attributes, "internal", "codexos.node.status", pause
    )


def set_attributes(current: Span | None, attributes: Attributes) -> None:
    if current is not None:
        current.set_attributes(_clean(attributes))


def record_error(error_type: str) -> None:
    """Mark the current span failed (an error that was handled, not raised: a tool's error
    becomes the observation the model sees)."""
    if tracer is not None:
        _failed(_Otel.current_span(), error_type)


class _ModelRef(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...


def _clean(attributes: Attributes | None) -> dict[str, AttributeValue]:
    """OpenTelemetry refuses None values (with a warning): leave them out."""
    if not attributes:
        return {}
    return {k: v for k, v in attributes.items() if v is not None}


def _failed(current: Span, error_type: str) -> None:
    current.set_attribute("error.type", error_type)
    current.set_status(_Otel.error_status)


@contextmanager
def _span(
    active: Tracer,
    name: str,
    attributes: Attributes | None,
    kind: Kind,
    status_key: str | None = None,
    pause: type[BaseException] | tuple[()] = (),
) -> Iterator[Span]:
    # Exceptions are recorded by class only: OpenTelemetry's own recording would put the
    # message and traceback, which can quote user data, into the span.
    with active.start_as_current_span(
        name,
        kind=_Otel.kinds[kind],
        attributes=_clean(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except pause:
            if status_key:
                current.set_attribute(status_key, "waiting")
            raise
        except BaseException as exc:
            if status_key:
                current.set_attribute(status_key, "failed")
            _failed(current, type(exc).__name__)
            raise
        if status_key:
            current.set_attribute(status_key, "succeeded")


# -- HTTP requests ------------------------------------------------------------------------


class TracingMiddleware:
    """One SERVER span per HTTP request, current while the request runs so that the spans of
    an agent run executed by the request nest under it. Installed inside
    `RequestContextMiddleware`, so the request id is known and a 500 it renders still ends
    the span as failed. Added by `create_app` only when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        active = tracer
        if scope["type"] != "http" or active is None:
            await self.app(scope, receive, send)
            return
        method = str(scope["method"])
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with active.start_as_current_span(
            method,
            context=_parent(scope),
            kind=_Otel.kinds["server"],
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            error_type: str | None = None
            try:
                await self.app(scope, receive, send_status)
            except BaseException as exc:
                error_type = type(exc).__name__
                raise
            finally:
                # No response started: RequestContextMiddleware answers 500 after this.
                _finish_request(current, scope, method, status or 500, error_type)


def _parent(scope: Scope) -> Context | None:
    """The caller's trace context from W3C `traceparent`/`tracestate` headers, if sent."""
    carrier = {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in scope.get("headers", ())
        if key in _TRACE_HEADERS
    }
    if not carrier:
        return None
    context: Context = _Otel.propagator.extract(carrier)
    return context


def _finish_request(
    current: Span, scope: Scope, method: str, status: int, error_type: str | None
) -> None:
    state = scope.get("state") or {}
    template = route_template(scope)
    route = None if template == UNMATCHED_ROUTE else template
    principal = state.get("principal")
    if route:
        # The route template, never the raw path: one span name per endpoint.
        current.update_name(f"{method} {route}")
    current.set_attributes(
        _clean(
            {
                "http.route": route,
                "http.response.status_code": status,
                "codexos.request_id": state.get("request_id"),
                "codexos.workspace_id": getattr(principal, "workspace_id", None),
                "codexos.user_id": getattr(principal, "user_id", None),
            }
        )
    )
    if error_type is not None or status >= 500:
        _failed(current, error_type or str(status))
