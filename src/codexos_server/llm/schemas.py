"""Provider and model API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

BUILTIN_PROVIDERS = ("local", "openai", "scripted")


class ProviderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "my-vllm",
                    "kind": "openai",
                    "base_url": "https://llm.example.com/v1",
                    "api_key": "sk-…",
                    "default_model": "meta-llama/Llama-3.1-8B-Instruct",
                }
            ]
        },
    )

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]{1,63}$")
    kind: Literal["openai"] = Field(default="openai", description="Any OpenAI-compatible chat API")
    base_url: HttpUrl | None = Field(default=None, description="Default: https://api.openai.com/v1")
    api_key: str | None = Field(
        default=None, max_length=500, description="Stored encrypted, never returned"
    )
    default_model: str | None = Field(default=None, max_length=200)
    models: list[str] = Field(default_factory=list, max_length=100)
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in BUILTIN_PROVIDERS:
            raise ValueError(f"{value!r} is a built-in provider name")
        return value


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl | None = None
    api_key: str | None = Field(default=None, max_length=500)
    default_model: str | None = Field(default=None, max_length=200)
    models: list[str] | None = Field(default=None, max_length=100)
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    max_retries: int | None = Field(default=None, ge=0, le=10)


class ProviderOut(BaseModel):
    id: str
    name: str
    kind: str
    base_url: str | None
    has_api_key: bool
    api_key_last_four: str | None
    default_model: str | None
    models: list[str]
    timeout_seconds: float
    max_retries: int
    created_at: datetime
    updated_at: datetime


class ModelInfo(BaseModel):
    id: str = Field(description="`provider/model`, usable as an agent's provider and model")
    provider: str
    model: str
    source: Literal["server", "workspace"]
    available: bool
    note: str | None = None
