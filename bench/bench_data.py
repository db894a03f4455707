"""Data pipeline speed: cached vs uncached samples, cache build, and batch augmentation.

* Samples: a DVS128-Gesture-like tree (AEDAT 3.1 recordings of 6 gestures × ~150 k events, the
  real dataset's density) framed T = 16, 128×128. ``FramesDataset.__getitem__`` from the frame
  cache vs framing from the AEDAT file each time (what a loader without a cache does), and the
  cache build in 1 vs 2 worker processes.
* Augmentation: ``DVSAugment`` (one index-map gather per batch) on a ``[32, 16, 2, 128, 128]``
  batch vs the per-sample peer a torchvision-free port of Spikformer's policy would use
  (``affine_grid`` + ``grid_sample(mode="nearest")`` per sample, rotation only).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np


def _median(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _tree(root: Path, n_rec: int, per_rec: int, ev_per: int) -> None:
    from neuromoco.events import EVENT_DTYPE, write_events

    d = root / "DvsGesture"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"user{u + 1:02d}_lab" for u in range(n_rec)]
    (d / "trials_to_train.txt").write_text("".join(f"{n}.aedat\n" for n in names))
    (d / "trials_to_test.txt").write_text("")
    for n in names:
        rows, parts = ["class,startTime_usec,endTime_usec"], []
        for k in range(per_rec):
            a, b = k * 6_000_000, k * 6_000_000 + 5_000_000
            rows.append(f"{k % 11 + 1},{a},{b}")
            ev = np.empty(ev_per, EVENT_DTYPE)
            ev["t"] = np.sort(rng.integers(a, b, ev_per))
            ev["x"] = rng.integers(0, 128, ev_per)
            ev["y"] = rng.integers(0, 128, ev_per)
            ev["p"] = rng.integers(0, 2, ev_per)
            parts.append(ev)
        write_events(d / f"{n}.aedat", np.concatenate(parts), (128, 128), format="aedat3")
        (d / f"{n}_labels.csv").write_text("\n".join(rows) + "\n")


def _bench_samples(quick: bool) -> list[str]:
    import neuromoco.data.cache as cache_mod
    from neuromoco.data import DVS128Gesture, FramesDataset, SampleCache
    from neuromoco.framing import FramingSpec

    cache_mod.SMALL_BUILD = 0  # measure the worker pool even on this small set

    n_rec, per_rec, ev_per = (2, 6, 150_000) if quick else (8, 6, 150_000)
    spec = FramingSpec(T=16, split_by="number", size=(128, 128))
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _tree(tmp / "data", n_rec, per_rec, ev_per)
        src = DVS128Gesture(tmp / "data", "train")
        n = len(src)
        t_seq = _median(
            lambda: SampleCache(tmp / f"c{time.perf_counter_ns()}", src, spec).build(0, False), 1
        )
        t_par = _median(
            lambda: SampleCache(tmp / f"c{time.perf_counter_ns()}", src, spec).build(2, False), 1
        )
        cached = FramesDataset(src, spec, cache_dir=tmp / "c")
        cached.build_cache(workers=0, progress=False)
        plain = FramesDataset(DVS128Gesture(tmp / "data", "train"), spec)
        order = np.random.default_rng(1).permutation(n)  # shuffled, as a training loader reads

        def read_all(ds):
            for i in order:
                ds[int(i)]

        t_cached = _median(lambda: read_all(cached), 3) / n
        t_plain = _median(lambda: read_all(plain), 1) / n
        size_mb = sum(p.stat().st_size for p in cached.cache.dir.glob("*.npy")) / n / 2**20
    lines += [
        f"{n} samples of {ev_per // 1000} k events (DVS128-Gesture-like AEDAT 3.1), T=16, 128×128:",
        "",
        "| operation | ms / sample | samples/s | vs cached read |",
        "|---|---:|---:|---:|",
        f"| `__getitem__` from the frame cache (shuffled) | {t_cached * 1e3:.1f} | {1 / t_cached:.0f} | 1.0× |",
        f"| `__getitem__` without cache (decode AEDAT + frame, shuffled) | {t_plain * 1e3:.1f} | {1 / t_plain:.0f} | {t_plain / t_cached:.0f}× |",
        f"| cache build, 1 process | {t_seq / n * 1e3:.1f} | {n / t_seq:.0f} | |",
        f"| cache build, 2 worker processes (spawn) | {t_par / n * 1e3:.1f} | {n / t_par:.0f} | |",
        "",
        f"Cache file size: {size_mb:.2f} MiB per sample (uint8 counts).",
        "",
    ]
    return lines


def _bench_augment(quick: bool) -> list[str]:
    import torch

    N, T = (8, 16) if quick else (32, 16)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = [
        f"Batch [{N}, {T}, 2, 128, 128] float32 (5 % non-zero), {torch.get_num_threads()} threads, median of 5:",
        "",
        "| device | implementation | ms / batch | vs DVSAugment |",
        "|---|---|---:|---:|",
    ]
    for dev in devices:
        t_ours, t_peer = _time_augment(dev, N, T)
        lines.append(
            f"| {dev} | DVSAugment (flip + one op, one gather) | {t_ours * 1e3:.1f} | 1.0× |"
        )
        lines.append(
            f"| {dev} | per-sample affine_grid + grid_sample nearest | {t_peer * 1e3:.1f} | "
            f"{t_peer / t_ours:.2f}× |"
        )
    return lines + [""]


def _time_augment(dev: str, N: int, T: int) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    from neuromoco.augment import DVSAugment, seeded

    x = (torch.rand(N, T, 2, 128, 128) < 0.05).float().to(dev)
    pol = DVSAugment()
    g = seeded(0)

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    def ours():
        pol(x, g)
        sync()

    def peer():
        outs = []
        for i in range(N):
            a = math.radians(float(torch.empty(()).uniform_(-30, 30)))
            c, s = math.cos(a), math.sin(a)
            th = torch.tensor([[[c, -s, 0.0], [s, c, 0.0]]], device=dev)
            grid = F.affine_grid(th, (1, T * 2, 128, 128), align_corners=False)
            xi = x[i].reshape(1, T * 2, 128, 128)
            outs.append(F.grid_sample(xi, grid, mode="nearest", align_corners=False))
        torch.stack(outs)
        sync()

    ours(), peer()
    return _median(ours, 5), _median(peer, 5)


def main(quick: bool = False) -> str:
    return "\n".join(_bench_samples(quick) + _bench_augment(quick))


if __name__ == "__main__":
    print(main())
