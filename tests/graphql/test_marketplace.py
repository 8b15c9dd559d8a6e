"""Marketplace over GraphQL: search with filters and paging, a listing, installing, and the
same refusals as REST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.container import Container
from tests.graphql.helpers import data, error_code, gql
from tests.marketplace.helpers import admin_account, published_agent_listing

SEARCH = """
query($q: String, $after: String, $pricing: PricingModel, $sort: ListingSort) {
  marketplaceListings(first: 2, after: $after, q: $q, pricing: $pricing, sort: $sort) {
    edges { cursor node { id title pricingModel price status ratingAverage ratingCount } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
INSTALL = """
mutation($id: ID!, $version: Int) {
  installListing(listingId: $id, version: $version) { id listingId version resourceId pricePerRun }
}
"""


async def test_search_listing_and_install(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    ids = [
        (await published_agent_listing(client, creator, admin, title=f"Writer {i}"))["id"]
        for i in range(3)
    ]
    paid = await published_agent_listing(
        client,
        creator,
        admin,
        title="Big spender",
        pricing={"model": "per_run", "price": 10**12},
    )
    first = (await data(client, user, SEARCH, q="writer", sort="NEWEST"))["marketplaceListings"]
    assert [e["node"]["id"] for e in first["edges"]] == [ids[2], ids[1]]
    assert first["pageInfo"]["hasNextPage"]
    rest = (
        await data(
            client, user, SEARCH, q="writer", sort="NEWEST", after=first["pageInfo"]["endCursor"]
        )
    )["marketplaceListings"]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[0]]
    assert not rest["pageInfo"]["hasNextPage"]
    per_run = (await data(client, user, SEARCH, pricing="PER_RUN"))["marketplaceListings"]
    node = per_run["edges"][0]["node"]
    assert node["id"] == paid["id"] and node["price"] == 10**12  # beyond a 32-bit Int
    assert node["pricingModel"] == "PER_RUN" and node["status"] == "PUBLISHED"
    one = await data(
        client, user, "query($id: ID!) { marketplaceListing(id: $id) { title } }", id=ids[0]
    )
    assert one["marketplaceListing"]["title"] == "Writer 0"
    installed = (await data(client, user, INSTALL, id=ids[0]))["installListing"]
    assert installed["listingId"] == ids[0] and installed["version"] == 1
    r = await client.get(f"/agents/{installed['resourceId']}", headers=user.headers())
    assert r.json()["source_listing_id"] == ids[0]
    listed = await data(client, user, "{ marketplaceInstalls { edges { node { id } } } }")
    assert [e["node"]["id"] for e in listed["marketplaceInstalls"]["edges"]] == [installed["id"]]
    # The same refusals as REST.
    assert error_code(await gql(client, INSTALL, {"id": ids[0]}, account=user)) == "CONFLICT"
    assert error_code(await gql(client, INSTALL, {"id": "nope"}, account=user)) == (
        "RESOURCE_NOT_FOUND"
    )
    bad = await gql(client, INSTALL, {"id": ids[1], "version": 0}, account=user)
    assert error_code(bad) == "VALIDATION_ERROR"
    bad = await gql(client, SEARCH, {"after": "garbage"}, account=user)
    assert error_code(bad) == "VALIDATION_ERROR"
    key = await user.api_key(["agents:read"])
    body = await gql(client, SEARCH, headers={"Authorization": f"Bearer {key}"})
    assert error_code(body) == "AUTHORIZATION_FAILED"
