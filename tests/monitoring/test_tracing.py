"""OpenTelemetry tracing against a real OTLP/HTTP receiver: request spans with route templates,
model and tool spans nested under the request that ran the agent, workflow node spans, W3C
`traceparent` honoured, nothing secret in attributes, export on shutdown; and with no
endpoint configured, no tracing code loaded at all."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.monitoring import tracing
from tests.conftest import PASSWORD, Account, register
from tests.workflows.helpers import chain, node, run_to_end

PROMPT = "What is 2*(3+4)? My secret is hunter2-zebra"


# -- a real OTLP/HTTP receiver -------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    error: bool
    resource: dict[str, Any]


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


class Receiver:
    """Accepts `POST /v1/traces` (protobuf ExportTraceServiceRequest) as a collector would."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.posts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.accept(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accept(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            self.posts += 1
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=s.name,
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_span_id=s.parent_span_id.hex(),
                                kind=s.kind,
                                attributes={a.key: _value(a.value) for a in s.attributes},
                                error=s.status.code == Status.STATUS_CODE_ERROR,
                                resource=resource,
                            )
                        )

    def named(self, prefix: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.name.startswith(prefix)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@dataclass
class Traced:
    http: httpx.AsyncClient
    container: Container
    receiver: Receiver

    async def flush(self) -> None:
        assert self.container.tracing is not None
        assert self.container.tracing.flush()


@pytest.fixture
async def traced(
    settings_factory: Callable[..., Settings], container: Container, receiver: Receiver
) -> AsyncIterator[Traced]:
    """An app exporting to the receiver (`container` is requested for its clean database)."""
    settings = settings_factory(otel_endpoint=receiver.url, otel_service_name="codexos-test")
    traced_container = build_container(settings)
    app = create_app(settings, traced_container)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v1"
        ) as http,
    ):
        yield Traced(http, traced_container, receiver)


def _request_span(receiver: Receiver, request_id: str) -> ReceivedSpan:
    found = [s for s in receiver.spans if s.attributes.get("codexos.request_id") == request_id]
    assert len(found) == 1, [s.name for s in receiver.spans]
    return found[0]


def _tool_agent(script: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "traced",
        "type": "tool",
        "tools": [{"name": "calculator"}],
        "model": {"provider": "scripted", "options": {"script": script}},
    }


# -- the tests ------------------------------------------------------------------------------


async def test_agent_run_spans_nest_under_the_request(traced: Traced) -> None:
    account = await register(traced.http)
    script = [
        {"tool_calls": [{"name": "calculator", "arguments": {"expression": "2*(3+4)"}}]},
        {"tool_calls": [{"name": "calculator", "arguments": {"expr": 5}}]},  # invalid arguments
        {"content": "14"},
    ]
    created = await traced.http.post("/agents", json=_tool_agent(script), headers=account.headers())
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    r = await traced.http.post(
        f"/agents/{agent_id}/execute", json={"input_data": PROMPT}, headers=account.headers()
    )
    assert r.status_code == 200, r.text
    assert r.json()["output"] == "14"
    await traced.flush()

    request = _request_span(traced.receiver, r.headers["x-request-id"])
    assert request.name == "POST /api/v1/agents/{agent_id}/execute"
    assert request.kind == SpanProto.SPAN_KIND_SERVER
    assert request.parent_span_id == ""  # no traceparent sent: a new trace
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.route"] == "/api/v1/agents/{agent_id}/execute"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["codexos.user_id"] == account.id
    assert not request.error
    assert request.resource["service.name"] == "codexos-test"
    assert request.resource["codexos.role"] == "api"

    run_id = r.json()["id"]
    models = [s for s in traced.receiver.named("chat ") if s.trace_id == request.trace_id]
    tools = [s for s in traced.receiver.named("execute_tool ") if s.trace_id == request.trace_id]
    assert len(models) == 3 and len(tools) == 2
    for s in models + tools:
        assert s.parent_span_id == request.span_id
        assert s.attributes["codexos.run_id"] == run_id
    model = models[0]
    assert model.kind == SpanProto.SPAN_KIND_CLIENT
    assert model.attributes["gen_ai.operation.name"] == "chat"
    assert model.attributes["gen_ai.provider.name"] == "scripted"
    assert model.attributes["gen_ai.request.model"]
    assert model.attributes["gen_ai.usage.input_tokens"] > 0
    assert model.attributes["gen_ai.usage.output_tokens"] >= 0
    assert model.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert model.attributes["codexos.tool_calls"] == 1

    ok, bad = sorted(tools, key=lambda s: s.attributes.get("error.type", ""))
    assert ok.name == "execute_tool calculator"
    assert ok.attributes["gen_ai.tool.name"] == "calculator"
    assert ok.attributes["gen_ai.tool.call.id"]
    assert not ok.error and "error.type" not in ok.attributes
    assert bad.error and bad.attributes["error.type"] == "tool_error"

    # Ids, names, counts and statuses only: no prompt, no output, no password, no token.
    everything = json.dumps([s.attributes for s in traced.receiver.spans])
    for secret in ("hunter2-zebra", "2*(3+4)", PASSWORD, account.token):
        assert secret not in everything


async def test_retrieval_of_a_rag_agent_nests_under_the_request(traced: Traced) -> None:
    account = await register(traced.http)
    h = account.headers()
    kb = (await traced.http.post("/knowledge-bases", json={"name": "kb"}, headers=h)).json()
    text = "Mount Etna is an active volcano on the east coast of Sicily."
    added = await traced.http.post(
        f"/knowledge-bases/{kb['id']}/documents", json={"text": text}, headers=h
    )
    assert added.status_code in (200, 201), added.text
    doc_url = f"/knowledge-bases/{kb['id']}/documents/{added.json()['id']}"
    for _ in range(600):
        status = (await traced.http.get(doc_url, headers=h)).json()["status"]
        if status in ("indexed", "failed"):
            break
        await asyncio.sleep(0.05)
    assert status == "indexed"
    agent = {
        "name": "rag",
        "type": "rag",
        "knowledge_base_ids": [kb["id"]],
        "model": {"provider": "scripted", "options": {"script": [{"content": "Sicily [1]"}]}},
    }
    created = (await traced.http.post("/agents", json=agent, headers=h)).json()
    r = await traced.http.post(
        f"/agents/{created['id']}/execute", json={"input_data": "Where is Etna?"}, headers=h
    )
    assert r.status_code == 200, r.text
    await traced.flush()

    request = _request_span(traced.receiver, r.headers["x-request-id"])
    [retrieval] = [s for s in traced.receiver.named("retrieval") if s.trace_id == request.trace_id]
    assert retrieval.parent_span_id == request.span_id
    assert retrieval.attributes["codexos.knowledge_base_id"] == kb["id"]
    assert retrieval.attributes["codexos.retrieval.mode"] == "hybrid"
    assert retrieval.attributes["codexos.retrieval.top_k"] >= 1
    assert retrieval.attributes["codexos.retrieval.hits"] == 1
    assert "Etna" not in json.dumps(retrieval.attributes)


async def test_traceparent_is_honoured_and_unmatched_routes_keep_one_name(
    traced: Traced,
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = await traced.http.get("/health", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert r.status_code == 200
    missing = await traced.http.get("/no/such/path/123")
    assert missing.status_code == 404
    await traced.flush()

    health = _request_span(traced.receiver, r.headers["x-request-id"])
    assert health.name == "GET /api/v1/health"
    assert (health.trace_id, health.parent_span_id) == (trace_id, parent_id)
    unmatched = _request_span(traced.receiver, missing.headers["x-request-id"])
    assert unmatched.name == "GET"  # never the raw path
    assert "http.route" not in unmatched.attributes
    assert unmatched.attributes["http.response.status_code"] == 404
    assert unmatched.trace_id != trace_id
    assert not unmatched.error  # a 4xx is the client's error, not the server's


async def test_workflow_nodes_are_traced(traced: Traced) -> None:
    account: Account = await register(traced.http)
    spec = {
        "nodes": [
            node("in", "input"),
            node("calc", "tool", tool="calculator", arguments={"expression": "{{ inputs.a }} * 7"}),
            node("out", "output", value="{{ nodes.calc.output }}"),
        ],
        "edges": chain("in", "calc", "out"),
    }
    run = await run_to_end(traced.http, account, spec, {"a": 6})
    assert run["status"] == "succeeded", run
    failed = await run_to_end(traced.http, account, spec, {})  # `inputs.a` does not resolve
    assert failed["status"] == "failed", failed
    await traced.flush()

    def nodes_of(run_id: str) -> dict[str, ReceivedSpan]:
        spans = [
            s
            for s in traced.receiver.named("workflow.node ")
            if s.attributes["codexos.workflow_run_id"] == run_id
        ]
        return {s.attributes["codexos.node.id"]: s for s in spans}

    nodes = nodes_of(run["id"])
    assert set(nodes) == {"in", "calc", "out"}
    for s in nodes.values():
        assert s.name == f"workflow.node {s.attributes['codexos.node.type']}"
        assert s.attributes["codexos.node.attempt"] == 1
        assert s.attributes["codexos.node.status"] == "succeeded"
        assert not s.error
    # Pure nodes run while the run settles; the input node inside the request that started it.
    assert nodes["in"].attributes["codexos.node.inline"] is True
    start = next(s for s in traced.receiver.spans if s.span_id == nodes["in"].parent_span_id)
    assert start.name == "POST /api/v1/workflows/{workflow_id}/runs"
    calc = nodes["calc"]
    assert calc.attributes["codexos.node.inline"] is False  # a job of its own
    assert calc.attributes["codexos.node.type"] == "tool"

    bad = nodes_of(failed["id"])["calc"]
    assert bad.error and bad.attributes["codexos.node.status"] == "failed"
    assert bad.attributes["error.type"] == "NodeError"


async def test_spans_are_exported_when_the_app_shuts_down(
    settings_factory: Callable[..., Settings], container: Container, receiver: Receiver
) -> None:
    settings = settings_factory(otel_endpoint=f"{receiver.url}/v1/traces")
    traced_container = build_container(settings)
    app = create_app(settings, traced_container)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v1"
        ) as http,
    ):
        assert tracing.tracer is not None
        r = await http.get("/health")
    # No flush: closing the container flushed the batch and stopped the provider.
    assert _request_span(receiver, r.headers["x-request-id"]).name == "GET /api/v1/health"
    assert tracing.tracer is None


def test_traces_url() -> None:
    assert tracing.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


# -- off: no cost ---------------------------------------------------------------------------

_UNTRACED_APP = """
import asyncio, json, sys
import httpx
from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.monitoring import tracing

TRACING_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.proto")
# FastAPI and redis-py import parts of OpenTelemetry themselves; what we may not add is ours.
loaded = {m for m in sys.modules if m.startswith("opentelemetry")}
settings = Settings()
app = create_app(settings)
script = [
    {"tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}]},
    {"content": "2"},
]
agent = {"name": "a", "type": "tool", "tools": [{"name": "calculator"}],
         "model": {"provider": "scripted", "options": {"script": script}}}

async def main():
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://testserver/api/v1"
    ) as http:
        body = {"email": "off@example.com", "password": "a long enough password", "name": "x"}
        assert (await http.post("/auth/register", json=body)).status_code == 201
        login = await http.post("/auth/login", json=body)
        headers = {"Authorization": "Bearer " + login.json()["access_token"]}
        created = (await http.post("/agents", json=agent, headers=headers)).json()
        r = await http.post(f"/agents/{created['id']}/execute", json={"input_data": "go"},
                            headers=headers | {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
        assert r.status_code == 200 and r.json()["output"] == "2", r.text
        assert (await http.get("/health")).status_code == 200

asyncio.run(main())
print(json.dumps({
    "new": sorted(m for m in sys.modules if m.startswith("opentelemetry") and m not in loaded),
    "sdk": sorted(m for m in sys.modules if m.startswith(TRACING_MODULES)),
    "tracer": tracing.tracer is not None,
    "middleware": [m.cls.__name__ for m in app.user_middleware],
}))
"""


def test_without_an_endpoint_no_tracing_code_is_loaded(
    sqlite_template: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "codexos.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
    env |= {
        "CODEXOS_ENVIRONMENT": "test",
        "CODEXOS_DATA_DIR": str(data),
        "CODEXOS_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'codexos.db'}",
        "CODEXOS_SECRET_KEY": "test-secret-key-" + "x" * 48,
        "CODEXOS_PASSWORD_HASH_TIME_COST": "1",
        "CODEXOS_PASSWORD_HASH_MEMORY_KIB": "1024",
        "CODEXOS_LLM_PROVIDER": "scripted",
        "CODEXOS_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", _UNTRACED_APP],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["new"] == [] and result["sdk"] == []
    assert result["tracer"] is False
    assert "TracingMiddleware" not in result["middleware"]
    assert "RequestContextMiddleware" in result["middleware"]
