"""Agent, run, conversation and tool API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codexos_server.agents.models import AgentType, RunStatus

_NAME = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"


class ModelSettings(BaseModel):
    """Which model an agent uses. `provider` is `local`, `openai`, `scripted` or the name of
    one of the workspace's provider configs; empty means the server's default."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Adapter options, e.g. a `script` for `scripted`"
    )


class ToolRef(BaseModel):
    """A tool the agent may call: a built-in by name, or a workspace tool by name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    config: dict[str, Any] = Field(default_factory=dict)


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_messages: int = Field(default=20, ge=0, le=500, description="Recent messages kept verbatim")
    summarize: bool = Field(default=True, description="Fold older messages into a rolling summary")


class AgentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "My First Agent", "description": "A simple test agent", "type": "basic"}
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    type: AgentType = AgentType.BASIC
    instructions: str = Field(
        default="",
        max_length=100_000,
        description="System prompt; `{{name}}` placeholders are filled from variables",
    )
    model: ModelSettings = Field(default_factory=ModelSettings)
    tools: list[ToolRef] = Field(default_factory=list, max_length=64)
    knowledge_base_ids: list[str] = Field(default_factory=list, max_length=64)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    variables: dict[str, str] = Field(default_factory=dict, description="Default variable values")
    max_steps: int = Field(default=10, ge=1, le=100)


class AgentUpdate(BaseModel):
    """Partial update; every update creates a new immutable version."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    type: AgentType | None = None
    instructions: str | None = Field(default=None, max_length=100_000)
    model: ModelSettings | None = None
    tools: list[ToolRef] | None = Field(default=None, max_length=64)
    knowledge_base_ids: list[str] | None = Field(default=None, max_length=64)
    memory: MemorySettings | None = None
    variables: dict[str, str] | None = None
    max_steps: int | None = Field(default=None, ge=1, le=100)

    @field_validator(
        "name",
        "type",
        "instructions",
        "model",
        "tools",
        "knowledge_base_ids",
        "memory",
        "variables",
        "max_steps",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workspace_id: str
    name: str
    description: str | None
    type: AgentType
    instructions: str
    model: ModelSettings
    tools: list[ToolRef]
    knowledge_base_ids: list[str]
    memory: MemorySettings
    variables: dict[str, str]
    max_steps: int
    version: int
    source_listing_id: str | None = Field(
        default=None, description="The marketplace listing it was installed from"
    )
    source_listing_version: int | None = None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class AgentVersionOut(BaseModel):
    version: int
    created_at: datetime
    snapshot: dict[str, Any]


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"input_data": "Generate API docs"}]},
    )

    input_data: str | dict[str, Any] = Field(description="The user's message (text or JSON)")
    conversation_id: str | None = Field(default=None, max_length=64)
    variables: dict[str, str] = Field(default_factory=dict)
    stream: bool = Field(
        default=False, description="Server-sent events of tokens, tool calls and status"
    )
    run_async: bool = Field(
        default=False,
        alias="async",
        description="Return 202 with the run at once; it runs as a job",
    )

    @field_validator("input_data")
    @classmethod
    def _not_empty(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        if len(str(value)) > 200_000:
            raise ValueError("is too long")
        return value


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    kind: str
    name: str
    input: Any
    output: Any
    error: dict[str, Any] | None
    usage: dict[str, int] | None
    started_at: datetime
    duration_ms: float


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    agent_version: int
    conversation_id: str | None
    status: RunStatus
    mode: Literal["sync", "async", "stream"]
    input: Any
    output: str | None
    citations: list[dict[str, Any]] | None
    error: dict[str, Any] | None
    usage: dict[str, int]
    cost: float
    model: str | None
    job_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunDetail(RunOut):
    steps: list[StepOut]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=200)


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    title: str | None
    summary: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    position: int
    role: str
    content: str
    run_id: str | None
    created_at: datetime


class ChatRequestBody(BaseModel):
    """Send a message in a conversation: the agent answers it (a run)."""

    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=200_000)
    variables: dict[str, str] = Field(default_factory=dict)
    stream: bool = False

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class ToolDefinitionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                    "method": "GET",
                    "url_template": "https://api.example.com/weather?city={city}",
                    "headers": {"Authorization": "Bearer …"},
                }
            ]
        },
    )

    name: str = Field(pattern=_NAME)
    description: str = Field(default="", max_length=2000)
    parameters: dict[str, Any] = Field(description="JSON schema of the arguments (an object)")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url_template: str = Field(min_length=8, max_length=2000, description="`{arg}` placeholders")
    headers: dict[str, str] = Field(default_factory=dict, description="Stored encrypted")


class ToolDefinitionOut(BaseModel):
    id: str
    name: str
    description: str
    parameters: dict[str, Any]
    method: str
    url_template: str
    header_names: list[str]
    created_at: datetime
    updated_at: datetime


class ToolInfo(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]
    kind: Literal["builtin", "custom"]
