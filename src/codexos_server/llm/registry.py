"""Builds ChatModel instances from provider settings and keeps them: the local model is
loaded once per process and shared; API clients are reused per configuration."""

from __future__ import annotations

import hashlib

from codexos_server.config import Settings
from codexos_server.llm.port import CHAT_MODELS, ChatModel, ModelUnavailable, ProviderSettings


def _cache_key(settings: ProviderSettings) -> str:
    raw = "|".join(
        str(part)
        for part in (
            settings.kind,
            settings.base_url,
            settings.api_key,
            settings.default_model,
            settings.timeout_seconds,
            settings.max_retries,
            sorted((settings.extra or {}).items()),
        )
    )
    return hashlib.sha256(raw.encode()).hexdigest()


class ModelRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, ChatModel] = {}

    def server_provider(self, kind: str) -> ProviderSettings:
        """The server's own configuration of a built-in provider.

        Raises: ModelUnavailable if the server has none for `openai`.
        """
        s = self.settings
        if kind == "local":
            return ProviderSettings(
                "local",
                extra={
                    "model_path": str(s.local_model_path) if s.local_model_path else None,
                    "data_dir": str(s.data_dir),
                    "n_ctx": s.local_model_context,
                    "n_threads": s.local_model_threads,
                    "concurrency": s.local_model_concurrency,
                },
            )
        if kind == "openai":
            if not (s.openai_base_url or s.openai_api_key):
                raise ModelUnavailable(
                    "The server has no OpenAI-compatible provider: set CODEXOS_OPENAI_BASE_URL "
                    "and/or CODEXOS_OPENAI_API_KEY, or add a provider config to your workspace"
                )
            return ProviderSettings(
                "openai",
                base_url=s.openai_base_url,
                api_key=s.openai_api_key.get_secret_value() if s.openai_api_key else None,
                default_model=s.openai_model,
                timeout_seconds=s.llm_timeout_seconds,
                max_retries=s.llm_max_retries,
            )
        return ProviderSettings(kind)

    def get(self, provider: ProviderSettings) -> ChatModel:
        """Raises: ModelUnavailable for a kind no adapter is registered for."""
        key = _cache_key(provider)
        model = self._models.get(key)
        if model is None:
            factory = CHAT_MODELS.get(provider.kind)
            if factory is None:
                raise ModelUnavailable(f"No chat model adapter for provider kind {provider.kind!r}")
            model = self._models[key] = factory(provider)
        return model

    async def close(self) -> None:
        for model in self._models.values():
            await model.close()
        self._models.clear()
