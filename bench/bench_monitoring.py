"""Benchmark: the cost of monitoring on an authenticated endpoint.

Two CodexOS servers, identical but for `CODEXOS_MONITORING_ENABLED` (true: Prometheus
metrics, request records and their roll-ups, everything the switch turns on; false: none of
it), each on its own fresh SQLite data dir, serve `GET /api/v1/users/me` with an API key.
Both run the same uvicorn command pinned to CPU 0, one at a time; the load generator (wrk,
else the Python asyncio client) is pinned to CPU 1. Runs alternate off/on then on/off (ABBA)
to cancel drift; between runs Prometheus' part is played: the monitored server is scraped.
Prints requests per second of each and the ratio on/off (target >= 0.95), p50/p99 latency
and the server CPU time per request.

    .venv/bin/python -m bench --only monitoring [--duration 10] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench._server import Server
from bench.bench_users_me import WRK_REPORT, cpu_model, cpu_seconds
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.monitoring.prometheus import PrometheusMetrics
from codexos_server.monitoring.requests import RequestRecord

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PATH = "/api/v1/users/me"
TARGET_RATIO = 0.95
SCRAPE_TOKEN = secrets.token_urlsafe(24)
SERVERS = {
    "off": {"CODEXOS_MONITORING_ENABLED": "false"},
    "on": {"CODEXOS_MONITORING_ENABLED": "true"},
}
# bench/_server.py's settings otherwise (SQLite, logs at WARNING: no per-request log line, so
# the servers' own cost is smaller and monitoring's share of it larger: a stricter ratio).
COMMON_ENV = {"CODEXOS_METRICS_TOKEN": SCRAPE_TOKEN}


@dataclass
class Run:
    server: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_us_per_request: float


def observer_cost(calls: int = 100_000) -> float:
    """Microseconds the Prometheus request observer adds to one request, in this process
    (what the middleware calls synchronously; no server, no noise from the machine)."""
    metrics = PrometheusMetrics(Database("sqlite+aiosqlite:///:memory:"))
    record = RequestRecord(utcnow(), "GET", PATH, 200, 1.8, "ws", "usr", "key")
    started = time.perf_counter()
    for _ in range(calls):
        metrics.request_started()
        metrics.request_finished(record)
    return (time.perf_counter() - started) / calls * 1e6


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.wrk = shutil.which("wrk")
        self.generator = "wrk" if self.wrk and not args.python_client else "python-asyncio"
        self.pin = bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2 and not args.no_pin
        self.servers: dict[str, Server] = {}
        self.keys: dict[str, str] = {}
        self.scrapes = 0

    def _pinned(self, cpu: str, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", cpu, *cmd] if self.pin else cmd

    def start(self) -> None:
        for name, env in SERVERS.items():
            server = Server({**COMMON_ENV, **env}, pin="0" if self.pin else None)
            self.servers[name] = server.__enter__()
            self.keys[name] = server.api_key(["profile"])
        off = self.servers["off"].base.removesuffix("/api/v1")
        r = httpx.get(f"{off}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        if r.status_code != 404:  # monitoring off: nothing collected, nothing to scrape
            raise SystemExit(f"the unmonitored server answered /metrics with {r.status_code}")

    def stop(self) -> None:
        for server in self.servers.values():
            server.__exit__(None, None, None)
            if not self.args.keep:
                shutil.rmtree(server.tmp, ignore_errors=True)
            else:
                print(f"kept {server.tmp}")

    def url(self, name: str) -> str:
        return self.servers[name].base.removesuffix("/api/v1") + PATH

    def load(self, name: str, seconds: int) -> dict[str, Any]:
        auth = f"Authorization: Bearer {self.keys[name]}"
        conns = str(self.args.connections)
        if self.generator == "wrk":
            script = self.servers[name].tmp / "report.lua"
            script.write_text(WRK_REPORT)
            cmd = [str(self.wrk), "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
                   "-s", str(script), "-H", auth, self.url(name)]  # fmt: skip
        else:
            cmd = [str(BIN / "python"), "-m", "bench._pyload", "--url", self.url(name),
                   "--connections", conns, "--duration", str(seconds), "--header", auth]  # fmt: skip
        out = subprocess.run(
            self._pinned("1", cmd), cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for line in out.splitlines():
            if line.startswith("BENCH "):
                result: dict[str, Any] = json.loads(line[len("BENCH ") :])
                return result
        raise SystemExit(f"no result from the load generator:\n{out}")

    def measure(self, name: str, round_: int) -> Run:
        proc = self.servers[name].proc
        assert proc is not None
        cpu_before = cpu_seconds(proc.pid)
        r = self.load(name, self.args.duration)
        cpu = cpu_seconds(proc.pid) - cpu_before
        seconds = r["duration_us"] / 1e6
        return Run(
            server=name,
            round=round_,
            requests=r["requests"],
            seconds=round(seconds, 2),
            rps=round(r["requests"] / seconds, 1),
            p50_ms=r["p50_us"] / 1000,
            p99_ms=r["p99_us"] / 1000,
            non_2xx=r["non_2xx"],
            socket_errors=r["socket_errors"],
            cpu_us_per_request=round(cpu / max(r["requests"], 1) * 1e6, 1),
        )

    def scrape(self) -> float:
        """Scrape the monitored server as Prometheus would; the count of 200s it reports for
        the endpoint."""
        base = self.servers["on"].base.removesuffix("/api/v1")
        r = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}, timeout=30
        )
        r.raise_for_status()
        self.scrapes += 1
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                if s.name == "codexos_http_requests_total" and s.labels == {
                    "method": "GET",
                    "route": PATH,
                    "status": "200",
                }:
                    return float(s.value)
        return 0.0

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.start()
        where = "servers on CPU 0, generator on CPU 1" if self.pin else "no"
        print(f"generator: {self.generator}; pinned: {where}")
        print(
            f"{self.args.connections} connections, {self.args.rounds} rounds x "
            f"{self.args.duration}s per server, warm-up {self.args.warmup}s each"
        )
        for name in SERVERS:
            self.load(name, self.args.warmup)
        runs: list[Run] = []
        counted = 0.0
        for i in range(self.args.rounds):
            order = ("off", "on") if i % 2 == 0 else ("on", "off")
            for name in order:
                run = self.measure(name, i + 1)
                runs.append(run)
                print(
                    f"  round {run.round} {name:3} {run.rps:9.1f} req/s  "
                    f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  "
                    f"CPU {run.cpu_us_per_request:5.0f} us/req  "
                    f"non-2xx {run.non_2xx}  socket errors {run.socket_errors}"
                )
            counted = self.scrape()
        measured_on = sum(r.requests for r in runs if r.server == "on")
        summary = self.summarise(runs)
        summary["scrapes"] = self.scrapes
        summary["observer_us_per_request"] = round(observer_cost(), 2)
        # Every completed request was counted (plus warm-up and set-up requests).
        summary["metrics_counted"] = counted
        summary["metrics_valid"] = counted >= measured_on
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        return summary

    def summarise(self, runs: list[Run]) -> dict[str, Any]:
        def aggregate(name: str) -> dict[str, Any]:
            mine = [r for r in runs if r.server == name]
            return {
                "rps": round(sum(r.requests for r in mine) / sum(r.seconds for r in mine), 1),
                "p50_ms": round(statistics.median(r.p50_ms for r in mine), 2),
                "p99_ms": round(statistics.median(r.p99_ms for r in mine), 2),
                "requests": sum(r.requests for r in mine),
                "non_2xx": sum(r.non_2xx for r in mine),
                "socket_errors": sum(r.socket_errors for r in mine),
                "cpu_us_per_request": round(
                    statistics.median(r.cpu_us_per_request for r in mine), 1
                ),
            }

        def rps(server: str, round_: int) -> float:
            return next(r.rps for r in runs if r.server == server and r.round == round_)

        off, on = aggregate("off"), aggregate("on")
        return {
            "benchmark": "monitoring",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": {
                "nproc": os.cpu_count(),
                "cpu": cpu_model(),
                "python": platform.python_version(),
            },
            "generator": self.generator,
            "pinned": self.pin,
            "connections": self.args.connections,
            "duration_s": self.args.duration,
            "rounds": self.args.rounds,
            "off": off,
            "on": on,
            "ratio": round(on["rps"] / off["rps"], 3),
            "ratio_per_round": [
                round(rps("on", i) / rps("off", i), 3) for i in range(1, self.args.rounds + 1)
            ],
            "target": TARGET_RATIO,
            "valid": not (off["non_2xx"] or on["non_2xx"])
            and not (off["socket_errors"] or on["socket_errors"]),
            "runs": [asdict(r) for r in runs],
        }


def print_summary(s: dict[str, Any]) -> None:
    verdict = "meets" if s["ratio"] >= s["target"] else "BELOW"
    print()
    print(f"GET {PATH} with an API key, {s['connections']} connections, {s['generator']}")
    for label, r in (("monitoring off", s["off"]), ("monitoring on", s["on"])):
        print(
            f"  {label:14}: {r['rps']:9.1f} req/s   p50 {r['p50_ms']:6.2f} ms   "
            f"p99 {r['p99_ms']:6.2f} ms   server CPU {r['cpu_us_per_request']:.0f} us/req"
        )
    per_round = ", ".join(f"{x:.3f}" for x in s["ratio_per_round"])
    print(
        f"  ratio on/off  : {s['ratio']:.3f} ({verdict} the {s['target']} target; "
        f"per round {per_round})"
    )
    print(
        f"  metrics       : {s['scrapes']} scrapes; the last counted {s['metrics_counted']:.0f} "
        f"requests to {PATH} ({s['on']['requests']} measured)"
    )
    print(
        f"  observer      : the Prometheus request observer costs "
        f"{s['observer_us_per_request']:.1f} us per request (in-process, no server)"
    )
    if not s["valid"]:
        print("  INVALID: non-2xx responses or socket errors during the runs")
    if not s["metrics_valid"]:
        print("  INVALID: the monitored server counted fewer requests than were answered")
    machine = s["machine"]
    print(f"  machine       : {machine['nproc']} CPUs, {machine['cpu']}; wall {s['wall_seconds']}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=4, help="measured runs per server")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--python-client", action="store_true", help="use the Python client even if wrk exists"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, databases)")
    # Options of other benchmarks run by `python -m bench` are ignored.
    args, _ = parser.parse_known_args(argv)

    bench = Bench(args)
    try:
        summary = bench.run()
    finally:
        bench.stop()
    print_summary(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["valid"] and summary["metrics_valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
