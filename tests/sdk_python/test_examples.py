"""The seed's Python SDK example runs as written against a live server, and the sync
resources generated from the async ones are up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from codexos import CodexOS

from tests.e2e.conftest import LiveServer
from tests.sdk_python.conftest import SdkAccount

ROOT = Path(__file__).resolve().parents[2]


def test_seed_python_example(server: LiveServer, account: SdkAccount) -> None:
    env = {"CODEXOS_API_KEY": account.api_key, "CODEXOS_BASE_URL": server.base_url}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python_sdk.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Documentation Bot | succeeded | echo: Generate API docs"
    with CodexOS(api_key=account.api_key, base_url=server.base_url) as sdk:
        [agent] = [a for a in sdk.agents.list() if a.name == "Documentation Bot"]
        assert agent.description == "Automated documentation generator"
        assert [r.output for r in sdk.agents.runs(agent.id)] == ["echo: Generate API docs"]


def test_sync_resources_are_generated_from_async() -> None:
    script = ROOT / "sdks" / "python" / "scripts" / "unasync.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
