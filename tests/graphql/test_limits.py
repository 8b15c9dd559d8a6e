"""Depth and cost limits, introspection switch, malformed requests: GraphQL errors, never 500s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.config import Settings
from tests.graphql.helpers import error_code, gql

DEEP = "{ agents { edges { node { runs { id } } } } }"


async def test_within_limits(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    for query in (
        DEEP,
        "{ me { id } a: agents { edges { node { runs { id } } } } "
        "b: workflows { edges { node { runs { nodes { nodeId } } } } } }",
        "query { agents { edges { node { ...A } } } } fragment A on Agent { runs { id } }",
    ):
        body = await gql(client, query, account=account)
        assert "errors" not in body, body


async def test_depth_and_cost_refusals(
    client_factory: Callable[..., Any], make_account: Any, settings_factory: Callable[..., Settings]
) -> None:
    limited = await client_factory(graphql_max_depth=4, graphql_max_cost=100)
    account = await make_account()
    headers = account.headers()
    body = await gql(limited, DEEP, headers=headers)  # 5 levels
    assert error_code(body) == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["extensions"]["details"] == {"depth": 5, "max_depth": 4}
    assert body["data"] is None
    # 1 + 50 * (edges + node + id + name) > 100
    wide = "query($n: Int!) { agents(first: $n) { edges { node { id name } } } }"
    body = await gql(limited, wide, {"n": 50}, headers=headers)
    assert error_code(body) == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["extensions"]["details"]["max_cost"] == 100
    body = await gql(limited, wide, {"n": 5}, headers=headers)
    assert "errors" not in body, body
    # Fragments count where they are spread.
    spread = (
        "query { agents(first: 40) { edges { ...E } } } fragment E on AgentEdge { node { id } }"
    )
    assert error_code(await gql(limited, spread, headers=headers)) == "QUERY_TOO_COMPLEX"


async def test_introspection_switch(
    client: httpx.AsyncClient, client_factory: Callable[..., Any]
) -> None:
    query = "{ __schema { queryType { name } } }"
    assert (await gql(client, query))["data"]["__schema"]["queryType"]["name"] == "Query"
    closed = await client_factory(graphql_introspection=False)
    body = await gql(closed, query)
    assert error_code(body) == "VALIDATION_ERROR"
    body = await gql(closed, "{ agentz { id } }")
    assert "Did you mean" not in body["errors"][0]["message"]


async def test_malformed_requests(client: httpx.AsyncClient, make_account: Any) -> None:
    account = await make_account()
    for query, variables in (
        ("{ agents { edges ", {}),  # syntax error
        ("{ agents { nope } }", {}),  # unknown field
        ("query($n: Int!) { agents(first: $n) { edges { cursor } } }", {"n": "many"}),
        ("query($n: Int!) { agents(first: $n) { edges { cursor } } }", {}),  # missing variable
        ("mutation { createAgent(input: {}) { id } }", {}),  # missing required input field
    ):
        body = await gql(client, query, variables, account=account, status=200)
        assert error_code(body) == "VALIDATION_ERROR", body
    for raw, content_type in (
        (b"{not json", "application/json"),
        (b'{"variables": {}}', "application/json"),
        (b"query", "text/plain"),
    ):
        r = await client.post(
            "/graphql", content=raw, headers={"content-type": content_type} | account.headers()
        )
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"


async def test_get_is_refused_outside_development(
    client: httpx.AsyncClient, client_factory: Callable[..., Any]
) -> None:
    r = await client.get("/graphql", params={"query": "{ me { id } }"})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    development = await client_factory(environment="development")
    r = await development.get("/graphql", headers={"accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()
    r = await development.get("/graphql", params={"query": "{ me { id } }"})
    assert r.status_code == 200
    assert r.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_FAILED"
