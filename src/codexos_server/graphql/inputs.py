"""Mutation inputs. They mirror the REST bodies field for field (free-form parts are JSON
scalars) and are validated by the same pydantic models, so the rules live once."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import strawberry
from pydantic import BaseModel, ValidationError
from strawberry.scalars import JSON

from codexos_server.agents.models import AgentType
from codexos_server.errors import ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)
UNSET: Any = strawberry.UNSET


def to_model(model: type[ModelT], data: Any) -> ModelT:
    """The REST body model from a GraphQL input: omitted fields stay omitted (a partial
    update changes only what was sent). Raises: ValidationFailed with REST's details."""
    if data is None:
        values: dict[str, Any] = {}
    else:
        values = data if isinstance(data, dict) else _provided(data)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValidationFailed(
            "Input validation failed",
            [
                {
                    "field": ".".join(str(p) for p in e["loc"]),
                    "message": e["msg"],
                    "type": e["type"],
                }
                for e in exc.errors()
            ],
        ) from exc


def _provided(data: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(data):
        value = getattr(data, field.name)
        if value is strawberry.UNSET:
            continue
        out[field.name] = value
    return out


@strawberry.input
class AgentCreateInput:
    name: str
    description: str | None = UNSET
    type: AgentType | None = UNSET
    instructions: str | None = UNSET
    model: JSON | None = UNSET
    tools: JSON | None = UNSET
    knowledge_base_ids: list[str] | None = UNSET
    memory: JSON | None = UNSET
    variables: JSON | None = UNSET
    max_steps: int | None = UNSET


@strawberry.input
class AgentUpdateInput:
    name: str | None = UNSET
    description: str | None = UNSET
    type: AgentType | None = UNSET
    instructions: str | None = UNSET
    model: JSON | None = UNSET
    tools: JSON | None = UNSET
    knowledge_base_ids: list[str] | None = UNSET
    memory: JSON | None = UNSET
    variables: JSON | None = UNSET
    max_steps: int | None = UNSET


@strawberry.input
class ExecuteInput:
    input_data: JSON = strawberry.field(description="The user's message (text or JSON)")
    conversation_id: strawberry.ID | None = UNSET
    variables: JSON | None = UNSET
    run_async: bool | None = strawberry.field(
        default=UNSET, description="Queue the run as a background job and return it at once"
    )


@strawberry.input
class ConversationCreateInput:
    title: str | None = UNSET


@strawberry.input
class WorkflowCreateInput:
    name: str
    description: str | None = UNSET
    spec: JSON


@strawberry.input
class WorkflowUpdateInput:
    name: str | None = UNSET
    description: str | None = UNSET
    spec: JSON | None = UNSET


@strawberry.input
class KnowledgeBaseCreateInput:
    name: str
    description: str | None = UNSET
    embedding: JSON | None = UNSET
    chunking: JSON | None = UNSET
    retrieval: JSON | None = UNSET
