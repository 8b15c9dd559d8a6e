"""Workspace logic: membership, roles, invitations, ownership."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.models import ApiKey
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.auth.tokens import random_token, sha256_hex
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.users.models import User
from codexos_server.workspaces.models import Invitation, Workspace, WorkspaceMember
from codexos_server.workspaces.permissions import Action, WorkspaceRole, ensure_allowed
from codexos_server.workspaces.schemas import (
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


def _out(ws: Workspace, role: str) -> WorkspaceOut:
    return WorkspaceOut(
        id=ws.id,
        name=ws.name,
        is_personal=ws.is_personal,
        owner_id=ws.owner_id,
        role=WorkspaceRole(role),
        created_at=ws.created_at,
        updated_at=ws.updated_at,
    )


def _invitation_out(inv: Invitation) -> InvitationOut:
    return InvitationOut.model_validate(inv, from_attributes=True)


async def create_personal_workspace(session: AsyncSession, user: User) -> Workspace:
    """The workspace every user gets at registration, owned by them."""
    ws = Workspace(
        name=f"{user.name or user.email.split('@')[0]}'s workspace",
        is_personal=True,
        owner_id=user.id,
    )
    session.add(ws)
    await session.flush()
    session.add(
        WorkspaceMember(workspace_id=ws.id, user_id=user.id, role=WorkspaceRole.OWNER.value)
    )
    return ws


async def release_user(session: AsyncSession, user_id: str) -> None:
    """Remove a user from every workspace before the account is deleted.

    Their personal workspace, and shared ones where they are the only member, are deleted.
    Raises: Conflict if they own a workspace others still use (transfer it first).
    """
    owned = (
        await session.execute(select(Workspace).where(Workspace.owner_id == user_id))
    ).scalars()
    for ws in list(owned):
        others = await session.scalar(
            select(func.count())
            .select_from(WorkspaceMember)
            .where(WorkspaceMember.workspace_id == ws.id, WorkspaceMember.user_id != user_id)
        )
        if others and not ws.is_personal:
            raise Conflict(
                "Transfer ownership of your shared workspaces before deleting your account",
                {"workspace_id": ws.id, "name": ws.name},
            )
        await session.delete(ws)
    await session.execute(delete(WorkspaceMember).where(WorkspaceMember.user_id == user_id))


class WorkspaceService:
    """Workspaces a user belongs to, and their administration."""

    def __init__(self, db: Database, invitation_ttl_seconds: int) -> None:
        self.db = db
        self.invitation_ttl = timedelta(seconds=invitation_ttl_seconds)

    async def _member(
        self, session: AsyncSession, actor: Principal, workspace_id: str
    ) -> tuple[Workspace, WorkspaceRole]:
        """The workspace and the actor's role in it. Raises: NotFound if not a member
        (or if an API key bound to another workspace asks)."""
        if actor.method is AuthMethod.API_KEY and workspace_id != actor.workspace_id:
            raise NotFound("workspace", workspace_id)
        row = (
            await session.execute(
                select(Workspace, WorkspaceMember.role)
                .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
                .where(Workspace.id == workspace_id, WorkspaceMember.user_id == actor.user_id)
            )
        ).first()
        if row is None:
            raise NotFound("workspace", workspace_id)
        return row[0], WorkspaceRole(row[1])

    async def _allowed(
        self, session: AsyncSession, actor: Principal, workspace_id: str, action: Action
    ) -> tuple[Workspace, WorkspaceRole]:
        ws, role = await self._member(session, actor, workspace_id)
        ensure_allowed(role, action, workspace_id)
        return ws, role

    async def list_mine(self, actor: Principal, params: PageParams) -> Page[WorkspaceOut]:
        """Workspaces the actor belongs to (only the bound one for an API key)."""
        async with self.db.read() as session:
            stmt = (
                select(Workspace, WorkspaceMember.role)
                .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
                .where(WorkspaceMember.user_id == actor.user_id)
            )
            if actor.method is AuthMethod.API_KEY:
                stmt = stmt.where(Workspace.id == actor.workspace_id)
            rows, cursor = await paginate(session, stmt, params, Workspace.created_at, Workspace.id)
            return Page(items=[_out(ws, role) for ws, role in rows], next_cursor=cursor)

    async def create(self, actor: Principal, body: WorkspaceCreate) -> WorkspaceOut:
        """Create a shared workspace owned by the actor."""
        async with self.db.transaction() as session:
            ws = Workspace(name=body.name, is_personal=False, owner_id=actor.user_id)
            session.add(ws)
            await session.flush()
            session.add(
                WorkspaceMember(
                    workspace_id=ws.id, user_id=actor.user_id, role=WorkspaceRole.OWNER.value
                )
            )
            return _out(ws, WorkspaceRole.OWNER.value)

    async def get(self, actor: Principal, workspace_id: str) -> WorkspaceOut:
        async with self.db.read() as session:
            ws, role = await self._member(session, actor, workspace_id)
            return _out(ws, role.value)

    async def update(
        self, actor: Principal, workspace_id: str, body: WorkspaceUpdate
    ) -> WorkspaceOut:
        async with self.db.transaction() as session:
            ws, role = await self._allowed(session, actor, workspace_id, Action.UPDATE_WORKSPACE)
            if body.name is not None:
                ws.name = body.name
            await session.flush()
            return _out(ws, role.value)

    async def delete(self, actor: Principal, workspace_id: str) -> None:
        """Delete a shared workspace and everything in it. Raises: Conflict for a personal one."""
        async with self.db.transaction() as session:
            ws, _ = await self._allowed(session, actor, workspace_id, Action.DELETE_WORKSPACE)
            if ws.is_personal:
                raise Conflict("A personal workspace is deleted only with its account")
            await session.delete(ws)

    async def list_members(
        self, actor: Principal, workspace_id: str, params: PageParams
    ) -> Page[MemberOut]:
        async with self.db.read() as session:
            await self._allowed(session, actor, workspace_id, Action.READ)
            stmt = (
                select(WorkspaceMember, User.email, User.name)
                .join(User, User.id == WorkspaceMember.user_id)
                .where(WorkspaceMember.workspace_id == workspace_id)
            )
            rows, cursor = await paginate(
                session, stmt, params, WorkspaceMember.created_at, WorkspaceMember.id
            )
            items = [
                MemberOut(
                    user_id=m.user_id,
                    email=email,
                    name=name,
                    role=WorkspaceRole(m.role),
                    joined_at=m.created_at,
                )
                for m, email, name in rows
            ]
            return Page(items=items, next_cursor=cursor)

    async def _target_member(
        self, session: AsyncSession, workspace_id: str, user_id: str
    ) -> WorkspaceMember:
        member = await session.scalar(
            select(WorkspaceMember).where(
                WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
            )
        )
        if member is None:
            raise NotFound("member", user_id)
        return member

    async def update_member(
        self, actor: Principal, workspace_id: str, user_id: str, body: MemberUpdate
    ) -> MemberOut:
        """Change a member's role. Raises: Conflict for the owner (transfer ownership instead)."""
        async with self.db.transaction() as session:
            await self._allowed(session, actor, workspace_id, Action.MANAGE_MEMBERS)
            member = await self._target_member(session, workspace_id, user_id)
            if member.role == WorkspaceRole.OWNER.value:
                raise Conflict("The owner's role changes only by transferring ownership")
            member.role = body.role.value
            user = await session.get_one(User, user_id)
            return MemberOut(
                user_id=user_id,
                email=user.email,
                name=user.name,
                role=body.role,
                joined_at=member.created_at,
            )

    async def remove_member(self, actor: Principal, workspace_id: str, user_id: str) -> None:
        """Remove a member (admins), or leave (anyone but the owner). Their access and their
        API keys for this workspace end at once."""
        async with self.db.transaction() as session:
            if user_id == actor.user_id:
                await self._member(session, actor, workspace_id)
            else:
                await self._allowed(session, actor, workspace_id, Action.MANAGE_MEMBERS)
            member = await self._target_member(session, workspace_id, user_id)
            if member.role == WorkspaceRole.OWNER.value:
                raise Conflict("The owner cannot leave or be removed; transfer ownership first")
            await session.delete(member)
            await session.execute(
                delete(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.user_id == user_id)
            )

    async def transfer_ownership(
        self, actor: Principal, workspace_id: str, body: OwnershipTransfer
    ) -> WorkspaceOut:
        """Make another member the owner; the previous owner becomes an admin."""
        async with self.db.transaction() as session:
            ws, _ = await self._allowed(session, actor, workspace_id, Action.TRANSFER_OWNERSHIP)
            if ws.is_personal:
                raise Conflict("A personal workspace cannot change owner")
            target = await self._target_member(session, workspace_id, body.user_id)
            if target.user_id == actor.user_id:
                raise Conflict("You already own this workspace")
            current = await self._target_member(session, workspace_id, actor.user_id)
            current.role = WorkspaceRole.ADMIN.value
            target.role = WorkspaceRole.OWNER.value
            ws.owner_id = target.user_id
            await session.flush()
            return _out(ws, WorkspaceRole.ADMIN.value)

    async def invite(
        self, actor: Principal, workspace_id: str, body: InvitationCreate
    ) -> InvitationCreated:
        """Invite someone by email; the token is returned once (a pending invitation to the
        same address is replaced). Raises: Conflict if they are already a member."""
        async with self.db.transaction() as session:
            ws, _ = await self._allowed(session, actor, workspace_id, Action.MANAGE_MEMBERS)
            if ws.is_personal:
                raise Conflict(
                    "Personal workspaces cannot have other members; create a shared workspace"
                )
            already = await session.scalar(
                select(WorkspaceMember.id)
                .join(User, User.id == WorkspaceMember.user_id)
                .where(WorkspaceMember.workspace_id == workspace_id, User.email == body.email)
            )
            if already:
                raise Conflict("This person is already a member")
            now = utcnow()
            await session.execute(
                update(Invitation)
                .where(
                    Invitation.workspace_id == workspace_id,
                    Invitation.email == body.email,
                    Invitation.accepted_at.is_(None),
                    Invitation.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            token = random_token()
            inv = Invitation(
                workspace_id=workspace_id,
                email=body.email,
                role=body.role.value,
                token_hash=sha256_hex(token),
                invited_by_id=actor.user_id,
                expires_at=now + self.invitation_ttl,
            )
            session.add(inv)
            await session.flush()
            return InvitationCreated(**_invitation_out(inv).model_dump(), token=token)

    async def list_invitations(
        self, actor: Principal, workspace_id: str, params: PageParams
    ) -> Page[InvitationOut]:
        async with self.db.read() as session:
            await self._allowed(session, actor, workspace_id, Action.MANAGE_MEMBERS)
            stmt = select(Invitation).where(Invitation.workspace_id == workspace_id)
            rows, cursor = await paginate(
                session, stmt, params, Invitation.created_at, Invitation.id
            )
            return Page(items=[_invitation_out(r[0]) for r in rows], next_cursor=cursor)

    async def revoke_invitation(
        self, actor: Principal, workspace_id: str, invitation_id: str
    ) -> None:
        async with self.db.transaction() as session:
            await self._allowed(session, actor, workspace_id, Action.MANAGE_MEMBERS)
            inv = await session.scalar(
                select(Invitation).where(
                    Invitation.id == invitation_id, Invitation.workspace_id == workspace_id
                )
            )
            if inv is None:
                raise NotFound("invitation", invitation_id)
            if inv.accepted_at is None and inv.revoked_at is None:
                inv.revoked_at = utcnow()

    async def accept_invitation(self, actor: Principal, token: str) -> WorkspaceOut:
        """Join the workspace an invitation names. Only the invited address may accept it.

        Raises: NotFound for an unknown, used, revoked or someone else's invitation;
        Conflict if it has expired or the actor is already a member.
        """
        async with self.db.transaction() as session:
            inv = await session.scalar(
                select(Invitation).where(Invitation.token_hash == sha256_hex(token))
            )
            if (
                inv is None
                or inv.accepted_at is not None
                or inv.revoked_at is not None
                or inv.email != actor.email
            ):
                raise NotFound("invitation")
            now = utcnow()
            if inv.expires_at <= now:
                raise Conflict("This invitation has expired; ask for a new one")
            exists = await session.scalar(
                select(WorkspaceMember.id).where(
                    WorkspaceMember.workspace_id == inv.workspace_id,
                    WorkspaceMember.user_id == actor.user_id,
                )
            )
            if exists:
                raise Conflict("You are already a member of this workspace")
            inv.accepted_at = now
            inv.accepted_by_id = actor.user_id
            session.add(
                WorkspaceMember(workspace_id=inv.workspace_id, user_id=actor.user_id, role=inv.role)
            )
            ws = await session.get_one(Workspace, inv.workspace_id)
            return _out(ws, inv.role)
