"""User endpoints: your profile, and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.users.schemas import UserAdminUpdate, UserOut, UserUpdate
from codexos_server.users.service import UserService

router = APIRouter(prefix="/users", tags=["users"])


async def _users(request: Request) -> UserService:
    return get_container(request).users


UserServiceDep = Annotated[UserService, Depends(_users)]
ProfileActor = Annotated[Principal, scoped("profile")]
AdminActor = Annotated[Principal, scoped("admin")]


@router.get("/me", operation_id="users_me", summary="Get your profile", responses=errors(403))
async def get_me(users: UserServiceDep, principal: ProfileActor) -> UserOut:
    return await users.get_profile(principal)


@router.patch(
    "/me", operation_id="users_update_me", summary="Update your profile", responses=errors(403, 409)
)
async def update_me(body: UserUpdate, users: UserServiceDep, principal: ProfileActor) -> UserOut:
    return await users.update_profile(principal, body)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users_delete_me",
    summary="Delete your account",
    responses=errors(403, 409),
)
async def delete_me(users: UserServiceDep, principal: ProfileActor) -> None:
    """Deletes your personal workspace and the workspaces only you use, revokes every session
    and key, and anonymises the account. Transfer shared workspaces you own first (409)."""
    await users.delete_account(principal)


@router.get("", operation_id="users_list", summary="List users (admin)", responses=errors(403))
async def list_users(
    users: UserServiceDep, page: PageParamsDep, principal: AdminActor
) -> Page[UserOut]:
    return await users.list_users(principal, page)


@router.get(
    "/{user_id}", operation_id="users_get", summary="Get a user (admin)", responses=errors(403, 404)
)
async def get_user(user_id: str, users: UserServiceDep, principal: AdminActor) -> UserOut:
    return await users.get_user(principal, user_id)


@router.patch(
    "/{user_id}",
    operation_id="users_admin_update",
    summary="Change a user's role, tier or status (admin)",
    responses=errors(403, 404, 409),
)
async def admin_update_user(
    user_id: str, body: UserAdminUpdate, users: UserServiceDep, principal: AdminActor
) -> UserOut:
    return await users.admin_update(principal, user_id, body)
