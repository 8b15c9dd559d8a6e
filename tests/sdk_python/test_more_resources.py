"""The rest of the API through the SDK: invitations and members, agent versions, tools,
models and providers, workflow triggers and import/export, marketplace moderation and
versions, refunds, checkout, system status, OAuth authorizations and user administration."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import pytest
from codexos import (
    AsyncCodexOS,
    AuthenticationError,
    CodexOS,
    ConflictError,
    InternalServerError,
    NotFoundError,
    ServiceUnavailableError,
)

from tests.e2e.conftest import LiveServer
from tests.oauth.helpers import Forms
from tests.sdk_python.conftest import PASSWORD, SdkAccount, new_account, scripted
from tests.sdk_python.test_resources import APPROVAL_SPEC, wait_document, wait_run


def test_invitations_members_and_ownership(server: LiveServer, account: SdkAccount) -> None:
    guest = new_account(server)
    with (
        CodexOS.login(account.email, PASSWORD, base_url=server.base_url) as owner,
        CodexOS.login(guest.email, PASSWORD, base_url=server.base_url) as other,
    ):
        ws = owner.workspaces.create("Invites")
        dropped = owner.workspaces.invite(ws.id, "nobody@example.com")
        invitation = owner.workspaces.invite(ws.id, guest.email, role="viewer")
        assert invitation.token and invitation.role == "viewer" and invitation.email == guest.email
        listed = {i.id for i in owner.workspaces.invitations(ws.id)}
        assert {dropped.id, invitation.id} <= listed
        owner.workspaces.revoke_invitation(ws.id, dropped.id)
        revoked = {i.id: i for i in owner.workspaces.invitations(ws.id)}.get(dropped.id)
        assert revoked is None or revoked.revoked_at is not None

        joined = other.workspaces.accept_invitation(invitation.token)
        assert joined.id == ws.id and joined.role == "viewer"
        member = owner.workspaces.update_member(ws.id, guest.user_id, "admin")
        assert member.user_id == guest.user_id and member.role == "admin"
        assert member.email == guest.email

        moved = owner.workspaces.transfer_ownership(ws.id, guest.user_id)
        assert moved.owner_id == guest.user_id
        other.workspaces.remove_member(ws.id, account.user_id)
        roles = {m.user_id: m.role for m in other.workspaces.members(ws.id)}
        assert roles == {guest.user_id: "owner"}


def test_agent_versions_tools_models_providers(client: CodexOS) -> None:
    agent = client.agents.create(name="Versioned", instructions="v1", model=scripted("ok"))
    client.agents.update(agent.id, instructions="v2")
    versions = client.agents.versions(agent.id)
    assert sorted(v.version for v in versions) == [1, 2]
    first = client.agents.retrieve_version(agent.id, 1)
    assert first.version == 1 and first.snapshot["instructions"] == "v1"
    copy = client.agents.duplicate(agent.id)
    assert copy.id != agent.id and copy.instructions == "v2"

    builtins = client.tools.list()
    assert builtins and all(t.kind == "builtin" for t in builtins)
    tool = client.tools.create_custom(
        "weather",
        "https://example.com/weather?city={city}",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        description="The weather",
        headers={"X-Token": "secret"},
    )
    assert tool.name == "weather" and tool.method == "GET" and tool.header_names == ["X-Token"]
    assert [t.id for t in client.tools.list_custom()] == [tool.id]
    assert "weather" in {t.name for t in client.tools.list() if t.kind == "custom"}
    client.tools.delete_custom(tool.id)
    assert client.tools.list_custom() == []

    provider = client.providers.create(
        "local-ai",
        kind="openai",
        base_url="https://llm.example.com/v1",
        api_key="sk-test-abcd",
        default_model="tiny",
        models=["tiny"],
    )
    assert provider.has_api_key and provider.api_key_last_four == "abcd"
    assert [p.id for p in client.providers.list()] == [provider.id]
    assert client.providers.retrieve(provider.id).default_model == "tiny"
    updated = client.providers.update(provider.id, models=["tiny", "big"], max_retries=0)
    assert updated.models == ["tiny", "big"] and updated.max_retries == 0
    models = client.models.list()
    assert models and all(m.id and m.provider for m in models)
    assert "big" in {m.model for m in models if m.source == "workspace"}
    client.providers.delete(provider.id)
    with pytest.raises(NotFoundError):
        client.providers.retrieve(provider.id)


FAILING_SPEC = {
    "nodes": [
        {"id": "in", "type": "input", "config": {}},
        {"id": "boom", "type": "template", "config": {"template": "{{ inputs.missing.deep }}"}},
    ],
    "edges": [{"source": "in", "target": "boom"}],
}


def test_workflow_versions_import_export_and_runs(client: CodexOS) -> None:
    wf = client.workflows.create("Ship", APPROVAL_SPEC)
    spec = json.loads(json.dumps(APPROVAL_SPEC))
    spec["nodes"][2]["config"]["template"] = "shipped!"
    client.workflows.update(wf.id, spec=spec)
    versions = client.workflows.versions(wf.id)
    assert sorted(v.version for v in versions) == [1, 2] and versions[0].name == "Ship"

    exported = json.loads(client.workflows.export(wf.id))
    assert exported["name"] == "Ship" and exported["spec"]["nodes"][2]["config"] == {
        "template": "shipped!"
    }
    as_yaml = client.workflows.export(wf.id, format="yaml")
    assert "shipped!" in as_yaml and not as_yaml.lstrip().startswith("{")
    from_yaml = client.workflows.import_workflow(as_yaml)
    from_dict = client.workflows.import_workflow(exported)
    assert from_yaml.spec == exported["spec"] == from_dict.spec
    assert len({wf.id, from_yaml.id, from_dict.id}) == 3

    run = client.workflows.run(wf.id, {"title": "Tides"})
    wait_run(client, run.id, {"waiting"})
    client.workflows.reject(run.id, "ask", comment="no")
    finished = wait_run(client, run.id, {"succeeded", "failed"})
    again = client.workflows.rerun(finished.id)
    assert again.id != run.id and again.rerun_of == run.id

    broken = client.workflows.create("Broken", FAILING_SPEC)
    failed = wait_run(client, client.workflows.run(broken.id, {}).id, {"failed", "succeeded"})
    assert failed.status == "failed", failed
    resumed = client.workflows.resume(failed.id)
    assert resumed.id == failed.id and resumed.status != "failed"
    with pytest.raises(ConflictError):
        client.workflows.resume(again.id)


def test_workflow_triggers(client: CodexOS) -> None:
    wf = client.workflows.create("Nightly", APPROVAL_SPEC)
    schedule = client.workflows.create_schedule(
        wf.id, "0 3 * * *", timezone="Europe/Paris", inputs={"title": "night"}
    )
    assert schedule.cron == "0 3 * * *" and schedule.enabled and schedule.next_fire_at
    assert [s.id for s in client.workflows.schedules(wf.id)] == [schedule.id]
    assert client.workflows.retrieve_schedule(wf.id, schedule.id).timezone == "Europe/Paris"
    paused = client.workflows.update_schedule(wf.id, schedule.id, enabled=False)
    assert not paused.enabled
    client.workflows.delete_schedule(wf.id, schedule.id)
    assert list(client.workflows.schedules(wf.id)) == []

    hook = client.workflows.create_hook(wf.id)
    assert hook.url and hook.secret and hook.enabled
    listed = list(client.workflows.hooks(wf.id))
    assert [h.id for h in listed] == [hook.id] and listed[0].secret is None
    client.workflows.delete_hook(wf.id, hook.id)
    assert list(client.workflows.hooks(wf.id)) == []

    target = client.workflows.create_webhook(
        wf.id, "https://hooks.example.com/runs", events=["run.failed"]
    )
    assert target.secret and target.events == ["run.failed"]
    assert [t.id for t in client.workflows.webhooks(wf.id)] == [target.id]
    assert list(client.workflows.webhook_deliveries(wf.id)) == []
    client.workflows.delete_webhook(wf.id, target.id)
    assert client.workflows.webhooks(wf.id) == []


def test_marketplace_lifecycle(
    server: LiveServer, client: CodexOS, admin_account: SdkAccount
) -> None:
    buyer_account = new_account(server)
    with (
        CodexOS(api_key=admin_account.api_key, base_url=server.base_url) as admin,
        CodexOS(api_key=buyer_account.api_key, base_url=server.base_url) as buyer,
    ):
        agent = client.agents.create(name="Lister", instructions="v1", model=scripted("hi"))
        listing = client.marketplace.create_listing("agent", agent.id, "Lister", summary="s")
        client.marketplace.submit(listing.id)
        assert listing.id in {x.id for x in admin.marketplace.review_queue()}
        rejected = admin.marketplace.reject(listing.id, reason="needs a description")
        assert rejected.status == "draft" and rejected.moderation_note == "needs a description"
        client.marketplace.update_listing(listing.id, description="A listing")
        client.marketplace.submit(listing.id)
        assert admin.marketplace.approve(listing.id).status == "published"

        installed = buyer.marketplace.install(listing.id)
        assert buyer.marketplace.retrieve_install(installed.id).version == 1
        client.agents.update(agent.id, instructions="v2")
        version = client.marketplace.create_version(listing.id, changelog="better")
        assert version.version == 2 and version.changelog == "better"
        detail = client.marketplace.retrieve_version(listing.id, 2)
        assert detail.version == 2 and detail.package is not None
        assert buyer.marketplace.retrieve_version(listing.id, 1).package is None
        upgraded = buyer.marketplace.update_install(installed.id)
        assert upgraded.id == installed.id and upgraded.version == 2
        assert buyer.agents.retrieve(installed.resource_id).instructions == "v2"

        review = buyer.marketplace.create_review(listing.id, 3, "ok")
        edited = buyer.marketplace.update_review(review.id, rating=4, body="good")
        assert (edited.rating, edited.body) == (4, "good")
        replied = client.marketplace.reply_to_review(review.id, "thanks")
        assert replied.reply == "thanks"
        buyer.marketplace.delete_review(review.id)
        assert list(client.marketplace.reviews(listing.id)) == []

        assert client.marketplace.unlist(listing.id).status == "unlisted"
        assert client.marketplace.relist(listing.id).status == "published"
        removed = admin.marketplace.remove(listing.id, reason="policy")
        assert removed.status == "removed"

        draft = client.marketplace.create_listing("agent", agent.id, "Draft")
        client.marketplace.delete_listing(draft.id)
        with pytest.raises(NotFoundError):
            client.marketplace.retrieve_listing(draft.id)


def test_billing_admin_and_checkout(
    server: LiveServer, client: CodexOS, account: SdkAccount, admin_account: SdkAccount
) -> None:
    with CodexOS(api_key=admin_account.api_key, base_url=server.base_url) as admin:
        grant = admin.billing.grant(account.workspace_id, 30, reason="test")
        assert client.billing.wallet().balance == 30
        refund = admin.billing.refund(grant.id, reason="mistake")
        assert refund.kind == "refund" and refund.id != grant.id
        assert client.billing.wallet().balance == 0
        with pytest.raises(ConflictError):
            admin.billing.refund(grant.id)

        status = admin.monitoring.system()
        assert status.version and status.uptime_seconds > 0 and status.database

    with pytest.raises(ServiceUnavailableError) as caught:
        client.billing.checkout(100, "https://example.com/ok", "https://example.com/cancel")
    error = caught.value
    assert isinstance(error, InternalServerError)
    assert error.status_code == 503 and error.code == "SERVICE_UNAVAILABLE" and error.request_id


def test_oauth_authorizations(server: LiveServer, client: CodexOS, account: SdkAccount) -> None:
    redirect = "https://app.example.com/callback"
    app = client.oauth_apps.create("Dashboard", [redirect], ["agents:read"])
    query = urlencode(
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect,
            "scope": "agents:read",
            "state": "s",
        }
    )
    with httpx.Client(base_url=server.api, timeout=30) as browser:
        page = browser.get(f"/oauth/authorize?{query}")
        form = Forms(page.text).forms[0]
        fields = form["fields"] | {"email": account.email, "password": PASSWORD}
        signed_in = browser.post("/oauth/login", data=fields)
        page = browser.get(signed_in.headers["location"].removeprefix("/api/v1"))
        consent = Forms(page.text).forms[0]["fields"] | {"decision": "approve"}
        answer = browser.post("/oauth/authorize", data=consent)
        assert answer.status_code == 303 and answer.headers["location"].startswith(redirect)

    grants = client.oauth_apps.authorizations()
    assert [(g.client_id, g.scopes) for g in grants] == [(app.client_id, ["agents:read"])]
    assert grants[0].app_name == "Dashboard"
    client.oauth_apps.revoke_authorization(grants[0].id)
    assert client.oauth_apps.authorizations() == []


def test_user_administration(server: LiveServer, admin_account: SdkAccount) -> None:
    target = new_account(server)
    with (
        CodexOS(api_key=admin_account.api_key, base_url=server.base_url) as admin,
        CodexOS.login(target.email, PASSWORD, base_url=server.base_url) as user,
    ):
        assert target.user_id in {u.id for u in admin.users.list(limit=100)}
        assert admin.users.retrieve(target.user_id).email == target.email
        updated = admin.users.admin_update(target.user_id, tier="pro", rate_limit_per_hour=500)
        assert updated.tier == "pro" and updated.rate_limit_per_hour == 500
        assert user.users.me().tier == "pro"
        user.users.delete_me()
        with pytest.raises(NotFoundError):
            admin.users.retrieve(target.user_id)
        with pytest.raises(AuthenticationError):
            CodexOS.login(target.email, PASSWORD, base_url=server.base_url)


async def test_realtime_cancel(server: LiveServer, account: SdkAccount) -> None:
    async with AsyncCodexOS(api_key=account.api_key, base_url=server.base_url) as sdk:
        wf = await sdk.workflows.create("Wait", APPROVAL_SPEC)
        run = await sdk.workflows.run(wf.id, {"title": "x"})
        async with sdk.realtime.connect() as conn:
            for _ in range(300):
                if (await sdk.workflows.retrieve_run(run.id)).status == "waiting":
                    break
            cancelled = await conn.cancel(workflow_run_id=run.id)
            assert cancelled.type == "cancelled" and cancelled.workflow_run_id == run.id
            assert cancelled.status in {"cancelled", "cancelling"}
        agent = await sdk.agents.create(name="C", model=scripted("done"))
        finished = await sdk.agents.execute(agent.id, "hi")
        reply = await sdk.realtime.cancel(run_id=finished.id)
        assert reply.run_id == finished.id and reply.status == "succeeded"
        with pytest.raises(ValueError, match="exactly one"):
            await sdk.realtime.cancel()


def test_scopes_all_runs_and_reindex(client: CodexOS) -> None:
    scopes = {s.name: s.description for s in client.auth.scopes()}
    assert "agents:read" in scopes and all(scopes.values())

    wf = client.workflows.create("Listed", APPROVAL_SPEC)
    run = client.workflows.run(wf.id, {"title": "x"})
    assert [r.id for r in client.workflows.all_runs(workflow_id=wf.id)] == [run.id]
    assert run.id not in {r.id for r in client.workflows.all_runs(status="succeeded")}
    client.workflows.cancel(run.id)

    kb = client.knowledge_bases.create("Reindexed")
    doc = client.knowledge_bases.add_text(kb.id, "Otters hold hands.", name="otters")
    wait_document(client, kb.id, doc.id)
    assert client.knowledge_bases.reindex_document(kb.id, doc.id).id == doc.id
    assert client.knowledge_bases.reindex(kb.id).id == kb.id
    assert wait_document(client, kb.id, doc.id).status == "indexed"
