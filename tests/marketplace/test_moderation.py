"""Listing status moves and their refusals, visibility, and what removal does to installs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.container import Container
from tests.conftest import assert_envelope
from tests.marketplace.helpers import (
    admin_account,
    create_agent,
    create_listing,
    install,
    published_agent_listing,
)


async def test_moderation_transitions(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, other = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    agent = await create_agent(client, creator)
    listing = await create_listing(client, creator, agent["id"])
    lid, base = listing["id"], f"/marketplace/listings/{listing['id']}"
    assert listing["status"] == "draft"

    async def act(path: str, who: Any, **body: Any) -> httpx.Response:
        return await client.post(f"{base}/{path}", json=body or None, headers=who.headers())

    # A draft is invisible to others, and only admins moderate.
    assert_envelope(await client.get(base, headers=other.headers()), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await install(client, other, lid), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await act("approve", admin), 409, "CONFLICT")  # not submitted yet
    assert (await act("submit", creator)).json()["status"] == "pending_review"
    assert_envelope(await act("submit", creator), 409, "CONFLICT")
    assert_envelope(await act("approve", creator), 403, "AUTHORIZATION_FAILED")
    assert_envelope(await act("submit", other), 404, "RESOURCE_NOT_FOUND")
    queue = (await client.get("/marketplace/review-queue", headers=admin.headers())).json()
    assert [item["id"] for item in queue["items"]] == [lid]
    assert_envelope(await act("reject", admin), 422, "VALIDATION_ERROR")  # a reason is required
    rejected = (await act("reject", admin, reason="Add a description")).json()
    assert rejected["status"] == "draft" and rejected["moderation_note"] == "Add a description"
    mine = (await client.get("/marketplace/listings/mine", headers=creator.headers())).json()
    assert mine["items"][0]["moderation_note"] == "Add a description"
    await act("submit", creator)
    published = (await act("approve", admin)).json()
    assert published["status"] == "published" and published["published_at"]
    assert (await client.get(base, headers=other.headers())).json()["moderation_note"] is None
    # Unlisted: out of search, still installable by id.
    assert (await act("unlist", creator)).json()["status"] == "unlisted"
    found = (await client.get("/marketplace/listings", headers=other.headers())).json()
    assert lid not in [item["id"] for item in found["items"]]
    r = await install(client, other, lid)
    assert r.status_code == 201, r.text
    agent_id = r.json()["resource_id"]
    assert (await act("relist", creator)).json()["status"] == "published"
    assert_envelope(await act("relist", creator), 409, "CONFLICT")
    # Removed: gone for others, not installable; the existing install keeps working.
    assert_envelope(await act("remove", admin), 422, "VALIDATION_ERROR")
    removed = (await act("remove", admin, reason="Spam")).json()
    assert removed["status"] == "removed"
    assert_envelope(await act("remove", admin, reason="again"), 409, "CONFLICT")
    third = await make_account()
    assert_envelope(await install(client, third, lid), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await client.get(base, headers=third.headers()), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await install(client, creator, lid), 409, "CONFLICT")
    run = await client.post(
        f"/agents/{agent_id}/execute", json={"input_data": "hi"}, headers=other.headers()
    )
    assert run.json()["status"] == "succeeded", run.text
    assert_envelope(
        await client.patch(base, json={"title": "New"}, headers=creator.headers()), 409, "CONFLICT"
    )
    install_id = (await client.get("/marketplace/installs", headers=other.headers())).json()[
        "items"
    ][0]["id"]
    r = await client.post(f"/marketplace/installs/{install_id}/update", headers=other.headers())
    assert_envelope(r, 409, "CONFLICT")


async def test_listing_validation_and_ownership(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, other = await make_account(), await make_account()
    agent = await create_agent(client, creator)
    h = creator.headers()
    good = {"resource_type": "agent", "resource_id": agent["id"], "title": "T"}
    bad_bodies: list[dict[str, Any]] = [
        {**good, "title": ""},
        {**good, "resource_type": "dataset"},
        {**good, "pricing": {"model": "free", "price": 5}},
        {**good, "pricing": {"model": "one_time", "price": 0}},
        {**good, "pricing": {"model": "per_run", "price": -1}},
        {**good, "pricing": {"model": "per_run", "price": 10**13}},
        {**good, "pricing": {"model": "one_time", "price": "ten"}},
        {**good, "tags": ["has space"]},
        {**good, "tags": [f"t{i}" for i in range(11)]},
        {**good, "category": "gossip"},
        {**good, "icon_url": "javascript:alert(1)"},
        {**good, "unknown": 1},
    ]
    for body in bad_bodies:
        r = await client.post("/marketplace/listings", json=body, headers=h)
        assert_envelope(r, 422, "VALIDATION_ERROR")
    r = await client.post("/marketplace/listings", json={**good, "resource_id": "nope"}, headers=h)
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    # Another workspace's agent cannot be listed (404, never confirming it exists).
    r = await client.post("/marketplace/listings", json=good, headers=other.headers())
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    wf = await client.post(
        "/workflows",
        json={
            "name": "wf",
            "spec": {
                "nodes": [{"id": "in", "type": "input"}, {"id": "out", "type": "output"}],
                "edges": [{"source": "in", "target": "out"}],
            },
        },
        headers=h,
    )
    assert wf.status_code == 201, wf.text
    r = await client.post(
        "/marketplace/listings",
        json={
            "resource_type": "workflow",
            "resource_id": wf.json()["id"],
            "title": "W",
            "pricing": {"model": "per_run", "price": 3},
        },
        headers=h,
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")
    listing = (await client.post("/marketplace/listings", json=good, headers=h)).json()
    base = f"/marketplace/listings/{listing['id']}"
    for path in ("", "/versions", "/submit"):
        r = await client.request(
            "PATCH" if not path else "POST",
            base + path,
            json={"title": "x"} if not path else None,
            headers=other.headers(),
        )
        assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await client.delete(base, headers=other.headers()), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await client.get(f"{base}/versions/9", headers=h), 404, "RESOURCE_NOT_FOUND")
    r = await client.patch(
        base, json={"pricing": {"model": "one_time", "price": 7}, "tags": ["ai"]}, headers=h
    )
    assert r.json()["pricing"] == {"model": "one_time", "price": 7} and r.json()["tags"] == ["ai"]
    assert (await client.delete(base, headers=h)).status_code == 204
    assert_envelope(await client.get(base, headers=h), 404, "RESOURCE_NOT_FOUND")


async def test_a_listing_that_was_installed_cannot_be_deleted(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(client, creator, admin)
    assert (await install(client, user, listing["id"])).status_code == 201
    r = await client.delete(f"/marketplace/listings/{listing['id']}", headers=creator.headers())
    assert_envelope(r, 409, "CONFLICT")
