"""Every resource method of the sync client, against the live server."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path

import pytest
from codexos import CodexOS, ConflictError, NotFoundError, ValidationError
from codexos.types import Document, WorkflowRunDetail

from tests.e2e.conftest import LiveServer
from tests.sdk_python.conftest import PASSWORD, SdkAccount, new_account, scripted


def wait_document(client: CodexOS, kb_id: str, doc_id: str) -> Document:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        doc = client.knowledge_bases.retrieve_document(kb_id, doc_id)
        if doc.status in {"indexed", "failed"}:
            return doc
        time.sleep(0.2)
    raise AssertionError(f"document {doc_id} still {doc.status}")


def wait_run(client: CodexOS, run_id: str, statuses: set[str]) -> WorkflowRunDetail:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.workflows.retrieve_run(run_id)
        if run.status in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"workflow run {run_id} still {run.status}")


def test_auth_and_users(server: LiveServer) -> None:
    email = f"sdk-auth-{uuid.uuid4().hex[:8]}@example.com"
    with CodexOS(base_url=server.api) as sdk:
        user = sdk.auth.register(email, PASSWORD, name="Ada")
        assert user.email == email and user.name == "Ada"
        pair = sdk.auth.login(email, PASSWORD)
        assert pair.access_token and sdk.tokens.access_token == pair.access_token
        assert sdk.users.me().id == user.id
        assert sdk.users.update(name="Ada L.").name == "Ada L."
        refreshed = sdk.auth.refresh()
        assert refreshed.refresh_token != pair.refresh_token
        assert sdk.users.me().name == "Ada L."
        sdk.auth.change_password(PASSWORD, PASSWORD + "!")
        sdk.auth.login(email, PASSWORD + "!")
        sdk.auth.logout()
        assert sdk.tokens.access_token is None


def test_login_client_refreshes_on_401(server: LiveServer, account: SdkAccount) -> None:
    with CodexOS.login(account.email, PASSWORD, base_url=server.base_url) as sdk:
        old_refresh = sdk.tokens.refresh_token
        sdk.tokens.access_token = "expired.jwt.token"  # the server answers 401
        assert sdk.users.me().email == account.email
        assert sdk.tokens.refresh_token != old_refresh


def test_api_keys(client: CodexOS, server: LiveServer) -> None:
    created = client.api_keys.create("ci", ["agents:read"], expires_in_days=1)
    assert created.key.startswith("cxo_") and created.scopes == ["agents:read"]
    assert created.id in {k.id for k in client.api_keys.list()}
    with CodexOS(api_key=created.key, base_url=server.base_url) as limited:
        assert list(limited.agents.list()) == []
    revoked = client.api_keys.revoke(created.id)
    assert revoked.revoked_at is not None


def test_workspaces(account: SdkAccount, server: LiveServer) -> None:
    client = CodexOS.login(account.email, PASSWORD, base_url=server.base_url)  # not key-bound
    ws = client.workspaces.create("Team")
    assert ws.name == "Team" and not ws.is_personal and ws.role == "owner"
    assert {account.workspace_id, ws.id} <= {w.id for w in client.workspaces.list()}
    assert client.workspaces.retrieve(ws.id).id == ws.id
    assert client.workspaces.update(ws.id, name="Team 2").name == "Team 2"
    members = list(client.workspaces.members(ws.id))
    assert [m.user_id for m in members] == [account.user_id]
    client.workspace_id = ws.id  # sent as X-Workspace-ID
    agent = client.agents.create(name="in team")
    assert agent.workspace_id == ws.id
    client.agents.delete(agent.id)
    client.workspace_id = None
    client.workspaces.delete(ws.id)
    with pytest.raises(NotFoundError):
        client.workspaces.retrieve(ws.id)
    client.close()


def test_agents(client: CodexOS) -> None:
    agent = client.agents.create(
        name="Bot", description="d", instructions="Be brief.", model=scripted("one", "two")
    )
    assert agent.name == "Bot" and agent.version == 1
    assert client.agents.retrieve(agent.id).instructions == "Be brief."
    updated = client.agents.update(agent.id, description="new")
    assert updated.description == "new" and updated.version == 2
    copy = client.agents.duplicate(agent.id)
    assert copy.id != agent.id
    ids = [a.id for a in client.agents.list(limit=1)]  # one per page: the paginator walks them
    assert {agent.id, copy.id} <= set(ids)
    assert [a.id for a in client.agents.list(search="Bot", type="basic")]

    run = client.agents.execute(agent.id, input_data="hello")
    assert run.status == "succeeded" and run.output == "one"
    queued = client.agents.execute(agent.id, "again", background=True)
    assert queued.status in {"queued", "running", "succeeded"}
    events = list(client.agents.stream(copy.id, "stream me"))
    assert events[0].type == "run.started" and events[-1].type == "run.succeeded"
    assert "".join(e.data["delta"] for e in events if e.type == "token") == "one"
    assert run.id in {r.id for r in client.agents.runs(agent.id)}

    client.agents.delete(copy.id)
    with pytest.raises(NotFoundError):
        client.agents.retrieve(copy.id)


def test_runs(client: CodexOS) -> None:
    agent = client.agents.create(name="R", model=scripted("fine"))
    run = client.agents.execute(agent.id, "x")
    detail = client.runs.retrieve(run.id)
    assert detail.output == "fine" and detail.steps[0]["kind"] == "model_call"
    assert [r.id for r in client.runs.list(agent_id=agent.id, status="succeeded")] == [run.id]
    events = list(client.runs.events(run.id))
    assert [e.type for e in events] == ["run.started", "run.succeeded"]
    assert [e.seq for e in client.runs.events(run.id, after_seq=1)] == [2]
    assert client.runs.cancel(run.id).status == "succeeded"  # finished runs stay finished


def test_conversations(client: CodexOS) -> None:
    agent = client.agents.create(name="C", model=scripted("hi there", "again"))
    conv = client.conversations.create(agent.id, title="Chat")
    assert conv.title == "Chat" and conv.message_count == 0
    run = client.conversations.send(conv.id, "hello")
    assert run.output == "hi there" and run.conversation_id == conv.id
    messages = list(client.conversations.messages(conv.id))
    pairs = sorted((m.position, m.role, m.content) for m in messages)
    assert [(role, text) for _, role, text in pairs] == [
        ("user", "hello"),
        ("assistant", "hi there"),
    ]
    assert client.conversations.retrieve(conv.id).message_count == 2
    assert [c.id for c in client.conversations.list(agent.id)] == [conv.id]
    client.conversations.delete(conv.id)
    with pytest.raises(NotFoundError):
        client.conversations.retrieve(conv.id)


APPROVAL_SPEC = {
    "nodes": [
        {"id": "in", "type": "input", "config": {}},
        {"id": "ask", "type": "human_approval", "config": {"prompt": "Ship {{ inputs.title }}?"}},
        {"id": "yes", "type": "template", "config": {"template": "shipped"}},
        {"id": "no", "type": "template", "config": {"template": "dropped"}},
    ],
    "edges": [
        {"source": "in", "target": "ask"},
        {"source": "ask", "target": "yes", "branch": "approved"},
        {"source": "ask", "target": "no", "branch": "rejected"},
    ],
}


def test_workflows(client: CodexOS) -> None:
    assert client.workflows.validate(APPROVAL_SPEC).valid
    with pytest.raises(ValidationError) as caught:
        client.workflows.validate({"nodes": [{"id": "x", "type": "nope"}], "edges": []})
    assert caught.value.details and caught.value.status_code == 422
    wf = client.workflows.create("Ship", APPROVAL_SPEC, description="asks first")
    assert client.workflows.retrieve(wf.id).name == "Ship"
    assert client.workflows.update(wf.id, description="v2").description == "v2"
    assert wf.id in {w.id for w in client.workflows.list()}

    run = client.workflows.run(wf.id, {"title": "Tides"})
    waiting = wait_run(client, run.id, {"waiting"})
    assert waiting.approvals[0]["prompt"] == "Ship Tides?"
    assert [a.run_id for a in client.workflows.approvals()] == [run.id]
    approval = client.workflows.approve(run.id, "ask", comment="ok")
    assert approval.status == "approved" and approval.comment == "ok"
    done = wait_run(client, run.id, {"succeeded", "failed"})
    assert done.status == "succeeded"
    assert "run.succeeded" in {e.type for e in client.workflows.run_events(run.id)}

    second = client.workflows.run(wf.id, {"title": "Waves"})
    wait_run(client, second.id, {"waiting"})
    assert client.workflows.reject(second.id, "ask").status == "rejected"
    third = client.workflows.run(wf.id, {"title": "Foam"})
    wait_run(client, third.id, {"waiting"})
    assert client.workflows.cancel(third.id).status in {"cancelled", "cancelling"}
    assert {second.id, third.id} <= {r.id for r in client.workflows.runs(wf.id)}
    client.workflows.delete(wf.id)
    with pytest.raises(NotFoundError):
        client.workflows.retrieve(wf.id)


def test_knowledge_bases(client: CodexOS, tmp_path: Path) -> None:
    kb = client.knowledge_bases.create("Docs", description="manuals")
    assert kb.document_count == 0 and kb.embedding_dimensions > 0
    path = tmp_path / "tides.md"
    path.write_text("# Tides\n\nThe tide at Brest rises twice a day, driven by the moon.\n")
    from_path = client.knowledge_bases.upload(kb.id, path, tags=["sea"])
    from_bytes = client.knowledge_bases.upload(
        kb.id, b"Volcanoes erupt molten basalt.", filename="volcano.txt"
    )
    from_file = client.knowledge_bases.upload(
        kb.id, io.BytesIO(b"Glaciers carve valleys."), filename="ice.txt"
    )
    text_doc = client.knowledge_bases.add_text(kb.id, "Owls hunt at night.", name="owls")
    for doc in (from_path, from_bytes, from_file, text_doc):
        assert wait_document(client, kb.id, doc.id).status == "indexed"
    assert from_path.name == "tides.md" and from_bytes.name == "volcano.txt"
    assert len(list(client.knowledge_bases.documents(kb.id, status="indexed"))) == 4
    hits = client.knowledge_bases.query(kb.id, "When does the tide rise?", top_k=2)
    assert hits.results and "tide" in str(hits.results[0]).lower()
    client.knowledge_bases.delete_document(kb.id, text_doc.id)
    assert client.knowledge_bases.retrieve(kb.id).document_count == 3
    assert client.knowledge_bases.update(kb.id, name="Docs 2").name == "Docs 2"
    assert kb.id in {k.id for k in client.knowledge_bases.list()}
    client.knowledge_bases.delete(kb.id)
    with pytest.raises(NotFoundError):
        client.knowledge_bases.retrieve(kb.id)


def test_marketplace_and_billing(
    server: LiveServer, client: CodexOS, account: SdkAccount, admin_account: SdkAccount
) -> None:
    buyer_account = new_account(server)
    with (
        CodexOS(api_key=admin_account.api_key, base_url=server.base_url) as admin,
        CodexOS(api_key=buyer_account.api_key, base_url=server.base_url) as buyer,
    ):
        agent = client.agents.create(name="Seller bot", model=scripted("sold"))
        listing = client.marketplace.create_listing(
            "agent",
            agent.id,
            "Seller bot",
            summary="Sells",
            pricing={"model": "one_time", "price": 5},
        )
        assert listing.status == "draft"
        assert client.marketplace.update_listing(listing.id, summary="Sells well").summary == (
            "Sells well"
        )
        assert client.marketplace.submit(listing.id).status == "pending_review"
        assert admin.marketplace.approve(listing.id).status == "published"
        assert listing.id in {x.id for x in client.marketplace.my_listings()}
        assert listing.id in {x.id for x in buyer.marketplace.search("Seller")}
        assert buyer.marketplace.retrieve_listing(listing.id).title == "Seller bot"

        grant = admin.billing.grant(buyer_account.workspace_id, 20, reason="test")
        assert grant.amount == 20
        assert buyer.billing.wallet().balance == 20
        purchase = buyer.marketplace.purchase(listing.id)
        assert purchase.price == 5
        assert [p.id for p in buyer.marketplace.purchases()] == [purchase.id]
        assert buyer.billing.wallet().balance == 15
        txs = list(buyer.billing.transactions())
        assert {grant.id, purchase.transaction_id} <= {t.id for t in txs}
        assert buyer.billing.retrieve_transaction(purchase.transaction_id).amount == 5
        assert client.billing.earnings(period="day").total > 0

        installed = buyer.marketplace.install(listing.id)
        assert installed.resource_type == "agent"
        assert [i.id for i in buyer.marketplace.installs()] == [installed.id]
        assert buyer.agents.retrieve(installed.resource_id).name == "Seller bot"
        review = buyer.marketplace.create_review(listing.id, 5, "great")
        assert [r.id for r in client.marketplace.reviews(listing.id)] == [review.id]


def test_monitoring(client: CodexOS) -> None:
    agent = client.agents.create(name="M", model=scripted("ok"))
    client.agents.execute(agent.id, "go")
    metrics = client.monitoring.metrics(window="24h")
    assert metrics.runs and metrics.window == "24h"
    stats = client.monitoring.agent_stats(agent.id)
    assert stats.runs == 1 and stats.success_rate == 1.0
    assert client.monitoring.usage().totals is not None
    budget = client.monitoring.create_budget("tokens", 100)
    assert budget.limit == 100
    assert client.monitoring.update_budget(budget.id, limit=50).limit == 50
    assert [b.id for b in client.monitoring.budgets()] == [budget.id]
    client.monitoring.delete_budget(budget.id)
    assert client.monitoring.budgets() == []


def test_jobs(client: CodexOS) -> None:
    agent = client.agents.create(name="J", model=scripted("ok"))
    run = client.agents.execute(agent.id, "later", background=True)
    assert run.job_id
    job = client.jobs.retrieve(run.job_id)
    assert job.id == run.job_id and job.kind
    assert run.job_id in {j.id for j in client.jobs.list()}
    try:
        cancelled = client.jobs.cancel(run.job_id)
        assert cancelled.cancel_requested or cancelled.status in {"cancelled", "succeeded"}
    except ConflictError:
        pass  # the job already finished


def test_oauth_apps(client: CodexOS) -> None:
    app = client.oauth_apps.create("Integration", ["https://example.com/cb"], ["agents:read"])
    assert app.client_secret and app.client_id
    assert [a.id for a in client.oauth_apps.list()] == [app.id]
    assert client.oauth_apps.retrieve(app.id).name == "Integration"
    assert client.oauth_apps.update(app.id, name="Renamed").name == "Renamed"
    rotated = client.oauth_apps.rotate_secret(app.id)
    assert rotated.client_secret and rotated.client_secret != app.client_secret
    client.oauth_apps.delete(app.id)
    with pytest.raises(NotFoundError):
        client.oauth_apps.retrieve(app.id)
