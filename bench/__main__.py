"""Run benchmarks: ``python -m bench [NAME ...] [--quick] [BENCHMARK OPTIONS]``; prints markdown for
docs/benchmarks.md.

Options this runner does not know (e.g. ``python -m bench fuzz --n 10000``) go to the benchmarks
whose ``main`` takes an ``argv`` argument (each parses its own); naming a benchmark that takes none
with such options is an error."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(names)}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args, rest = ap.parse_known_args()
    chosen = args.names or names
    mods = []
    for n in chosen:
        mod = n if n.startswith("bench_") else f"bench_{n}"
        if mod not in names:
            ap.error(f"unknown benchmark {n!r}; known: {', '.join(names)}")
        mods.append(mod)
    for mod in mods:
        main_fn = importlib.import_module(f"bench.{mod}").main
        if "argv" in inspect.signature(main_fn).parameters:
            out = main_fn(quick=args.quick, argv=rest)
        elif rest:
            ap.error(f"{mod} takes no options of its own: {' '.join(rest)}")
        else:
            out = main_fn(quick=args.quick)
        print(out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
