"""Identity: auth (tokens), users, API keys and workspaces."""

from __future__ import annotations

from typing import Any

from codexos._core import RequestOptions, compact, parse
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import ApiKey, ApiKeyCreated, Member, TokenPair, User, Workspace


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

    async def change_password(self, current_password: str, new_password: str) -> None:
        body = {"current_password": current_password, "new_password": new_password}
        await self._client._call_none("POST", "/auth/password", json_body=body)


class AsyncUsers(AsyncResource):
    async def me(self) -> User:
        return await self._client._call(User, "GET", "/users/me")

    async def update(self, *, name: str | None = None, email: str | None = None) -> User:
        body = compact(name=name, email=email)
        return await self._client._call(User, "PATCH", "/users/me", json_body=body)


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
