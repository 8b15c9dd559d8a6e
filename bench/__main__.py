"""`python -m bench` (or `make bench`): run every benchmark in bench/, one after another.

A benchmark is a module `bench/bench_<name>.py` with `main(argv) -> int`; it reads the
options it knows from the shared arguments and ignores the rest, e.g.
`python -m bench --duration 5 --rounds 2`. `--only users_me` runs just that one. The exit
status is non-zero if a benchmark reported an invalid measurement.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def benchmarks() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))


def main() -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--only", action="append", metavar="NAME", help="e.g. users_me")
    args, rest = parser.parse_known_args()
    names = benchmarks()
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    status = 0
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        status |= module.main(rest)
    return status


if __name__ == "__main__":
    sys.exit(main())
