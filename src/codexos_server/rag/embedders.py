"""Resolves a knowledge base's embedding settings to an Embedder, and keeps the instances:
the local model is loaded once per process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from codexos_server.config import Settings
from codexos_server.db.database import Database
from codexos_server.llm.models import ProviderConfig
from codexos_server.llm.port import ModelUnavailable
from codexos_server.rag.embed.port import EMBEDDERS, Embedder, EmbedderSettings
from codexos_server.secretbox import SecretBox

DEFAULT_OPENAI_EMBEDDING = "text-embedding-3-small"


@dataclass(frozen=True, slots=True)
class ResolvedEmbedding:
    provider: str
    model: str


class EmbedderRegistry:
    def __init__(self, db: Database, box: SecretBox, settings: Settings) -> None:
        self.db = db
        self.box = box
        self.settings = settings
        self._instances: dict[str, Embedder] = {}

    def default_model(self, provider: str) -> str:
        if provider == "local":
            return self.settings.local_embedding_model
        return DEFAULT_OPENAI_EMBEDDING

    async def get(self, workspace_id: str, provider: str, model: str) -> Embedder:
        """Raises: ModelUnavailable for an unknown provider or one the server lacks."""
        config = await self._settings_for(workspace_id, provider, model)
        key = hashlib.sha256(repr(config).encode()).hexdigest()
        embedder = self._instances.get(key)
        if embedder is None:
            factory = EMBEDDERS.get(config.provider)
            if factory is None:
                raise ModelUnavailable(
                    f"No embedding adapter for provider kind {config.provider!r}"
                )
            embedder = self._instances[key] = factory(config)
        return embedder

    async def _settings_for(self, workspace_id: str, provider: str, model: str) -> EmbedderSettings:
        s = self.settings
        if provider == "local":
            return EmbedderSettings(
                "local", model, extra={"batch_size": s.rag_embedding_batch_size}
            )
        if provider == "openai":
            if not (s.openai_base_url or s.openai_api_key):
                raise ModelUnavailable(
                    "The server has no OpenAI-compatible provider: set CODEXOS_OPENAI_BASE_URL "
                    "and/or CODEXOS_OPENAI_API_KEY, or use a workspace provider"
                )
            return EmbedderSettings(
                "openai",
                model,
                base_url=s.openai_base_url,
                api_key=s.openai_api_key.get_secret_value() if s.openai_api_key else None,
            )
        async with self.db.read() as session:
            row = await session.scalar(
                select(ProviderConfig).where(
                    ProviderConfig.workspace_id == workspace_id, ProviderConfig.name == provider
                )
            )
        if row is None:
            if provider in EMBEDDERS:  # a plugin's own embedder kind
                return EmbedderSettings(provider, model)
            raise ModelUnavailable(f"Unknown embedding provider {provider!r} in this workspace")
        return EmbedderSettings(
            row.kind,
            model,
            base_url=row.base_url,
            api_key=self.box.open(row.api_key_encrypted) if row.api_key_encrypted else None,
            extra={"allowed_hosts": tuple(s.http_allowed_hosts), "guarded": True},
        )

    async def close(self) -> None:
        for embedder in self._instances.values():
            await embedder.close()
        self._instances.clear()
