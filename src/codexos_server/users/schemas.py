"""User API shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from codexos_server.users.models import Tier, UserRole


def normalise_email(value: str) -> str:
    return value.strip().lower()


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b8f3a52-6a4e-4b43-9b0e-2f3b9f1f8c11",
                    "email": "your-email@example.com",
                    "name": "Ada",
                    "role": "user",
                    "tier": "free",
                    "rate_limit_per_hour": None,
                    "is_disabled": False,
                    "created_at": "2026-01-15T10:00:00Z",
                    "updated_at": "2026-01-15T10:00:00Z",
                }
            ]
        },
    )

    id: str
    email: str
    name: str | None
    role: UserRole
    tier: Tier
    rate_limit_per_hour: int | None = Field(description="Custom hourly limit (enterprise)")
    is_disabled: bool
    created_at: datetime
    updated_at: datetime


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Ada L."}]})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else value


class UserAdminUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tier": "enterprise", "rate_limit_per_hour": 50000}]},
    )

    role: UserRole | None = None
    tier: Tier | None = None
    rate_limit_per_hour: int | None = Field(
        default=None, ge=1, le=100_000_000, description="null clears a custom limit"
    )
    is_disabled: bool | None = None

    @field_validator("role", "tier", "is_disabled", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value
