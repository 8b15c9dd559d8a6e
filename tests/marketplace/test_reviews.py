"""Review rules: after installing, one per user, 1-5, edit and delete your own, one creator
reply; the listing's average and count stay equal to its reviews, also under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from codexos_server.container import Container
from codexos_server.marketplace.models import Listing, Review
from tests.conftest import Account, assert_envelope
from tests.marketplace.helpers import admin_account, install, published_agent_listing


async def _post(
    client: httpx.AsyncClient, who: Account, listing_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/marketplace/listings/{listing_id}/reviews", json=body, headers=who.headers()
    )


async def _rating(client: httpx.AsyncClient, who: Account, listing_id: str) -> dict[str, Any]:
    r = await client.get(f"/marketplace/listings/{listing_id}", headers=who.headers())
    return dict(r.json()["rating"])


async def _consistent(container: Container, listing_id: str) -> None:
    async with container.db.read() as session:
        listing = await session.get_one(Listing, listing_id)
        count, total = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(Review.rating), 0)).where(
                    Review.listing_id == listing_id
                )
            )
        ).one()
    assert (listing.rating_count, listing.rating_sum) == (count, total)


async def test_review_rules(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user, other = await make_account(), await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(client, creator, admin)
    lid = listing["id"]
    # Only after installing; never your own listing.
    assert_envelope(await _post(client, user, lid, rating=5), 409, "CONFLICT")
    assert (await install(client, user, lid)).status_code == 201
    assert (await install(client, creator, lid)).status_code == 201
    assert_envelope(await _post(client, creator, lid, rating=5), 409, "CONFLICT")
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "five"}, {}, {"rating": 3, "x": 1}):
        assert_envelope(await _post(client, user, lid, **bad), 422, "VALIDATION_ERROR")
    assert_envelope(await _post(client, user, "nope", rating=3), 404, "RESOURCE_NOT_FOUND")
    first = await _post(client, user, lid, rating=4, body="Useful")
    assert first.status_code == 201, first.text
    review = first.json()
    assert_envelope(await _post(client, user, lid, rating=1), 409, "CONFLICT")  # one per user
    assert await _rating(client, user, lid) == {"average": 4.0, "count": 1}
    # Edit your own; others' reviews are not found.
    url = f"/marketplace/reviews/{review['id']}"
    r = await client.patch(url, json={"rating": 2}, headers=user.headers())
    assert r.status_code == 200 and r.json()["rating"] == 2 and r.json()["body"] == "Useful"
    assert await _rating(client, user, lid) == {"average": 2.0, "count": 1}
    assert_envelope(
        await client.patch(url, json={"rating": 5}, headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.patch(url, json={"rating": 9}, headers=user.headers()),
        422,
        "VALIDATION_ERROR",
    )
    assert_envelope(await client.delete(url, headers=other.headers()), 404, "RESOURCE_NOT_FOUND")
    # The creator replies once; nobody else can.
    reply = f"{url}/reply"
    assert_envelope(
        await client.post(reply, json={"body": "Thanks"}, headers=user.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.post(reply, json={"body": ""}, headers=creator.headers()),
        422,
        "VALIDATION_ERROR",
    )
    r = await client.post(reply, json={"body": "Thanks"}, headers=creator.headers())
    assert r.status_code == 200 and r.json()["reply"] == "Thanks" and r.json()["replied_at"]
    assert_envelope(
        await client.post(reply, json={"body": "Again"}, headers=creator.headers()),
        409,
        "CONFLICT",
    )
    listed = (
        await client.get(f"/marketplace/listings/{lid}/reviews", headers=other.headers())
    ).json()
    assert [(i["rating"], i["reply"]) for i in listed["items"]] == [(2, "Thanks")]
    # Delete: the count and average follow.
    assert (await client.delete(url, headers=user.headers())).status_code == 204
    assert await _rating(client, user, lid) == {"average": None, "count": 0}
    assert (await _post(client, user, lid, rating=5)).status_code == 201
    await _consistent(container, lid)


async def test_concurrent_reviews_keep_the_average_consistent(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator = await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(client, creator, admin)
    lid = listing["id"]
    users = [await make_account() for _ in range(12)]
    for user in users:
        assert (await install(client, user, lid)).status_code == 201
    ratings = [(i % 5) + 1 for i in range(len(users))]
    results = await asyncio.gather(
        *(_post(client, u, lid, rating=r) for u, r in zip(users, ratings, strict=True))
    )
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    assert await _rating(client, creator, lid) == {
        "average": round(sum(ratings) / len(ratings), 2),
        "count": len(ratings),
    }
    # Concurrent edits and deletes too.
    edits = [
        client.patch(
            f"/marketplace/reviews/{r.json()['id']}", json={"rating": 5}, headers=u.headers()
        )
        for u, r in zip(users[:6], results[:6], strict=True)
    ] + [
        client.delete(f"/marketplace/reviews/{r.json()['id']}", headers=u.headers())
        for u, r in zip(users[6:], results[6:], strict=True)
    ]
    assert all(r.status_code in (200, 204) for r in await asyncio.gather(*edits))
    assert await _rating(client, creator, lid) == {"average": 5.0, "count": 6}
    await _consistent(container, lid)
