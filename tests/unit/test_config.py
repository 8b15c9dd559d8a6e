from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codexos_server.config import Settings


def test_secret_key_from_environment_wins(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, secret_key="from-env")  # type: ignore[call-arg]
    assert settings.resolved_secret_key() == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_secret_key_generated_once_even_when_racing(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: settings.resolved_secret_key(), range(16)))
    assert len(keys) == 1
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(keys.pop()) >= 64
    assert [p.name for p in key_file.parent.iterdir()] == ["secret_key"]


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert (
        settings.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path.resolve()}/codexos.db"
    )


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEXOS_RATE_LIMIT_PRO", "1234")
    monkeypatch.setenv("CODEXOS_CORS_ORIGINS", '["http://localhost:3000"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.rate_limit_pro == 1234
    assert settings.cors_origins == ["http://localhost:3000"]
