"""Procedural gestures and the frame → event emulator: generation time per sample, emulator throughput.

Targets (issue A): one 1.5 s gesture ≲ 0.2 s on one core; an 11×20 dataset well under a minute;
emulator comfortably real time at 128×128 @ 1 kHz and 640×480 @ 30 Hz (webcam).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from neuromoco.data.procedural_writer import write_dataset
from neuromoco.emulator import EmulatorConfig, EventEmulator
from neuromoco.synth import NUM_CLASSES, generate_gesture


def _moving_scene(h: int, w: int, n: int, speed_px: float, seed: int = 0) -> np.ndarray:
    """A textured image translating horizontally by ``speed_px`` per frame (uint8 [n, h, w])."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8 + 2, w // 8 + 2 + int(n * speed_px / 8) + 2))
    big = np.kron(coarse, np.ones((8, 8)))
    out = np.empty((n, h, w), np.uint8)
    for k in range(n):
        x0 = int(k * speed_px)
        out[k] = (60 + 90 * big[:h, x0 : x0 + w]).astype(np.uint8)
    return out


def _emulator_rate(frames: np.ndarray, fps: float) -> tuple[float, int]:
    emu = EventEmulator(EmulatorConfig(shot_noise_hz=0.2, refractory_us=100), seed=0)
    times = (np.arange(len(frames)) * 1e6 / fps).astype(np.int64)
    t = time.perf_counter()
    n = sum(emu.process(f, ts).size for f, ts in zip(frames, times, strict=True))
    el = time.perf_counter() - t
    return (len(frames) / fps) / el, n


def main(quick: bool = False) -> str:
    reps = 1 if quick else 3
    per, cpu, counts = [], [], []
    for label in range(NUM_CLASSES):
        for seed in range(reps):
            t, c = time.perf_counter(), time.process_time()
            ev = generate_gesture(label, seed)
            per.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            counts.append(ev.size)
    per_class = 3 if quick else 20
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        write_dataset(d, per_class=per_class, users=5)
        ds = time.perf_counter() - t
    rt_small, n_small = _emulator_rate(_moving_scene(128, 128, 500 if quick else 2000, 0.3), 1000.0)
    rt_cam, n_cam = _emulator_rate(_moving_scene(480, 640, 30 if quick else 90, 1.0), 30.0)
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| 1.5 s gesture, median / p90 / max (s, {len(per)} samples, 1 core) | "
        f"{np.median(per):.3f} / {np.percentile(per, 90):.3f} / {max(per):.3f} |",
        f"| same, process CPU time median / p90 (s; less sensitive to a loaded machine) | "
        f"{np.median(cpu):.3f} / {np.percentile(cpu, 90):.3f} |",
        f"| events per 1.5 s sample, median [min, max] | {int(np.median(counts)):,} [{min(counts):,}, {max(counts):,}] |",
        f"| write_dataset 11×{per_class} (1.5 s gestures, AEDAT 3.1 files) | {ds:.1f} s |",
        f"| emulator 128×128 @ 1 kHz, moving texture | {rt_small:.1f}× real time ({n_small:,} events) |",
        f"| emulator 640×480 @ 30 Hz, moving texture (webcam) | {rt_cam:.1f}× real time ({n_cam:,} events) |",
    ]
    lines.append(f"\n(machine load average during the run: {_load()})")
    return "### Procedural gestures and emulator (issue A)\n\n" + "\n".join(lines) + "\n"


def _load() -> str:
    try:
        import os

        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except (OSError, AttributeError):
        return "unknown"


if __name__ == "__main__":
    print(main())
