"""Run benchmarks: ``python -m bench [NAME ...] [--quick]``; prints markdown for docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(names)}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = ap.parse_args()
    chosen = args.names or names
    for n in chosen:
        mod = n if n.startswith("bench_") else f"bench_{n}"
        if mod not in names:
            ap.error(f"unknown benchmark {n!r}; known: {', '.join(names)}")
        print(importlib.import_module(f"bench.{mod}").main(quick=args.quick), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
