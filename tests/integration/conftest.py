"""Fixtures for tests with real processes and brokers: `codexos worker` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Short timers so that leases expire and retries happen within a test's patience.
FAST_JOBS = {
    "CODEXOS_JOB_LEASE_SECONDS": "2",
    "CODEXOS_JOB_HEARTBEAT_SECONDS": "0.3",
    "CODEXOS_JOB_POLL_SECONDS": "0.2",
    "CODEXOS_JOB_REAPER_SECONDS": "0.5",
    "CODEXOS_JOB_CANCEL_GRACE_SECONDS": "1",
    "CODEXOS_JOB_MODULES": '["tests.jobs_fixtures"]',
}


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """RabbitMQ for broker tests. CI sets CODEXOS_TEST_AMQP_URL (and fails if the server is
    down); without it a developer machine skips these tests."""
    url = os.environ.get("CODEXOS_TEST_AMQP_URL")
    if not url:
        pytest.skip("CODEXOS_TEST_AMQP_URL is not set")
    return url


def worker_env(
    tmp: Path,
    database_url: str,
    broker_url: str | None,
    redis_url: str | None,
    broker_queue: str = "codexos-jobs",
) -> dict[str, str]:
    """The environment of a `codexos worker`. Give each test's workers their own
    `broker_queue`: workers on one queue share its messages round-robin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
    env.update(FAST_JOBS)
    env.update(
        CODEXOS_DATA_DIR=str(tmp),
        CODEXOS_DATABASE_URL=database_url,
        CODEXOS_SECRET_KEY="test-secret-key-" + "x" * 48,
        CODEXOS_LOG_FORMAT="json",
        CODEXOS_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    if broker_url:
        env["CODEXOS_BROKER_URL"] = broker_url
        env["CODEXOS_BROKER_QUEUE"] = broker_queue
        env["CODEXOS_BROKER_QUEUE"] = broker_queue
    if redis_url:
        env["CODEXOS_REDIS_URL"] = redis_url
    return env


class Workers:
    """`codexos worker` processes, started and stopped by the tests."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [str(BIN / "codexos"), "worker", "--concurrency", str(concurrency)],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        log = self.tmp / f"worker-{self.procs.index(proc)}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited: {log.read_text()}")
            if b"job runner started" in log.read_bytes():
                return
            time.sleep(0.1)
        raise AssertionError(f"worker did not start: {log.read_text()}")

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


@pytest.fixture
def workers_factory(tmp_path: Path) -> Iterator[list[Workers]]:
    made: list[Workers] = []
    yield made
    for group in made:
        group.stop_all()
