"""Best-of-N timing shared by the benchmarks (the machine is shared: the best run is the one
least disturbed by other jobs)."""

from __future__ import annotations

import time
from collections.abc import Callable

WALL: dict = {}
"""``best_cpu`` also records each function's best wall time here (``WALL[fn]``)."""


def best_wall(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls (s)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def best_cpu(fn: Callable[[], object], repeats: int) -> float:
    """Best process CPU time of ``repeats`` calls (s): waiting for a core on a shared machine is
    not the code's time. The best wall time goes to ``WALL[fn]``."""
    best = best_w = float("inf")
    for _ in range(repeats):
        w0, t0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
        best_w = min(best_w, time.perf_counter() - w0)
    WALL[fn] = best_w
    return best
