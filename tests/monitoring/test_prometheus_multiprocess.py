"""`codexos serve --workers 2` for real: both workers record into the multi-process
directory and any worker's `/metrics` answers with the sum over both."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from codexos_server import __version__
from codexos_server.monitoring.prometheus import MULTIPROC_ENV
from tests.e2e.conftest import BIN, free_port, server_env
from tests.monitoring.test_prometheus import Samples, parse, value

TOKEN = "multi-process-scrape-token"
POOL_SIZE = 3
HEALTH = {"method": "GET", "route": "/api/v1/health", "status": "200"}


class Workers:
    """`codexos serve --workers 2` on a free port, on a fresh SQLite data dir."""

    def __init__(self, root: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = server_env(
            root / "data",
            CODEXOS_METRICS_TOKEN=TOKEN,
            CODEXOS_DATABASE_POOL_SIZE=str(POOL_SIZE),
            CODEXOS_RATE_LIMIT_ANONYMOUS="1000000",
        )
        self.env.pop(MULTIPROC_ENV, None)  # only what the test asks for
        self.env.update(env)
        migrated = subprocess.run(
            [str(BIN / "codexos"), "migrate"], env=self.env, capture_output=True, timeout=120
        )
        assert migrated.returncode == 0, migrated.stderr
        self.log = root / "server.log"
        self.process = subprocess.Popen(
            [str(BIN / "codexos"), "serve", "--port", str(self.port), "--workers", "2"],
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        """Both workers up: the pool-size gauge sums two pools."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if value(self.scrape(), "codexos_db_pool_size") == 2 * POOL_SIZE:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the two workers did not start: {self.log.read_text()}")

    def scrape(self) -> Samples:
        # A new connection each time, so any worker may answer.
        r = httpx.get(
            f"{self.base}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"},
            timeout=10,
        )
        r.raise_for_status()
        return parse(r.text)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    server = Workers(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(directory))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def per_process(directory: Path, scratch: Path) -> dict[int, Samples]:
    """What each worker recorded, read from its own files alone."""
    pids = {int(f.stem.rsplit("_", 1)[1]) for f in directory.glob("counter_*.db")}
    result: dict[int, Samples] = {}
    for pid in pids:
        own = scratch / str(pid)
        shutil.rmtree(own, ignore_errors=True)
        own.mkdir(parents=True)
        for f in directory.glob(f"*_{pid}.db"):
            shutil.copy(f, own / f.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(own))  # type: ignore[no-untyped-call]
        result[pid] = parse(generate_latest(registry).decode())
    return result


def test_workers_share_one_scrape(workers: Workers, tmp_path: Path) -> None:
    directory = Path(workers.env["PROMETHEUS_MULTIPROC_DIR"])
    baseline = value(workers.scrape(), "codexos_http_requests_total", **HEALTH)
    sent = 0
    # Fresh connections until both workers have answered some (the kernel picks the worker).
    while True:
        for _ in range(20):
            r = httpx.get(f"{workers.base}/api/v1/health", headers={"Connection": "close"})
            assert r.status_code == 200
            sent += 1
        served = {
            pid: value(samples, "codexos_http_requests_total", **HEALTH)
            for pid, samples in per_process(directory, tmp_path / "scratch").items()
        }
        if len(served) == 2 and all(served.values()):
            break
        assert sent < 1000, f"one worker answered everything: {served}"

    # A request is counted just after its response went out (the middleware's observers run
    # when the response is complete), so the last few may land a moment after the client
    # has its answer.
    deadline = time.monotonic() + 5
    while sum(served.values()) < baseline + sent and time.monotonic() < deadline:
        time.sleep(0.05)
        served = {
            pid: value(samples, "codexos_http_requests_total", **HEALTH)
            for pid, samples in per_process(directory, tmp_path / "scratch").items()
        }
    assert sum(served.values()) == baseline + sent
    for _ in range(6):  # whichever worker answers the scrape reports the same sum
        samples = workers.scrape()
        assert value(samples, "codexos_http_requests_total", **HEALTH) == baseline + sent
        assert value(samples, "codexos_http_request_duration_seconds_count", **HEALTH) == (
            baseline + sent
        )
        assert value(samples, "codexos_http_requests_in_flight") == 1  # this scrape
        assert value(samples, "codexos_db_pool_size") == 2 * POOL_SIZE
        assert value(samples, "codexos_build_info", version=__version__) == 1
        assert (
            "codexos_job_queue_depth",
            frozenset({("kind", "agent.run"), ("status", "queued")}),
        ) in samples

    # Workers that exit cleanly take their gauges out of the sum; counters stay.
    workers.stop()
    assert not list(directory.glob("gauge_live*.db"))
    assert len(list(directory.glob("counter_*.db"))) == 2


def test_serve_makes_and_removes_its_own_directory(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = Workers(tmp_path, TMPDIR=str(scratch))
    try:
        server.wait_ready()  # two pools summed: the workers share a directory
        made = list(scratch.glob("codexos-metrics-*"))
        assert len(made) == 1 and list(made[0].glob("counter_*.db"))
    finally:
        server.stop()
    assert not list(scratch.glob("codexos-metrics-*"))
