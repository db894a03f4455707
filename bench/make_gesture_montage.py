"""Montage of the 11 procedural gesture classes: ``python -m bench.make_gesture_montage [OUT.png]``.

One row per class (seed 0, 1.5 s): the whole sample accumulated, then ``T`` equal-time bins
(``neuromoco.framing.to_frames(split_by="time")``). ON events red, OFF events blue, both white.
Writes docs/img/procedural_gestures.png by default.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from neuromoco.framing import to_frames
from neuromoco.synth import CLASS_NAMES, SENSOR_SIZE, generate_gesture

T = 5


def _rgb(frame: np.ndarray) -> np.ndarray:
    """[2, H, W] counts → [H, W, 3] float image in [0, 1] (dark background)."""
    off, on = frame[0], frame[1]
    scale = (
        max(np.percentile(np.concatenate([on[on > 0], off[off > 0]]), 95), 1.0)
        if frame.any()
        else 1.0
    )
    on = np.clip(on / scale, 0, 1)
    off = np.clip(off / scale, 0, 1)
    return np.stack([on, np.minimum(on, off), off], axis=-1) * 0.97 + 0.02


def make_montage(out: Path, seed: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(CLASS_NAMES), T + 1, figsize=(1.6 * (T + 1), 1.6 * len(CLASS_NAMES))
    )
    for label, name in enumerate(CLASS_NAMES):
        ev = generate_gesture(label, seed)
        whole = to_frames(ev, 1, SENSOR_SIZE, split_by="time", t_start=0, t_end=1_500_000)[0]
        bins = to_frames(ev, T, SENSOR_SIZE, split_by="time", t_start=0, t_end=1_500_000)
        for j, fr in enumerate([whole, *bins]):
            ax = axes[label, j]
            ax.imshow(_rgb(fr), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"{label}: {name}\n{ev.size // 1000} k ev", fontsize=7)
            if label == 0:
                ax.set_title("all 1.5 s" if j == 0 else f"bin {j}/{T}", fontsize=8)
    fig.suptitle("NeuroMoCo procedural gestures (ON red, OFF blue)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


if __name__ == "__main__":
    target = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[1] / "docs/img/procedural_gestures.png"
    )
    print(make_montage(target))
