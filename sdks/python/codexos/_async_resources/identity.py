"""Identity: auth (tokens), users, API keys and workspaces."""

from __future__ import annotations

from typing import Any

from codexos._core import RequestOptions, compact, parse
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import (
    ApiKey,
    ApiKeyCreated,
    Invitation,
    InvitationCreated,
    Member,
    Scope,
    TokenPair,
    User,
    Workspace,
)


class AsyncAuth(AsyncResource):
    async def register(self, email: str, password: str, *, name: str | None = None) -> User:
        """Create an account (no sign-in)."""
        body = compact(email=email, password=password, name=name)
        return await self._client._call(
            User, "POST", "/auth/register", json_body=body, authenticated=False
        )

    async def login(self, email: str, password: str) -> TokenPair:
        """Sign in; the client then uses the access token and refreshes it on expiry."""
        opts = RequestOptions(
            "POST",
            "/auth/login",
            json_body={"email": email, "password": password},
            authenticated=False,
        )
        pair = parse(TokenPair, await self._client._request(opts))
        self._client._store_tokens(pair.model_dump())
        return pair

    async def refresh(self) -> TokenPair:
        """Exchange the refresh token for a new pair (done automatically on a 401)."""
        return await self._client._refresh()

    async def logout(self) -> None:
        """Revoke this session; the client forgets its tokens."""
        body = compact(refresh_token=self._client.tokens.refresh_token)
        await self._client._call_none("POST", "/auth/logout", json_body=body)
        self._client.tokens.access_token = None
        self._client.tokens.refresh_token = None

    async def scopes(self) -> list[Scope]:
        """Every scope an API key or OAuth app can be granted."""
        return await self._client._call_list(Scope, "GET", "/auth/scopes")

    async def change_password(self, current_password: str, new_password: str) -> None:
        body = {"current_password": current_password, "new_password": new_password}
        await self._client._call_none("POST", "/auth/password", json_body=body)


class AsyncUsers(AsyncResource):
    async def me(self) -> User:
        return await self._client._call(User, "GET", "/users/me")

    async def update(self, *, name: str | None = None, email: str | None = None) -> User:
        body = compact(name=name, email=email)
        return await self._client._call(User, "PATCH", "/users/me", json_body=body)

    async def delete_me(self) -> None:
        """Delete your own account."""
        await self._client._call_none("DELETE", "/users/me")

    def list(self, *, limit: int | None = None) -> AsyncPaginator[User]:
        """Every user (admins)."""
        return self._client._list(User, "/users", compact(limit=limit))

    async def retrieve(self, user_id: str) -> User:
        """A user by id (admins)."""
        return await self._client._call(User, "GET", f"/users/{user_id}")

    async def admin_update(self, user_id: str, **fields: Any) -> User:
        """Set a user's `role`, `tier`, `rate_limit_per_hour` or `is_disabled` (admins)."""
        path = f"/users/{user_id}"
        return await self._client._call(User, "PATCH", path, json_body=fields)


class AsyncApiKeys(AsyncResource):
    async def create(
        self, name: str, scopes: list[str], *, expires_in_days: int | None = None
    ) -> ApiKeyCreated:
        """A new key; `.key` is shown only in this response."""
        body = compact(name=name, scopes=scopes, expires_in_days=expires_in_days)
        return await self._client._call(ApiKeyCreated, "POST", "/auth/api-keys", json_body=body)

    def list(self, *, limit: int | None = None) -> AsyncPaginator[ApiKey]:
        return self._client._list(ApiKey, "/auth/api-keys", compact(limit=limit))

    async def revoke(self, key_id: str) -> ApiKey:
        return await self._client._call(ApiKey, "DELETE", f"/auth/api-keys/{key_id}")


class AsyncWorkspaces(AsyncResource):
    async def create(self, name: str) -> Workspace:
        return await self._client._call(Workspace, "POST", "/workspaces", json_body={"name": name})

    def list(self, *, limit: int | None = None) -> AsyncPaginator[Workspace]:
        return self._client._list(Workspace, "/workspaces", compact(limit=limit))

    async def retrieve(self, workspace_id: str) -> Workspace:
        return await self._client._call(Workspace, "GET", f"/workspaces/{workspace_id}")

    async def update(self, workspace_id: str, **fields: Any) -> Workspace:
        path = f"/workspaces/{workspace_id}"
        return await self._client._call(Workspace, "PATCH", path, json_body=fields)

    async def delete(self, workspace_id: str) -> None:
        await self._client._call_none("DELETE", f"/workspaces/{workspace_id}")

    def members(self, workspace_id: str, *, limit: int | None = None) -> AsyncPaginator[Member]:
        path = f"/workspaces/{workspace_id}/members"
        return self._client._list(Member, path, compact(limit=limit))

    async def update_member(self, workspace_id: str, user_id: str, role: str) -> Member:
        path = f"/workspaces/{workspace_id}/members/{user_id}"
        return await self._client._call(Member, "PATCH", path, json_body={"role": role})

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        await self._client._call_none("DELETE", f"/workspaces/{workspace_id}/members/{user_id}")

    async def transfer_ownership(self, workspace_id: str, user_id: str) -> Workspace:
        """Make another member the owner (you become an admin)."""
        path = f"/workspaces/{workspace_id}/transfer-ownership"
        return await self._client._call(Workspace, "POST", path, json_body={"user_id": user_id})

    async def invite(
        self, workspace_id: str, email: str, *, role: str | None = None
    ) -> InvitationCreated:
        """Invite someone by email; the `token` (for `accept_invitation`) is only shown here."""
        path = f"/workspaces/{workspace_id}/invitations"
        body = compact(email=email, role=role)
        return await self._client._call(InvitationCreated, "POST", path, json_body=body)

    def invitations(
        self, workspace_id: str, *, limit: int | None = None
    ) -> AsyncPaginator[Invitation]:
        path = f"/workspaces/{workspace_id}/invitations"
        return self._client._list(Invitation, path, compact(limit=limit))

    async def revoke_invitation(self, workspace_id: str, invitation_id: str) -> None:
        path = f"/workspaces/{workspace_id}/invitations/{invitation_id}"
        await self._client._call_none("DELETE", path)

    async def accept_invitation(self, token: str) -> Workspace:
        """Join the workspace of an invitation sent to your email address."""
        body = {"token": token}
        return await self._client._call(Workspace, "POST", "/invitations/accept", json_body=body)
