"""Workspace roles and what each may do.

| action              | viewer | member | admin | owner |
|---------------------|:------:|:------:|:-----:|:-----:|
| read                |   x    |   x    |   x   |   x   |
| write (create, update, delete resources) | | x | x | x |
| execute (run agents, workflows)          | | x | x | x |
| manage members and invitations           | |   | x | x |
| manage everyone's API keys               | |   | x | x |
| update workspace settings                | |   | x | x |
| delete workspace, transfer ownership     | |   |   | x |
"""

from __future__ import annotations

from enum import StrEnum

from codexos_server.errors import AuthorizationFailed


class WorkspaceRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_KEYS = "manage_keys"
    UPDATE_WORKSPACE = "update_workspace"
    DELETE_WORKSPACE = "delete_workspace"
    TRANSFER_OWNERSHIP = "transfer_ownership"


_VIEWER = frozenset({Action.READ})
_MEMBER = _VIEWER | {Action.WRITE, Action.EXECUTE}
_ADMIN = _MEMBER | {Action.MANAGE_MEMBERS, Action.MANAGE_KEYS, Action.UPDATE_WORKSPACE}
_OWNER = _ADMIN | {Action.DELETE_WORKSPACE, Action.TRANSFER_OWNERSHIP}

PERMISSIONS: dict[WorkspaceRole, frozenset[Action]] = {
    WorkspaceRole.VIEWER: _VIEWER,
    WorkspaceRole.MEMBER: _MEMBER,
    WorkspaceRole.ADMIN: _ADMIN,
    WorkspaceRole.OWNER: _OWNER,
}

RANK = {
    WorkspaceRole.VIEWER: 0,
    WorkspaceRole.MEMBER: 1,
    WorkspaceRole.ADMIN: 2,
    WorkspaceRole.OWNER: 3,
}


def role_can(role: WorkspaceRole, action: Action) -> bool:
    return action in PERMISSIONS[role]


def ensure_allowed(role: WorkspaceRole, action: Action, workspace_id: str) -> None:
    """Raises: AuthorizationFailed naming the role and the refused action."""
    if not role_can(role, action):
        raise AuthorizationFailed(
            f"Your role '{role.value}' in this workspace cannot {action.value.replace('_', ' ')}",
            {"workspace_id": workspace_id, "role": role.value, "action": action.value},
        )
