"""Workspace API shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from codexos_server.workspaces.permissions import WorkspaceRole


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Research team"}]}
    )
    name: str = Field(min_length=1, max_length=200)


class WorkspaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)


class WorkspaceOut(BaseModel):
    id: str
    name: str
    is_personal: bool
    owner_id: str
    role: WorkspaceRole = Field(description="The caller's role in this workspace")
    created_at: datetime
    updated_at: datetime


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str | None
    role: WorkspaceRole
    joined_at: datetime


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: WorkspaceRole

    @field_validator("role")
    @classmethod
    def _not_owner(cls, value: WorkspaceRole) -> WorkspaceRole:
        if value is WorkspaceRole.OWNER:
            raise ValueError("ownership is given by transferring it")
        return value


class InvitationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "teammate@example.com", "role": "member"}]},
    )
    email: EmailStr
    role: WorkspaceRole = WorkspaceRole.MEMBER

    @field_validator("role")
    @classmethod
    def _not_owner(cls, value: WorkspaceRole) -> WorkspaceRole:
        if value is WorkspaceRole.OWNER:
            raise ValueError("ownership is given by transferring it, not by invitation")
        return value

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return value.strip().lower()


class InvitationOut(BaseModel):
    id: str
    workspace_id: str
    email: str
    role: WorkspaceRole
    invited_by_id: str | None
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class InvitationCreated(InvitationOut):
    token: str = Field(description="Shown once: the invitee accepts with it")


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=10, max_length=200)


class OwnershipTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=64)
