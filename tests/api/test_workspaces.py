"""Workspaces: invitations, each role's allowed and refused actions, removal cutting access
at once, and API keys bound to one workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from codexos_server.container import Container
from codexos_server.workspaces.models import Invitation
from tests.conftest import Account, assert_envelope


@dataclass
class Team:
    workspace_id: str
    owner: Account
    admin: Account
    member: Account
    viewer: Account

    def by_role(self, role: str) -> Account:
        return {
            "owner": self.owner,
            "admin": self.admin,
            "member": self.member,
            "viewer": self.viewer,
        }[role]


async def invite_and_accept(
    client: httpx.AsyncClient, inviter: Account, workspace_id: str, invitee: Account, role: str
) -> None:
    r = await client.post(
        f"/workspaces/{workspace_id}/invitations",
        json={"email": invitee.email, "role": role},
        headers=inviter.headers(),
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/invitations/accept", json={"token": r.json()["token"]}, headers=invitee.headers()
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == role


@pytest.fixture
async def team(client: httpx.AsyncClient, make_account: Callable[..., Any]) -> Team:
    owner, admin, member, viewer = [await make_account() for _ in range(4)]
    r = await client.post("/workspaces", json={"name": "Research"}, headers=owner.headers())
    assert r.status_code == 201
    ws = r.json()
    assert ws["role"] == "owner" and not ws["is_personal"]
    for account, role in ((admin, "admin"), (member, "member"), (viewer, "viewer")):
        await invite_and_accept(client, owner, ws["id"], account, role)
    return Team(ws["id"], owner, admin, member, viewer)


ROLES = ["owner", "admin", "member", "viewer"]


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_reads(client: httpx.AsyncClient, team: Team, role: str) -> None:
    account = team.by_role(role)
    r = await client.get(f"/workspaces/{team.workspace_id}", headers=account.headers())
    assert r.status_code == 200 and r.json()["role"] == role
    r = await client.get(f"/workspaces/{team.workspace_id}/members", headers=account.headers())
    assert {m["role"] for m in r.json()["items"]} == set(ROLES)
    # The workspace header selects it for every other call.
    r = await client.get("/auth/api-keys", headers=account.headers(team.workspace_id))
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("role", "allowed"), [("owner", True), ("admin", True), ("member", False), ("viewer", False)]
)
async def test_manage_members_and_settings(
    client: httpx.AsyncClient, team: Team, role: str, allowed: bool
) -> None:
    account = team.by_role(role)
    r = await client.patch(
        f"/workspaces/{team.workspace_id}", json={"name": f"by {role}"}, headers=account.headers()
    )
    r2 = await client.post(
        f"/workspaces/{team.workspace_id}/invitations",
        json={"email": f"new-{role}@example.com"},
        headers=account.headers(),
    )
    r3 = await client.patch(
        f"/workspaces/{team.workspace_id}/members/{team.viewer.id}",
        json={"role": "member"},
        headers=account.headers(),
    )
    r4 = await client.get(f"/workspaces/{team.workspace_id}/invitations", headers=account.headers())
    if allowed:
        assert (r.status_code, r2.status_code, r3.status_code, r4.status_code) == (
            200,
            201,
            200,
            200,
        )
    else:
        for resp in (r, r2, r3, r4):
            err = assert_envelope(resp, 403, "AUTHORIZATION_FAILED")
            assert err["details"]["role"] == role


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_only_the_owner_deletes_or_transfers(
    client: httpx.AsyncClient, team: Team, role: str
) -> None:
    account = team.by_role(role)
    assert_envelope(
        await client.delete(f"/workspaces/{team.workspace_id}", headers=account.headers()),
        403,
        "AUTHORIZATION_FAILED",
    )
    r = await client.post(
        f"/workspaces/{team.workspace_id}/transfer-ownership",
        json={"user_id": account.id},
        headers=account.headers(),
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")


async def test_owner_transfers_then_deletes(client: httpx.AsyncClient, team: Team) -> None:
    r = await client.post(
        f"/workspaces/{team.workspace_id}/transfer-ownership",
        json={"user_id": team.admin.id},
        headers=team.owner.headers(),
    )
    assert (
        r.status_code == 200
        and r.json()["role"] == "admin"
        and r.json()["owner_id"] == team.admin.id
    )
    assert_envelope(
        await client.delete(f"/workspaces/{team.workspace_id}", headers=team.owner.headers()),
        403,
        "AUTHORIZATION_FAILED",
    )
    r = await client.delete(f"/workspaces/{team.workspace_id}", headers=team.admin.headers())
    assert r.status_code == 204
    assert_envelope(
        await client.get(f"/workspaces/{team.workspace_id}", headers=team.member.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_owner_cannot_be_demoted_removed_or_leave(
    client: httpx.AsyncClient, team: Team
) -> None:
    ws = team.workspace_id
    r = await client.patch(
        f"/workspaces/{ws}/members/{team.owner.id}",
        json={"role": "viewer"},
        headers=team.admin.headers(),
    )
    assert_envelope(r, 409, "CONFLICT")
    r = await client.patch(
        f"/workspaces/{ws}/members/{team.viewer.id}",
        json={"role": "owner"},
        headers=team.owner.headers(),
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")
    assert_envelope(
        await client.delete(
            f"/workspaces/{ws}/members/{team.owner.id}", headers=team.admin.headers()
        ),
        409,
        "CONFLICT",
    )
    assert_envelope(
        await client.delete(
            f"/workspaces/{ws}/members/{team.owner.id}", headers=team.owner.headers()
        ),
        409,
        "CONFLICT",
    )


async def test_member_can_leave(client: httpx.AsyncClient, team: Team) -> None:
    r = await client.delete(
        f"/workspaces/{team.workspace_id}/members/{team.viewer.id}", headers=team.viewer.headers()
    )
    assert r.status_code == 204
    assert_envelope(
        await client.get(f"/workspaces/{team.workspace_id}", headers=team.viewer.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_removal_cuts_access_at_once(client: httpx.AsyncClient, team: Team) -> None:
    ws = team.workspace_id
    key = await team.member.api_key(["workspaces:read", "api_keys:read"], workspace_id=ws)
    assert (await client.get("/auth/api-keys", headers=team.member.headers(ws))).status_code == 200
    assert (
        await client.get("/auth/api-keys", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 200

    assert (
        await client.delete(
            f"/workspaces/{ws}/members/{team.member.id}", headers=team.admin.headers()
        )
    ).status_code == 204

    assert_envelope(
        await client.get("/auth/api-keys", headers=team.member.headers(ws)),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.get("/auth/api-keys", headers={"Authorization": f"Bearer {key}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    # Their own personal workspace still works.
    assert (await client.get("/auth/api-keys", headers=team.member.headers())).status_code == 200


async def test_non_member_gets_404(
    client: httpx.AsyncClient, team: Team, make_account: Callable[..., Any]
) -> None:
    stranger: Account = await make_account()
    ws = team.workspace_id
    assert_envelope(
        await client.get(f"/workspaces/{ws}", headers=stranger.headers()), 404, "RESOURCE_NOT_FOUND"
    )
    assert_envelope(
        await client.get(f"/workspaces/{ws}/members", headers=stranger.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.delete(f"/workspaces/{ws}", headers=stranger.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.get("/auth/api-keys", headers=stranger.headers(ws)), 404, "RESOURCE_NOT_FOUND"
    )
    personal = await team.owner.personal_workspace()
    assert_envelope(
        await client.get(f"/workspaces/{personal}", headers=stranger.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_key_of_one_workspace_refused_in_another(
    client: httpx.AsyncClient, team: Team
) -> None:
    personal_key = await team.member.api_key(["workspaces:read", "api_keys:read"])
    team_key = await team.member.api_key(
        ["workspaces:read", "api_keys:read"], workspace_id=team.workspace_id
    )
    r = await client.get(
        "/auth/api-keys",
        headers={"Authorization": f"Bearer {personal_key}", "X-Workspace-ID": team.workspace_id},
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    personal = await team.member.personal_workspace()
    r = await client.get(f"/workspaces/{personal}", headers={"Authorization": f"Bearer {team_key}"})
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    r = await client.get("/workspaces", headers={"Authorization": f"Bearer {team_key}"})
    assert [w["id"] for w in r.json()["items"]] == [team.workspace_id]


async def test_invitation_rules(
    client: httpx.AsyncClient, team: Team, make_account: Callable[..., Any], container: Container
) -> None:
    ws = team.workspace_id
    invitee: Account = await make_account()
    other: Account = await make_account()

    r = await client.post(
        f"/workspaces/{ws}/invitations",
        json={"email": team.member.email},
        headers=team.owner.headers(),
    )
    assert_envelope(r, 409, "CONFLICT")  # already a member
    r = await client.post(
        f"/workspaces/{ws}/invitations",
        json={"email": invitee.email, "role": "owner"},
        headers=team.owner.headers(),
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")

    token = (
        await client.post(
            f"/workspaces/{ws}/invitations",
            json={"email": invitee.email.upper()},
            headers=team.owner.headers(),
        )
    ).json()["token"]
    assert_envelope(
        await client.post("/invitations/accept", json={"token": token}, headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.post(
            "/invitations/accept", json={"token": "x" * 43}, headers=invitee.headers()
        ),
        404,
        "RESOURCE_NOT_FOUND",
    )

    # Re-inviting replaces the pending invitation: the first token stops working.
    second = (
        await client.post(
            f"/workspaces/{ws}/invitations",
            json={"email": invitee.email},
            headers=team.admin.headers(),
        )
    ).json()
    assert_envelope(
        await client.post("/invitations/accept", json={"token": token}, headers=invitee.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )

    # Expired:
    async with container.db.transaction() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == second["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_envelope(
        await client.post(
            "/invitations/accept", json={"token": second["token"]}, headers=invitee.headers()
        ),
        409,
        "CONFLICT",
    )

    # Revoked:
    third = (
        await client.post(
            f"/workspaces/{ws}/invitations",
            json={"email": invitee.email},
            headers=team.owner.headers(),
        )
    ).json()
    assert (
        await client.delete(
            f"/workspaces/{ws}/invitations/{third['id']}", headers=team.owner.headers()
        )
    ).status_code == 204
    assert_envelope(
        await client.post(
            "/invitations/accept", json={"token": third["token"]}, headers=invitee.headers()
        ),
        404,
        "RESOURCE_NOT_FOUND",
    )

    # Accepted once, then spent:
    fourth = (
        await client.post(
            f"/workspaces/{ws}/invitations",
            json={"email": invitee.email, "role": "viewer"},
            headers=team.owner.headers(),
        )
    ).json()
    assert (
        await client.post(
            "/invitations/accept", json={"token": fourth["token"]}, headers=invitee.headers()
        )
    ).status_code == 200
    assert_envelope(
        await client.post(
            "/invitations/accept", json={"token": fourth["token"]}, headers=invitee.headers()
        ),
        404,
        "RESOURCE_NOT_FOUND",
    )
    listed = (
        await client.get(f"/workspaces/{ws}/invitations", headers=team.owner.headers())
    ).json()["items"]
    assert "token" not in listed[0] and "token_hash" not in listed[0]


async def test_personal_workspace_rules(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    personal = await account.personal_workspace()
    assert_envelope(
        await client.delete(f"/workspaces/{personal}", headers=account.headers()), 409, "CONFLICT"
    )
    r = await client.post(
        f"/workspaces/{personal}/invitations",
        json={"email": "x@example.com"},
        headers=account.headers(),
    )
    assert_envelope(r, 409, "CONFLICT")


async def test_workspace_list_paginates(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    for i in range(5):
        await client.post("/workspaces", json={"name": f"w{i}"}, headers=account.headers())
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/workspaces", params=params, headers=account.headers())).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6
