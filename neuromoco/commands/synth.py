"""Write a procedural DVS128-Gesture-like dataset (the embedded default data).

Renders a person performing the 11 DVS128 Gesture classes and converts it to events with the
DVS emulator; writes OUT_DIR/DvsGesture/userXX_<lighting>.aedat (AEDAT 3.1) with *_labels.csv,
trials_to_train.txt / trials_to_test.txt (split by user), a manifest and a README. The same
arguments always give the same dataset.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out_dir", metavar="OUT_DIR", help="output folder (created; must be empty unless --force)"
    )
    parser.add_argument(
        "--per-class", type=int, required=True, metavar="N", help="samples per class (≥ 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument(
        "--users", type=int, default=10, help="number of simulated users (default 10)"
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="fraction of each class's samples held out for testing, recorded by separate users "
        "(default 0.2; 0 = no test split)",
    )
    parser.add_argument(
        "--duration-ms", type=int, default=1500, help="length of each gesture in ms (default 1500)"
    )
    parser.add_argument(
        "--gap-ms", type=int, default=500, help="idle gap between gestures in ms (default 500)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty OUT_DIR (files of the same names are replaced)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out}: folder is not empty; choose another OUT_DIR or pass --force")
    probe = out if out.is_dir() else next((p for p in out.parents if p.exists()), None)
    if probe is None or not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{out}: cannot write there ({probe} is not writable)")


def run(args: argparse.Namespace) -> int:
    if args.per_class < 1:
        raise ValueError(f"--per-class must be ≥ 1, got {args.per_class}")
    if args.users < 1:
        raise ValueError(f"--users must be ≥ 1, got {args.users}")
    if args.seed < 0:
        raise ValueError(f"--seed must be ≥ 0, got {args.seed}")
    if args.duration_ms < 2:
        raise ValueError(f"--duration-ms must be ≥ 2, got {args.duration_ms}")
    if args.gap_ms < 0:
        raise ValueError(f"--gap-ms must be ≥ 0, got {args.gap_ms}")
    out = Path(args.out_dir).expanduser()
    _check_out_dir(out, args.force)

    from neuromoco.data.procedural_writer import dataset_plan, write_dataset
    from neuromoco.synth import NUM_CLASSES

    # Validate the split before any file is written (raises ValueError with the reason).
    plan = dataset_plan(args.per_class, args.users, args.test_fraction)
    total = args.per_class * NUM_CLASSES
    start = time.perf_counter()
    tty = sys.stderr.isatty()

    def progress(done: int, n: int, msg: str) -> None:
        # A live line on a terminal; one line per 11 samples in logs (CI, redirected output).
        if args.quiet or (not tty and done % 11 and done != n):
            return
        el = time.perf_counter() - start
        eta = el / done * (n - done)
        end = "\r" if tty and done != n else "\n"
        print(
            f"[{done}/{n}] {msg:<48.48s} {el:5.1f} s, ~{eta:3.0f} s left",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    write_dataset(
        out,
        per_class=args.per_class,
        seed=args.seed,
        users=args.users,
        test_fraction=args.test_fraction,
        duration_us=args.duration_ms * 1000,
        gap_us=args.gap_ms * 1000,
        progress=progress,
    )
    n_test = sum(1 for f in plan if f["split"] == "test")
    print(
        f"wrote {total} samples ({NUM_CLASSES} classes x {args.per_class}) in {len(plan)} recordings "
        f"({len(plan) - n_test} train, {n_test} test) to {out / 'DvsGesture'} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0
