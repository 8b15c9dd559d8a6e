"""Provider configs of a workspace, and the resolution of an agent's model settings to a
ChatModel: built-ins (`local`, `openai`, `scripted`) from server settings, anything else
from the workspace's provider configs."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from codexos_server.auth.principal import Principal
from codexos_server.config import Settings
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, ValidationFailed
from codexos_server.llm.models import ProviderConfig
from codexos_server.llm.port import ChatModel, ModelUnavailable, ProviderSettings
from codexos_server.llm.registry import ModelRegistry
from codexos_server.llm.schemas import (
    BUILTIN_PROVIDERS,
    ModelInfo,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
)
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.secretbox import SecretBox
from codexos_server.workspaces.permissions import Action

LOCAL_MODEL_NAME = "gemma-3-270m"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    chat: ChatModel
    provider: str
    model: str


def _out(row: ProviderConfig) -> ProviderOut:
    return ProviderOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        base_url=row.base_url,
        has_api_key=row.api_key_encrypted is not None,
        api_key_last_four=row.api_key_last_four,
        default_model=row.default_model,
        models=list(row.models or []),
        timeout_seconds=row.timeout_seconds,
        max_retries=row.max_retries,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ProviderService:
    def __init__(
        self, db: Database, box: SecretBox, registry: ModelRegistry, settings: Settings
    ) -> None:
        self.db = db
        self.box = box
        self.registry = registry
        self.settings = settings

    async def create(self, actor: Principal, body: ProviderCreate) -> ProviderOut:
        """Raises: Conflict (name taken)."""
        actor.require(Action.MANAGE_KEYS)
        async with self.db.transaction() as session:
            taken = await session.scalar(
                select(ProviderConfig.id).where(
                    ProviderConfig.workspace_id == actor.workspace_id,
                    ProviderConfig.name == body.name,
                )
            )
            if taken:
                raise Conflict(f"A provider named {body.name!r} already exists")
            row = ProviderConfig(
                workspace_id=actor.workspace_id,
                created_by=actor.user_id,
                name=body.name,
                kind=body.kind,
                base_url=str(body.base_url) if body.base_url else None,
                default_model=body.default_model,
                models=body.models,
                timeout_seconds=body.timeout_seconds,
                max_retries=body.max_retries,
            )
            self._set_key(row, body.api_key)
            session.add(row)
            await session.flush()
            return _out(row)

    def _set_key(self, row: ProviderConfig, api_key: str | None) -> None:
        if api_key:
            row.api_key_encrypted = self.box.seal(api_key)
            row.api_key_last_four = api_key[-4:]

    async def _get(self, session: Any, actor: Principal, provider_id: str) -> ProviderConfig:
        row = await session.scalar(
            select(ProviderConfig).where(
                ProviderConfig.id == provider_id, ProviderConfig.workspace_id == actor.workspace_id
            )
        )
        if row is None:
            raise NotFound("provider", provider_id)
        return row  # type: ignore[no-any-return]

    async def list(self, actor: Principal, params: PageParams) -> Page[ProviderOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(ProviderConfig).where(ProviderConfig.workspace_id == actor.workspace_id)
            rows, cursor = await paginate(
                session, stmt, params, ProviderConfig.created_at, ProviderConfig.id
            )
            return Page(items=[_out(r[0]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, provider_id: str) -> ProviderOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            return _out(await self._get(session, actor, provider_id))

    async def update(self, actor: Principal, provider_id: str, body: ProviderUpdate) -> ProviderOut:
        actor.require(Action.MANAGE_KEYS)
        async with self.db.transaction() as session:
            row = await self._get(session, actor, provider_id)
            changes = body.model_dump(exclude_unset=True)
            if "api_key" in changes:
                self._set_key(row, changes.pop("api_key"))
            if "base_url" in changes:
                row.base_url = str(changes.pop("base_url")) if body.base_url else None
            for field, value in changes.items():
                if value is not None:
                    setattr(row, field, value)
            await session.flush()
            return _out(row)

    async def delete(self, actor: Principal, provider_id: str) -> None:
        actor.require(Action.MANAGE_KEYS)
        async with self.db.transaction() as session:
            await session.delete(await self._get(session, actor, provider_id))

    async def resolve(self, workspace_id: str, model: dict[str, Any]) -> ResolvedModel:
        """The ChatModel and model name for an agent's model settings.

        Raises: ModelUnavailable (unknown provider, or one the server has not configured).
        """
        provider = model.get("provider") or self.settings.llm_provider
        if provider in BUILTIN_PROVIDERS:
            config = self.registry.server_provider(provider)
            name = (
                model.get("model")
                or {
                    "local": LOCAL_MODEL_NAME,
                    "openai": config.default_model or "",
                    "scripted": "scripted",
                }[provider]
            )
            return ResolvedModel(self.registry.get(config), provider, name)
        async with self.db.read() as session:
            row = await session.scalar(
                select(ProviderConfig).where(
                    ProviderConfig.workspace_id == workspace_id, ProviderConfig.name == provider
                )
            )
        if row is None:
            raise ModelUnavailable(f"Unknown provider {provider!r} in this workspace")
        config = ProviderSettings(
            row.kind,
            base_url=row.base_url,
            api_key=self.box.open(row.api_key_encrypted) if row.api_key_encrypted else None,
            default_model=row.default_model,
            timeout_seconds=row.timeout_seconds,
            max_retries=row.max_retries,
            extra={"allowed_hosts": tuple(self.settings.http_allowed_hosts), "guarded": True},
        )
        name = model.get("model") or row.default_model
        if not name:
            raise ValidationFailed(
                "No model named",
                [{"field": "model.model", "message": "the provider has no default model"}],
            )
        return ResolvedModel(self.registry.get(config), provider, name)

    async def list_models(self, actor: Principal) -> builtins.list[ModelInfo]:
        """What agents of this workspace can use."""
        actor.require(Action.READ)
        s = self.settings
        local_name = s.local_model_path.stem if s.local_model_path else LOCAL_MODEL_NAME
        local_note = (
            None
            if s.local_model_path
            else "the bundled Gemma 3 270M (base model, for offline use and demos)"
        )
        models = [
            ModelInfo(
                id=f"local/{local_name}",
                provider="local",
                model=local_name,
                source="server",
                available=True,
                note=local_note,
            ),
            ModelInfo(
                id="scripted/scripted",
                provider="scripted",
                model="scripted",
                source="server",
                available=True,
                note="deterministic replies from a script, for tests and demos",
            ),
        ]
        if s.openai_base_url or s.openai_api_key:
            models.append(
                ModelInfo(
                    id=f"openai/{s.openai_model}",
                    provider="openai",
                    model=s.openai_model,
                    source="server",
                    available=True,
                )
            )
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(ProviderConfig).where(ProviderConfig.workspace_id == actor.workspace_id)
                )
            ).all()
        for row in rows:
            for name in dict.fromkeys(
                [*(row.models or []), *([row.default_model] if row.default_model else [])]
            ):
                models.append(
                    ModelInfo(
                        id=f"{row.name}/{name}",
                        provider=row.name,
                        model=name,
                        source="workspace",
                        available=True,
                    )
                )
        return models
