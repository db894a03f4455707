"""Framing speed: neuromoco.framing.to_frames vs tonic ToFrame and spikingjelly, same events, same run.

10 M uniformly random events on a 128×128 sensor over 10 s, T = 16. Peers:
* tonic ``ToFrame(sensor_size, n_time_bins=16)`` (equal-time bins), if tonic is installed
  (``pip install -e .[bench]``);
* spikingjelly ``integrate_events_by_fixed_frames_number(split_by='number')``.
Ours runs both splits. All single-threaded numpy; figures are best of ``repeats``.
"""

from __future__ import annotations

import numpy as np

from bench.timing import best_wall as _best
from neuromoco.events import make_events
from neuromoco.framing import to_frames


def main(quick: bool = False) -> str:
    from tests.peers import sj_frames_by_number

    n = 1_000_000 if quick else 10_000_000
    repeats = 3 if quick else 5
    rng = np.random.default_rng(0)
    ev = make_events(
        np.sort(rng.integers(0, 10_000_000, n)),
        rng.integers(0, 128, n),
        rng.integers(0, 128, n),
        rng.integers(0, 2, n),
    )
    T, size = 16, (128, 128)
    rows = {
        "neuromoco to_frames, split_by=number": _best(lambda: to_frames(ev, T, size), repeats),
        "neuromoco to_frames, split_by=time": _best(
            lambda: to_frames(ev, T, size, split_by="time"), repeats
        ),
        "neuromoco to_frames, number + resize 128→64": _best(
            lambda: to_frames(ev, T, size, size=(64, 64)), repeats
        ),
        "spikingjelly integrate (split_by=number)": _best(
            lambda: sj_frames_by_number(ev, T, size), max(1, repeats // 2)
        ),
    }
    try:
        import tonic.transforms as tt

        tonic_ev = np.empty(n, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
        for k in "txyp":
            tonic_ev[k] = ev[k]
        to_frame = tt.ToFrame(sensor_size=(128, 128, 2), n_time_bins=T)
        rows["tonic ToFrame(n_time_bins=16)"] = _best(lambda: to_frame(tonic_ev), 2)
    except ImportError:
        rows["tonic ToFrame(n_time_bins=16)"] = float("nan")

    ours = rows["neuromoco to_frames, split_by=number"]
    lines = [
        f"{n / 1e6:.0f} M events, 128×128, T={T}, one core (numpy), best of {repeats}:",
        "",
        "| implementation | ms | M events/s | time vs ours (split by number) |",
        "|---|---:|---:|---:|",
    ]
    for name, s in rows.items():
        lines.append(f"| {name} | {s * 1e3:.1f} | {n / s / 1e6:.0f} | {s / ours:.1f}× |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
