"""Attribute a py-spy profile of the server's main thread to the parts of a request.

    .venv/bin/python -m bench.profile_summary PROFILE.txt [--rps N]

PROFILE.txt is `py-spy record --format raw --threads` output (bench_users_me --profile makes
one). Every request runs on the event-loop thread, so the share of that thread's non-idle
samples spent in a part is the share of the per-request time that part costs; with --rps the
shares are also shown in microseconds per request. A sample counts for the innermost frame
that matches a rule below, so time spent waiting for an aiosqlite or threadpool thread to
answer (the thread hop) is charged to the code that asked.

Stacks that py-spy sees cut off (code resumed inside SQLAlchemy's greenlets, or a coroutine
resumed by the loop) are matched by their outermost frame with ROOT_RULES; what is left is
the event loop itself (uvloop's C code: callbacks, wake-ups from other threads, taking the
GIL back after they ran).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# (substring of a py-spy frame, part of the request), matched from the innermost frame out.
RULES: list[tuple[str, str]] = [
    ("Authenticator.", "API-key lookup (auth query)"),
    ("_Lookup.", "API-key lookup (auth query)"),
    ("UserService.get_profile", "/users/me service query (ORM session)"),
    ("RequestLimits.hit", "rate limit (limits, in memory)"),
    ("(limits/", "rate limit (limits, in memory)"),
    ("run_in_threadpool", "sync dependencies run in the threadpool"),
    ("serialize_response", "response validation + JSON (pydantic)"),
    ("_prepare_response_content", "response validation + JSON (pydantic)"),
    ("Response.__init__", "response validation + JSON (pydantic)"),
    ("(logging/", "request log line (structlog -> logging -> JSON)"),
    ("(structlog/", "request log line (structlog -> logging -> JSON)"),
    ("new_request_id", "request id"),
    ("solve_dependencies", "FastAPI dependency resolution"),
    ("matches (", "routing"),
    ("_match (", "routing"),
    ("httptools_impl", "uvicorn + httptools (parse, send)"),
    ("BodySizeLimitMiddleware", "our middleware glue"),
    ("AuthRateLimitMiddleware", "our middleware glue"),
    ("RequestContextMiddleware", "our middleware glue"),
]
# (start of the outermost frame of a cut-off stack, part), for this request's code paths.
PROFILE_QUERY = "/users/me service query (ORM session)"
ROOT_RULES: list[tuple[str, str]] = [
    ("Connection.execute_fetchall ", "API-key lookup (auth query)"),
    ("Connection.rollback ", "pool reset (ROLLBACK) after each query"),
    ("Session.", PROFILE_QUERY),
    ("AsyncSession.", PROFILE_QUERY),
    ("Database.read", PROFILE_QUERY),
    ("_AsyncGeneratorContextManager.__aexit__", PROFILE_QUERY),
    ("Connection.cursor ", PROFILE_QUERY),
    ("Connection.commit ", PROFILE_QUERY),
    ("Cursor.", PROFILE_QUERY),
    ("TransactionalContext.", PROFILE_QUERY),
    ("instances.", PROFILE_QUERY),
    ("greenlet_spawn ", "SQLAlchemy asyncio glue (either query)"),
    ("_run_to_completion ", "SQLAlchemy asyncio glue (either query)"),
    ("Connection.close ", "SQLAlchemy asyncio glue (either query)"),
    ("Timeout.", "SQLAlchemy asyncio glue (either query)"),
    ("Connection._execute ", "aiosqlite thread hop (caller not seen)"),
    ("run_sync", "sync dependencies run in the threadpool"),
    ("AsyncIOBackend.", "sync dependencies run in the threadpool"),
    ("CapacityLimiter.", "sync dependencies run in the threadpool"),
]
LOOP = "event loop (uvloop internals, thread wake-ups)"
OTHER = "FastAPI/Starlette layers"


def categorise(frames: list[str]) -> str:
    for frame in reversed(frames):
        for needle, part in RULES:
            if needle in frame:
                return part
    if frames and not frames[0].startswith("_run_module_as_main"):
        for prefix, part in ROOT_RULES:
            if frames[0].startswith(prefix):
                return part
    if not frames or frames[-1].startswith("Runner.run "):
        return LOOP
    return OTHER


def summarise(path: Path, rps: float | None = None) -> list[tuple[str, float, float | None]]:
    """Return (part, share of main-thread time, microseconds per request or None)."""
    parts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or "MainThread" not in frames[0]:
            continue
        parts[categorise(frames[1:])] += int(count)
    total = sum(parts.values()) or 1
    per_request_us = 1e6 / rps if rps else None
    return [
        (part, n / total, n / total * per_request_us if per_request_us else None)
        for part, n in parts.most_common()
    ]


def render(rows: list[tuple[str, float, float | None]]) -> str:
    lines = ["| part of the request | share | us/request |", "|---|---:|---:|"]
    for part, share, us in rows:
        lines.append(f"| {part} | {share * 100:.1f}% | {'' if us is None else f'{us:.0f}'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--rps", type=float, help="requests per second during the profile")
    args = parser.parse_args()
    print(render(summarise(args.profile, args.rps)))


if __name__ == "__main__":
    main()
