"""The API reference's cURL Quick Start (examples/quickstart.sh) against a real server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_server, stop_server

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "quickstart.sh"
PASSWORD = "correct horse battery staple"


def test_curl_quickstart_runs_as_written(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", CODEXOS_LLM_PROVIDER="scripted")
    try:
        r = httpx.post(
            f"{server.api}/auth/register",
            json={"email": "quick@example.com", "password": PASSWORD, "name": "Quick"},
        )
        assert r.status_code == 201, r.text
        run = subprocess.run(
            ["bash", str(SCRIPT)],
            env={
                **os.environ,
                "CODEXOS_BASE_URL": server.base_url,
                "CODEXOS_EMAIL": "quick@example.com",
                "CODEXOS_PASSWORD": PASSWORD,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        stop_server(server)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0] == "logged in: token type bearer"
    profile, agent = json.loads(lines[1]), json.loads(lines[2])
    assert profile["email"] == "quick@example.com"
    assert agent["name"] == "My First Agent" and agent["type"] == "basic" and agent["id"]


@pytest.mark.parametrize("missing", ["CODEXOS_EMAIL", "CODEXOS_PASSWORD"])
def test_quickstart_says_what_is_missing(missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
    env |= {"CODEXOS_EMAIL": "a@example.com", "CODEXOS_PASSWORD": "x"}
    del env[missing]
    run = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and missing in run.stderr
