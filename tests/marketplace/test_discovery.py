"""Search and each filter and sort of the listing feed, pagination, and the detail page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from codexos_server.container import Container
from codexos_server.db.base import utcnow
from codexos_server.marketplace.models import Install
from codexos_server.pagination import encode_cursor
from tests.conftest import Account, assert_envelope
from tests.marketplace.helpers import admin_account, fund_account, install, published_agent_listing


async def _ids(client: httpx.AsyncClient, who: Account, **params: Any) -> list[str]:
    r = await client.get("/marketplace/listings", params=params, headers=who.headers())
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


async def _review(client: httpx.AsyncClient, who: Account, listing_id: str, rating: int) -> None:
    r = await client.post(
        f"/marketplace/listings/{listing_id}/reviews",
        json={"rating": rating, "body": "ok"},
        headers=who.headers(),
    )
    assert r.status_code == 201, r.text


async def test_search_filters_and_sorts(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    alice, bob = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    users = [await make_account() for _ in range(3)]
    summarizer = await published_agent_listing(
        client,
        alice,
        admin,
        title="Meeting summarizer",
        summary="Summarizes long meetings",
        category="productivity",
        tags=["notes"],
    )
    translator = await published_agent_listing(
        client,
        alice,
        admin,
        title="Translator",
        summary="French to English",
        category="writing",
        tags=["language"],
        pricing={"model": "one_time", "price": 5},
    )
    coder = await published_agent_listing(
        client,
        bob,
        admin,
        title="Code reviewer",
        summary="Reviews pull requests",
        category="coding",
        tags=["github", "review"],
        pricing={"model": "per_run", "price": 1},
    )
    s, t, c = summarizer["id"], translator["id"], coder["id"]
    viewer = users[0]
    # Full text over title, summary and tags, with stemming; nothing for no match.
    assert await _ids(client, viewer, q="meeting") == [s]
    assert await _ids(client, viewer, q="summarize") == [s]  # stem of "Summarizes"
    assert await _ids(client, viewer, q="github") == [c]
    assert sorted(await _ids(client, viewer, q="french github")) == sorted([t, c])
    assert await _ids(client, viewer, q="zebra") == []
    assert await _ids(client, viewer, q='"); DROP TABLE x; --') == []
    assert await _ids(client, viewer, q="   ") == []
    # Filters.
    assert await _ids(client, viewer, category="writing") == [t]
    assert await _ids(client, viewer, pricing="per_run") == [c]
    assert await _ids(client, viewer, pricing="free") == [s]
    assert sorted(await _ids(client, viewer, creator=summarizer["workspace_id"])) == sorted([s, t])
    assert await _ids(client, viewer, creator=coder["workspace_id"], q="meeting") == []
    # Installs: the summarizer 3, the coder 1 (recently), the translator 1 (long ago).
    for user in users:
        assert (await install(client, user, s)).status_code == 201
    assert (await install(client, users[0], c)).status_code == 201
    await fund_account(container, users[1], 10)
    buy = await client.post(f"/marketplace/listings/{t}/purchase", headers=users[1].headers())
    assert buy.status_code == 201, buy.text
    assert (await install(client, users[1], t)).status_code == 201
    assert (await install(client, users[2], t)).status_code == 402  # not bought
    async with container.db.transaction() as session:
        await session.execute(
            update(Install)
            .where(Install.listing_id == s)
            .values(created_at=utcnow() - timedelta(days=8))
        )
    # Ties go to the newest: the coder was published after the translator.
    assert await _ids(client, viewer, sort="popular") == [s, c, t]
    assert await _ids(client, viewer, sort="trending") == [c, t, s]  # s: installs are old
    assert await _ids(client, viewer, sort="newest") == [c, t, s]
    # Ratings: summarizer 5 and 3 (avg 4), coder 2; translator none.
    await _review(client, users[0], s, 5)
    await _review(client, users[1], s, 3)
    await _review(client, users[0], c, 2)
    assert await _ids(client, viewer, sort="top_rated") == [s, c, t]
    assert await _ids(client, viewer, min_rating=4) == [s]
    assert await _ids(client, viewer, min_rating=4.5) == []
    assert sorted(await _ids(client, viewer, min_rating=2)) == sorted([s, c])
    # Bad parameters are validation errors.
    for params in (
        {"sort": "random"},
        {"pricing": "cheap"},
        {"category": "nope"},
        {"min_rating": 6},
        {"min_rating": "x"},
        {"limit": 0},
        {"cursor": "not-a-cursor"},
        {"cursor": encode_cursor(10**12, "")},
        {"cursor": encode_cursor(-1, "")},
        {"q": "x" * 201},
    ):
        r = await client.get("/marketplace/listings", params=params, headers=viewer.headers())
        assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_pagination_and_detail(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user, other = await make_account(), await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    ids = [
        (await published_agent_listing(client, creator, admin, title=f"Agent {i}"))["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "sort": "newest"}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get("/marketplace/listings", params=params, headers=user.headers())
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    lid = ids[0]
    version = await client.post(
        f"/marketplace/listings/{lid}/versions",
        json={"changelog": "Faster"},
        headers=creator.headers(),
    )
    assert version.status_code == 201 and version.json()["version"] == 2, version.text
    assert (await install(client, user, lid)).status_code == 201
    await _review(client, user, lid, 4)
    detail = (await client.get(f"/marketplace/listings/{lid}", headers=user.headers())).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][0]["changelog"] == "Faster"
    assert detail["ratings_breakdown"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert detail["rating"] == {"average": 4.0, "count": 1}
    assert [r["rating"] for r in detail["recent_reviews"]] == [4]
    assert detail["viewer"] == {
        "purchased": False,
        "installed_version": 2,
        "install_id": detail["viewer"]["install_id"],
        "reviewed": True,
    }
    fresh = (await client.get(f"/marketplace/listings/{lid}", headers=other.headers())).json()
    assert fresh["viewer"]["installed_version"] is None and not fresh["viewer"]["reviewed"]
    # Old versions stay installable.
    r = await install(client, other, lid, version=1)
    assert r.status_code == 201 and r.json()["version"] == 1 and r.json()["latest_version"] == 2
    third = await make_account()
    assert_envelope(await install(client, third, lid, version=3), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await install(client, third, lid, version=0), 422, "VALIDATION_ERROR")
    assert_envelope(await install(client, third, lid, version=10**12), 422, "VALIDATION_ERROR")
    r = await client.get(f"/marketplace/listings/{lid}/versions/{10**12}", headers=user.headers())
    assert_envelope(r, 422, "VALIDATION_ERROR")
