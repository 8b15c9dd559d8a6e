"""Benchmark: authenticated `GET /api/v1/users/me` (API key) against a bare FastAPI app.

Both servers run under the same uvicorn command (one worker, uvloop, httptools, no uvicorn
access log) and are pinned to CPU 0; the load generator (wrk, else a Python asyncio client)
is pinned to CPU 1. Runs alternate bare/ours then ours/bare (ABBA) to cancel drift. Prints
requests per second for each, the ratio ours/bare (target >= 0.6), p50/p99 latency and the
server CPU time per request.

    .venv/bin/python -m bench.bench_users_me [--duration 10] [--rounds 3] [--profile DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import profile_summary

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PATH = "/api/v1/users/me"
UVICORN_FLAGS = [
    "--workers", "1",
    "--loop", "uvloop",
    "--http", "httptools",
    "--no-access-log",
    "--log-level", "warning",
]  # fmt: skip
TARGET_RATIO = 0.6

# wrk prints one machine-readable line at the end (latencies in microseconds).
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


@dataclass
class Run:
    server: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    cpu_us_per_request: float  # server process CPU time (all threads) / requests
    cpu_busy: float  # server CPU time / wall time (1.0 = one core saturated)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="codexos-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pids: dict[str, int] = {}
        self.wrk = shutil.which("wrk")
        self.generator = "wrk" if self.wrk and not args.python_client else "python-asyncio"
        cpus = os.cpu_count() or 1
        self.pin = bool(shutil.which("taskset")) and cpus >= 2 and not args.no_pin
        self.server_cpu, self.client_cpu = "0", "1"
        self.env = {
            **os.environ,
            "CODEXOS_DATA_DIR": str(self.tmp / "data"),
            "CODEXOS_SECRET_KEY": "bench-secret-key-" + "x" * 48,
            "CODEXOS_RATE_LIMIT_FREE": "100000000",
            "CODEXOS_LOG_FORMAT": "json",
            "CODEXOS_LOG_LEVEL": "INFO",
            "CODEXOS_ENVIRONMENT": "production",
            # Only registration hashes a password; it is not part of the measured path.
            "CODEXOS_PASSWORD_HASH_MEMORY_KIB": "8192",
            "CODEXOS_PASSWORD_HASH_TIME_COST": "1",
        }
        for name in ("CODEXOS_DATABASE_URL", "CODEXOS_REDIS_URL", "CODEXOS_CORS_ORIGINS"):
            self.env.pop(name, None)

    # -- servers ---------------------------------------------------------------------------

    def _pinned(self, cpu: str, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", cpu, *cmd] if self.pin else cmd

    def start(self, name: str, app: str, port: int, env: dict[str, str]) -> int:
        cmd = self._pinned(
            self.server_cpu,
            [str(BIN / "python"), "-m", "uvicorn", app, "--app-dir", str(ROOT),
             "--host", "127.0.0.1", "--port", str(port), *UVICORN_FLAGS],
        )  # fmt: skip
        log = (self.tmp / f"{name}.log").open("wb")
        # cwd is the temp dir so that no stray .env file changes the settings.
        proc = subprocess.Popen(cmd, cwd=self.tmp, env={**self.env, **env}, stdout=log, stderr=log)
        self.procs.append(proc)
        self.pids[name] = proc.pid  # taskset execs the server: same pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} server exited; see {self.tmp / f'{name}.log'}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return proc.pid
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{name} server did not start")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- setup -----------------------------------------------------------------------------

    def migrate(self) -> None:
        subprocess.run(
            [str(BIN / "codexos"), "migrate"],
            cwd=self.tmp,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @staticmethod
    def create_key(base: str) -> str:
        """Register, log in and create an API key with the `profile` scope, over HTTP."""
        account = {"email": "bench@example.com", "password": "bench-password-123"}
        with httpx.Client(base_url=base, timeout=30) as http:
            http.post("/auth/register", json=account).raise_for_status()
            r = http.post("/auth/login", json=account)
            r.raise_for_status()
            r = http.post(
                "/auth/api-keys",
                json={"name": "bench", "scopes": ["profile"]},
                headers={"Authorization": f"Bearer {r.json()['access_token']}"},
            )
            r.raise_for_status()
            key: str = r.json()["key"]
            return key

    # -- load ------------------------------------------------------------------------------

    def load(self, url: str, key: str, seconds: int) -> dict[str, Any]:
        conns = str(self.args.connections)
        auth = f"Authorization: Bearer {key}"
        if self.generator == "wrk":
            script = self.tmp / "report.lua"
            script.write_text(WRK_REPORT)
            cmd = [str(self.wrk), "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
                   "-s", str(script), "-H", auth, url]  # fmt: skip
        else:
            cmd = [str(BIN / "python"), "-m", "bench._pyload", "--url", url, "--connections",
                   conns, "--duration", str(seconds), "--header", auth]  # fmt: skip
        out = subprocess.run(
            self._pinned(self.client_cpu, cmd), cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for line in out.splitlines():
            if line.startswith("BENCH "):
                result: dict[str, Any] = json.loads(line[len("BENCH ") :])
                return result
        raise SystemExit(f"no result from the load generator:\n{out}")

    def measure(self, server: str, round_: int, url: str, key: str) -> Run:
        pid = self.pids[server]
        cpu_before = cpu_seconds(pid)
        r = self.load(url, key, self.args.duration)
        cpu = cpu_seconds(pid) - cpu_before
        seconds = r["duration_us"] / 1e6
        return Run(
            server=server,
            round=round_,
            requests=r["requests"],
            seconds=round(seconds, 2),
            rps=round(r["requests"] / seconds, 1),
            p50_ms=r["p50_us"] / 1000,
            p90_ms=r["p90_us"] / 1000,
            p99_ms=r["p99_us"] / 1000,
            mean_ms=round(r["mean_us"] / 1000, 3),
            max_ms=r["max_us"] / 1000,
            non_2xx=r["non_2xx"],
            socket_errors=r["socket_errors"],
            cpu_us_per_request=round(cpu / max(r["requests"], 1) * 1e6, 1),
            cpu_busy=round(cpu / seconds, 2),
        )

    def profile(self, url: str, key: str, out_dir: Path, rps: float) -> dict[str, Any] | None:
        """Sample our server with py-spy during one extra, unscored run. The shares of time
        are turned into microseconds with `rps`, the unprofiled rate (py-spy slows it)."""
        local = BIN / "py-spy"
        py_spy = str(local) if local.exists() else shutil.which("py-spy")
        if py_spy is None:
            print("py-spy not found: no profile (.venv/bin/pip install py-spy)")
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        raw = out_dir / "users_me.pyspy.txt"
        seconds = self.args.duration
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(self.pids["ours"]), "--duration", str(seconds + 1),
             "--rate", "200", "--format", "raw", "--threads", "--nonblocking",
             "--output", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(1)  # py-spy attaches
        result = self.load(url, key, seconds)
        _, err = spy.communicate(timeout=seconds + 30)
        if spy.returncode != 0 or not raw.exists():
            print(f"py-spy failed: {err.decode(errors='replace').strip()}")
            return None
        rows = profile_summary.summarise(raw, rps)
        (out_dir / "users_me.breakdown.md").write_text(profile_summary.render(rows) + "\n")
        return {
            "file": str(raw),
            "rps_while_profiled": round(result["requests"] / (result["duration_us"] / 1e6), 1),
            "us_per_request_from_rps": rps,
            "parts": [
                {"part": p, "share": round(s, 4), "us": round(u or 0, 1)} for p, s, u in rows
            ],
        }

    # -- main ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.migrate()
        ours_port, bare_port = free_port(), free_port()
        self.start("ours", "codexos_server.asgi:app", ours_port, {})
        key = self.create_key(f"http://127.0.0.1:{ours_port}/api/v1")
        urls = {
            "ours": f"http://127.0.0.1:{ours_port}{PATH}",
            "bare": f"http://127.0.0.1:{bare_port}{PATH}",
        }
        me = httpx.get(urls["ours"], headers={"Authorization": f"Bearer {key}"})
        me.raise_for_status()
        missing = {"x-request-id", "x-ratelimit-remaining"} - set(me.headers)
        if missing:
            raise SystemExit(f"our response lacks {missing}")
        self.start("bare", "bench.bare_app:app", bare_port, {"BENCH_BODY": me.text})
        if httpx.get(urls["bare"]).json() != me.json():
            raise SystemExit("the bare app does not return the same JSON")

        where = (
            f"servers on CPU {self.server_cpu}, generator on CPU {self.client_cpu}"
            if self.pin
            else "no"
        )
        print(f"generator: {self.generator}; pinned: {where}")
        print(
            f"{self.args.connections} connections, {self.args.rounds} rounds x "
            f"{self.args.duration}s per server, warm-up {self.args.warmup}s each"
        )
        for name in ("bare", "ours"):
            self.load(urls[name], key, self.args.warmup)

        runs: list[Run] = []
        for i in range(self.args.rounds):
            order = ("bare", "ours") if i % 2 == 0 else ("ours", "bare")
            for name in order:
                run = self.measure(name, i + 1, urls[name], key)
                runs.append(run)
                print(
                    f"  round {run.round} {name:4} {run.rps:9.1f} req/s  "
                    f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  "
                    f"CPU {run.cpu_us_per_request:5.0f} us/req ({run.cpu_busy:.2f} busy)  "
                    f"non-2xx {run.non_2xx}  socket errors {run.socket_errors}"
                )

        summary = self.summarise(runs)
        if self.args.profile:
            summary["profile"] = self.profile(
                urls["ours"], key, Path(self.args.profile), summary["ours"]["rps"]
            )
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
                "cpu_busy": round(statistics.median(r.cpu_busy for r in mine), 2),
            }

        def rps(server: str, round_: int) -> float:
            return next(r.rps for r in runs if r.server == server and r.round == round_)

        bare, ours = aggregate("bare"), aggregate("ours")
        return {
            "benchmark": "users_me",
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
            "uvicorn_flags": " ".join(UVICORN_FLAGS),
            "bare": bare,
            "ours": ours,
            "ratio": round(ours["rps"] / bare["rps"], 3),
            "ratio_per_round": [
                round(rps("ours", i) / rps("bare", i), 3) for i in range(1, self.args.rounds + 1)
            ],
            "target": TARGET_RATIO,
            "valid": not (bare["non_2xx"] or ours["non_2xx"])
            and not (bare["socket_errors"] or ours["socket_errors"]),
            "runs": [asdict(r) for r in runs],
        }

    def cleanup(self) -> None:
        self.stop()
        if self.args.keep:
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def print_summary(s: dict[str, Any]) -> None:
    verdict = "meets" if s["ratio"] >= s["target"] else "BELOW"
    print()
    print(f"GET {PATH} with an API key, {s['connections']} connections, {s['generator']}")
    for label, r in (("bare FastAPI", s["bare"]), ("CodexOS", s["ours"])):
        print(
            f"  {label:13}: {r['rps']:9.1f} req/s   p50 {r['p50_ms']:6.2f} ms   "
            f"p99 {r['p99_ms']:6.2f} ms   server CPU {r['cpu_us_per_request']:.0f} us/req"
        )
    per_round = ", ".join(f"{x:.3f}" for x in s["ratio_per_round"])
    print(
        f"  ratio        : {s['ratio']:.3f} ({verdict} the {s['target']} target; "
        f"per round {per_round})"
    )
    if not s["valid"]:
        print("  INVALID: non-2xx responses or socket errors during the runs")
    machine = s["machine"]
    print(f"  machine      : {machine['nproc']} CPUs, {machine['cpu']}; wall {s['wall_seconds']}s")
    profile = s.get("profile")
    if profile:
        print(
            f"\nWhere the time goes (py-spy; {profile['rps_while_profiled']} req/s while sampled,"
            f" us at the unprofiled {profile['us_per_request_from_rps']} req/s):"
        )
        for part in profile["parts"]:
            print(f"  {part['share'] * 100:5.1f}%  {part['us']:6.0f} us  {part['part']}")


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
    parser.add_argument("--profile", metavar="DIR", help="also record a py-spy profile into DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    # Options of other benchmarks run by `python -m bench` are ignored.
    args, _ = parser.parse_known_args(argv)

    bench = Bench(args)
    try:
        summary = bench.run()
    finally:
        bench.cleanup()
    print_summary(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
