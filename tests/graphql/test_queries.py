"""Every query field, pagination, filters and ownership, on both backends."""

from __future__ import annotations

from typing import Any

import httpx

from tests.graphql.helpers import create_agent, data, error_code, execute, gql

AGENTS = """
query($first: Int!, $after: String, $filter: AgentFilter) {
  agents(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id name type } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_me_and_workspaces(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    got = await data(
        client,
        account,
        "{ me { id email } workspaces { edges { node { id isPersonal role } } } }",
    )
    assert got["me"] == {"id": account.id, "email": account.email}
    [workspace] = got["workspaces"]["edges"]
    assert workspace["node"]["isPersonal"] and workspace["node"]["role"] == "owner"


async def test_agents_paginate_and_filter(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    ids = [await create_agent(client, account, f"agent-{i}") for i in range(3)]
    first = (await data(client, account, AGENTS, first=2))["agents"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[::-1][:2]
    assert first["pageInfo"]["hasNextPage"]
    rest = (await data(client, account, AGENTS, first=2, after=first["pageInfo"]["endCursor"]))[
        "agents"
    ]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[0]]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][0]["cursor"]}
    found = await data(client, account, AGENTS, first=10, filter={"search": "agent-1"})
    assert [e["node"]["id"] for e in found["agents"]["edges"]] == [ids[1]]
    typed = await data(client, account, AGENTS, first=10, filter={"type": "RAG"})
    assert typed["agents"]["edges"] == []
    bad = await gql(client, AGENTS, {"first": 0}, account=account)
    assert error_code(bad) == "VALIDATION_ERROR"
    bad = await gql(client, AGENTS, {"first": 5, "after": "garbage"}, account=account)
    assert error_code(bad) == "VALIDATION_ERROR"


async def test_agent_runs_and_run(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    agent_id = await create_agent(client, account)
    run = await execute(client, account, agent_id)
    got = await data(
        client,
        account,
        """query($id: ID!, $run: ID!) {
          agent(id: $id) { id name model runs(last: 5) { id status output } }
          runs(agentId: $id, status: SUCCEEDED) { edges { node { id agentId } } }
          failed: runs(agentId: $id, status: FAILED) { edges { node { id } } }
          run(id: $run) { id status output usage steps }
        }""",
        id=agent_id,
        run=run["id"],
    )
    assert got["agent"]["model"]["provider"] == "scripted"
    assert got["agent"]["runs"] == [
        {"id": run["id"], "status": "SUCCEEDED", "output": "hello there"}
    ]
    assert got["runs"]["edges"] == [{"node": {"id": run["id"], "agentId": agent_id}}]
    assert got["failed"]["edges"] == []
    assert got["run"]["output"] == "hello there" and isinstance(got["run"]["steps"], list)


async def test_conversations_and_messages(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    agent_id = await create_agent(client, account)
    r = await client.post(
        f"/agents/{agent_id}/conversations", json={"title": "t"}, headers=account.headers()
    )
    conversation_id = r.json()["id"]
    r = await client.post(
        f"/conversations/{conversation_id}/messages",
        json={"content": "hi"},
        headers=account.headers(),
    )
    assert r.status_code == 200, r.text
    got = await data(
        client,
        account,
        """query($agent: ID!, $id: ID!) {
          conversations(agentId: $agent) { edges { node { id title } } }
          conversation(id: $id) { id messageCount messages(last: 10) { role content } }
          messages(conversationId: $id, first: 1) {
            edges { node { role } } pageInfo { hasNextPage }
          }
        }""",
        agent=agent_id,
        id=conversation_id,
    )
    assert got["conversations"]["edges"] == [{"node": {"id": conversation_id, "title": "t"}}]
    messages = got["conversation"]["messages"]
    assert [m["role"] for m in messages] == ["assistant", "user"]
    assert messages[0]["content"] == "hello there"
    assert got["messages"]["pageInfo"]["hasNextPage"]


async def test_knowledge_bases_and_documents(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    r = await client.post("/knowledge-bases", json={"name": "kb"}, headers=account.headers())
    assert r.status_code == 201, r.text
    kb_id = r.json()["id"]
    r = await client.post(
        f"/knowledge-bases/{kb_id}/documents",
        json={"name": "note", "text": "Tides are caused by the moon."},
        headers=account.headers(),
    )
    assert r.status_code in (201, 202), r.text
    got = await data(
        client,
        account,
        """query($id: ID!) {
          knowledgeBases { edges { node { id name } } }
          knowledgeBase(id: $id) { id documents(last: 5) { id name status } }
          documents(knowledgeBaseId: $id) { edges { node { id } } }
        }""",
        id=kb_id,
    )
    assert got["knowledgeBases"]["edges"] == [{"node": {"id": kb_id, "name": "kb"}}]
    [doc] = got["knowledgeBase"]["documents"]
    assert doc["name"].startswith("note")
    assert got["documents"]["edges"] == [{"node": {"id": doc["id"]}}]


async def test_another_workspace_is_not_found(client: httpx.AsyncClient, make_account: Any) -> None:
    owner, stranger = await make_account(), await make_account()
    agent_id = await create_agent(client, owner)
    run = await execute(client, owner, agent_id)
    for query, value in (
        ("query($id: ID!) { agent(id: $id) { id } }", agent_id),
        ("query($id: ID!) { run(id: $id) { id } }", run["id"]),
        ("query($id: ID!) { conversations(agentId: $id) { edges { cursor } } }", agent_id),
        ("query($id: ID!) { workflow(id: $id) { id } }", agent_id),
        ("query($id: ID!) { workflowRun(id: $id) { id } }", run["id"]),
        ("query($id: ID!) { knowledgeBase(id: $id) { id } }", agent_id),
    ):
        body = await gql(client, query, {"id": value}, account=stranger)
        assert error_code(body) == "RESOURCE_NOT_FOUND", body
        assert body["data"] is None
    # Lists never show another workspace's rows.
    assert (await data(client, stranger, "{ runs { edges { cursor } } }"))["runs"]["edges"] == []


async def test_scopes_are_checked_like_rest(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    key = await account.api_key(["workflows:read"])
    headers = {"Authorization": f"Bearer {key}"}
    body = await gql(client, "{ agents { edges { cursor } } }", headers=headers)
    assert error_code(body) == "AUTHORIZATION_FAILED"
    assert body["errors"][0]["extensions"]["details"] == {"required_scope": "agents:read"}
    body = await gql(client, "{ workflows { edges { cursor } } }", headers=headers)
    assert body["data"]["workflows"]["edges"] == []


async def test_unauthenticated(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ me { id } }")
    assert error_code(body) == "AUTHENTICATION_FAILED"
    body = await gql(client, "{ me { id } }", headers={"Authorization": "Bearer nonsense"})
    assert error_code(body) == "AUTHENTICATION_FAILED"
