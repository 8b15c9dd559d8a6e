"""Every mutation, through the same services as REST; workflow queries with node states."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Account
from tests.graphql.helpers import AGENT, create_agent, data, error_code, gql

APPROVAL_SPEC = {
    "nodes": [
        {"id": "in", "type": "input", "config": {}},
        {"id": "ask", "type": "human_approval", "config": {"prompt": "Publish?"}},
        {"id": "yes", "type": "template", "config": {"template": "published"}},
        {"id": "no", "type": "template", "config": {"template": "dropped"}},
    ],
    "edges": [
        {"source": "in", "target": "ask"},
        {"source": "ask", "target": "yes", "branch": "approved"},
        {"source": "ask", "target": "no", "branch": "rejected"},
    ],
}
RUN_FIELDS = "id status output nodes { nodeId status } approvals { nodeId status }"


async def test_agent_lifecycle(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    created = await data(
        client,
        account,
        "mutation($input: AgentCreateInput!) { createAgent(input: $input) { id name version } }",
        input={"name": AGENT["name"], "type": "BASIC", "model": AGENT["model"]},
    )
    agent_id = created["createAgent"]["id"]
    updated = await data(
        client,
        account,
        """mutation($id: ID!) {
          updateAgent(id: $id, input: {name: "renamed"}) { name version description }
        }""",
        id=agent_id,
    )
    assert updated["updateAgent"] == {"name": "renamed", "version": 2, "description": None}
    ran = await data(
        client,
        account,
        """mutation($id: ID!) {
          executeAgent(id: $id, input: {inputData: "hi"}) { id status output }
        }""",
        id=agent_id,
    )
    assert ran["executeAgent"]["output"] == "hello there"
    queued = await data(
        client,
        account,
        """mutation($id: ID!) {
          executeAgent(id: $id, input: {inputData: "hi", runAsync: true}) { id status }
        }""",
        id=agent_id,
    )
    assert queued["executeAgent"]["status"] in {"QUEUED", "RUNNING", "SUCCEEDED"}
    cancelled = await data(
        client,
        account,
        "mutation($id: ID!) { cancelRun(id: $id) { id } }",
        id=queued["executeAgent"]["id"],
    )
    assert cancelled["cancelRun"]["id"] == queued["executeAgent"]["id"]
    conversation = await data(
        client,
        account,
        """mutation($id: ID!) { createConversation(agentId: $id, input: {title: "t"}) { id } }""",
        id=agent_id,
    )
    conversation_id = conversation["createConversation"]["id"]
    sent = await data(
        client,
        account,
        """mutation($id: ID!) { sendMessage(conversationId: $id, content: "hello") {
          conversationId output } }""",
        id=conversation_id,
    )
    assert sent["sendMessage"] == {"conversationId": conversation_id, "output": "hello there"}
    deleted = await data(
        client, account, "mutation($id: ID!) { deleteAgent(id: $id) }", id=agent_id
    )
    assert deleted == {"deleteAgent": True}
    r = await client.get(f"/agents/{agent_id}", headers=account.headers())
    assert r.status_code == 404


async def test_invalid_input_is_a_validation_error(
    client: httpx.AsyncClient, make_account: Any
) -> None:
    account = await make_account()
    body = await gql(
        client,
        'mutation { createAgent(input: {name: "x", maxSteps: 1000}) { id } }',
        account=account,
    )
    assert error_code(body) == "VALIDATION_ERROR"
    assert body["errors"][0]["extensions"]["details"][0]["field"] == "max_steps"
    body = await gql(
        client, 'mutation { createWorkflow(input: {name: "x", spec: {}}) { id } }', account=account
    )
    assert error_code(body) == "VALIDATION_ERROR"


async def _wait(http: httpx.AsyncClient, account: Account, run_id: str, status: str) -> Any:
    for _ in range(400):
        got = await data(
            http,
            account,
            f"query($id: ID!) {{ workflowRun(id: $id) {{ {RUN_FIELDS} }} }}",
            id=run_id,
        )
        if got["workflowRun"]["status"] == status:
            return got["workflowRun"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"run never reached {status}: {got}")


async def test_workflow_lifecycle(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    created = await data(
        client,
        account,
        'mutation($spec: JSON!) { createWorkflow(input: {name: "wf", spec: $spec}) { id version } }',
        spec=APPROVAL_SPEC,
    )
    workflow_id = created["createWorkflow"]["id"]
    updated = await data(
        client,
        account,
        'mutation($id: ID!) { updateWorkflow(id: $id, input: {description: "d"}) { description } }',
        id=workflow_id,
    )
    assert updated["updateWorkflow"]["description"] == "d"
    runs = []
    for _ in range(2):
        started = await data(
            client,
            account,
            'mutation($id: ID!) { runWorkflow(id: $id, inputs: {title: "T"}) { id status } }',
            id=workflow_id,
        )
        runs.append(started["runWorkflow"]["id"])
    waiting = await _wait(client, account, runs[0], "WAITING")
    assert {"nodeId": "ask", "status": "WAITING"} in waiting["nodes"]
    assert waiting["approvals"] == [{"nodeId": "ask", "status": "pending"}]
    approved = await data(
        client,
        account,
        'mutation($id: ID!) { approve(runId: $id, nodeId: "ask", comment: "ok") { status } }',
        id=runs[0],
    )
    assert approved["approve"]["status"] == "approved"
    done = await _wait(client, account, runs[0], "SUCCEEDED")
    assert {"nodeId": "yes", "status": "SUCCEEDED"} in done["nodes"]
    await _wait(client, account, runs[1], "WAITING")
    rejected = await data(
        client,
        account,
        'mutation($id: ID!) { reject(runId: $id, nodeId: "ask") { status } }',
        id=runs[1],
    )
    assert rejected["reject"]["status"] == "rejected"
    listed = await data(
        client,
        account,
        """query($id: ID!) {
          workflows { edges { node { id runs(last: 5) { id nodes { nodeId } } } } }
          workflowRuns(workflowId: $id, status: SUCCEEDED) { edges { node { id } } }
          workflow(id: $id) { id spec }
        }""",
        id=workflow_id,
    )
    [workflow] = listed["workflows"]["edges"]
    assert {r["id"] for r in workflow["node"]["runs"]} == set(runs)
    assert all(r["nodes"] for r in workflow["node"]["runs"])
    assert listed["workflowRuns"]["edges"][0]["node"]["id"] == runs[0]
    assert listed["workflow"]["spec"]["nodes"][0]["id"] == "in"
    third = await data(
        client, account, "mutation($id: ID!) { runWorkflow(id: $id) { id } }", id=workflow_id
    )
    cancelled = await data(
        client,
        account,
        "mutation($id: ID!) { cancelWorkflowRun(id: $id) { status } }",
        id=third["runWorkflow"]["id"],
    )
    assert cancelled["cancelWorkflowRun"]["status"] in {"CANCELLED", "FAILED"}
    deleted = await data(
        client, account, "mutation($id: ID!) { deleteWorkflow(id: $id) }", id=workflow_id
    )
    assert deleted == {"deleteWorkflow": True}


async def test_knowledge_base_mutations(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    created = await data(
        client,
        account,
        """mutation { createKnowledgeBase(input: {name: "kb", chunking: {size: 128, overlap: 16}}) {
          id chunking documentCount } }""",
    )
    kb = created["createKnowledgeBase"]
    assert kb["chunking"]["size"] == 128 and kb["documentCount"] == 0
    deleted = await data(
        client, account, "mutation($id: ID!) { deleteKnowledgeBase(id: $id) }", id=kb["id"]
    )
    assert deleted == {"deleteKnowledgeBase": True}


async def test_mutations_on_another_workspace(client: httpx.AsyncClient, make_account: Any) -> None:
    owner, stranger = await make_account(), await make_account()
    agent_id = await create_agent(client, owner)
    for mutation in (
        'mutation($id: ID!) { updateAgent(id: $id, input: {name: "x"}) { id } }',
        "mutation($id: ID!) { deleteAgent(id: $id) }",
        'mutation($id: ID!) { executeAgent(id: $id, input: {inputData: "x"}) { id } }',
        "mutation($id: ID!) { createConversation(agentId: $id) { id } }",
    ):
        body = await gql(client, mutation, {"id": agent_id}, account=stranger)
        assert error_code(body) == "RESOURCE_NOT_FOUND", body
    assert (await client.get(f"/agents/{agent_id}", headers=owner.headers())).status_code == 200
