"""Workspace endpoints: workspaces, members, invitations, ownership."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.workspaces.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    OwnershipTransfer,
    WorkspaceCreate,
    WorkspaceOut,
    WorkspaceUpdate,
)
from codexos_server.workspaces.service import WorkspaceService

router = APIRouter(tags=["workspaces"])


async def _workspaces(request: Request) -> WorkspaceService:
    return get_container(request).workspaces


WorkspaceServiceDep = Annotated[WorkspaceService, Depends(_workspaces)]
Reader = Annotated[Principal, scoped("workspaces:read")]
Writer = Annotated[Principal, scoped("workspaces:write")]


@router.get("/workspaces", operation_id="workspaces_list", summary="List your workspaces")
async def list_workspaces(
    service: WorkspaceServiceDep, page: PageParamsDep, principal: Reader
) -> Page[WorkspaceOut]:
    return await service.list_mine(principal, page)


@router.post(
    "/workspaces",
    status_code=status.HTTP_201_CREATED,
    operation_id="workspaces_create",
    summary="Create a shared workspace",
)
async def create_workspace(
    body: WorkspaceCreate, service: WorkspaceServiceDep, principal: Writer
) -> WorkspaceOut:
    return await service.create(principal, body)


@router.get(
    "/workspaces/{workspace_id}",
    operation_id="workspaces_get",
    summary="Get a workspace",
    responses=errors(404),
)
async def get_workspace(
    workspace_id: str, service: WorkspaceServiceDep, principal: Reader
) -> WorkspaceOut:
    return await service.get(principal, workspace_id)


@router.patch(
    "/workspaces/{workspace_id}",
    operation_id="workspaces_update",
    summary="Rename a workspace (admin, owner)",
    responses=errors(403, 404),
)
async def update_workspace(
    workspace_id: str, body: WorkspaceUpdate, service: WorkspaceServiceDep, principal: Writer
) -> WorkspaceOut:
    return await service.update(principal, workspace_id, body)


@router.delete(
    "/workspaces/{workspace_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workspaces_delete",
    summary="Delete a workspace and everything in it (owner)",
    responses=errors(403, 404, 409),
)
async def delete_workspace(
    workspace_id: str, service: WorkspaceServiceDep, principal: Writer
) -> None:
    await service.delete(principal, workspace_id)


@router.post(
    "/workspaces/{workspace_id}/transfer-ownership",
    operation_id="workspaces_transfer_ownership",
    summary="Make another member the owner (owner)",
    responses=errors(403, 404, 409),
)
async def transfer_ownership(
    workspace_id: str, body: OwnershipTransfer, service: WorkspaceServiceDep, principal: Writer
) -> WorkspaceOut:
    return await service.transfer_ownership(principal, workspace_id, body)


@router.get(
    "/workspaces/{workspace_id}/members",
    operation_id="workspaces_members_list",
    summary="List members",
    responses=errors(404),
)
async def list_members(
    workspace_id: str, service: WorkspaceServiceDep, page: PageParamsDep, principal: Reader
) -> Page[MemberOut]:
    return await service.list_members(principal, workspace_id, page)


@router.patch(
    "/workspaces/{workspace_id}/members/{user_id}",
    operation_id="workspaces_members_update",
    summary="Change a member's role (admin, owner)",
    responses=errors(403, 404, 409),
)
async def update_member(
    workspace_id: str,
    user_id: str,
    body: MemberUpdate,
    service: WorkspaceServiceDep,
    principal: Writer,
) -> MemberOut:
    return await service.update_member(principal, workspace_id, user_id, body)


@router.delete(
    "/workspaces/{workspace_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workspaces_members_remove",
    summary="Remove a member, or leave",
    responses=errors(403, 404, 409),
)
async def remove_member(
    workspace_id: str, user_id: str, service: WorkspaceServiceDep, principal: Writer
) -> None:
    await service.remove_member(principal, workspace_id, user_id)


@router.post(
    "/workspaces/{workspace_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    operation_id="workspaces_invitations_create",
    summary="Invite someone by email (admin, owner)",
    responses=errors(403, 404, 409),
)
async def invite(
    workspace_id: str, body: InvitationCreate, service: WorkspaceServiceDep, principal: Writer
) -> InvitationCreated:
    """Returns the invitation with its token, once; send it to the invitee, who accepts it
    with POST /invitations/accept while logged in with the invited email address."""
    return await service.invite(principal, workspace_id, body)


@router.get(
    "/workspaces/{workspace_id}/invitations",
    operation_id="workspaces_invitations_list",
    summary="List invitations (admin, owner)",
    responses=errors(403, 404),
)
async def list_invitations(
    workspace_id: str, service: WorkspaceServiceDep, page: PageParamsDep, principal: Reader
) -> Page[InvitationOut]:
    return await service.list_invitations(principal, workspace_id, page)


@router.delete(
    "/workspaces/{workspace_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workspaces_invitations_revoke",
    summary="Revoke an invitation (admin, owner)",
    responses=errors(403, 404),
)
async def revoke_invitation(
    workspace_id: str, invitation_id: str, service: WorkspaceServiceDep, principal: Writer
) -> None:
    await service.revoke_invitation(principal, workspace_id, invitation_id)


@router.post(
    "/invitations/accept",
    operation_id="invitations_accept",
    summary="Accept an invitation",
    responses=errors(404, 409),
)
async def accept_invitation(
    body: InvitationAccept, service: WorkspaceServiceDep, principal: Writer
) -> WorkspaceOut:
    return await service.accept_invitation(principal, body.token)
