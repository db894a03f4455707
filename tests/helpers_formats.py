"""Test helpers: tiny fake dataset trees in the official layouts, written in the official formats.

* DVS128 Gesture: AEDAT 3.1 via the project's writer (``write_events(..., format="aedat3")``),
  ``*_labels.csv`` (1-based class, start/end µs) and ``trials_to_{train,test}.txt``.
* CIFAR10-DVS: AEDAT 2.0 with DVS128 addresses, encoded here independently of the reader
  (jAER ``DVS128.Extractor``: bit 0 = 1 − polarity, bits 1–7 = 127 − x, bits 8–14 = 127 − y;
  big-endian ``int32 address, int32 timestamp``).
* N-Caltech101: ATIS 5-byte ``.bin`` records (``neuromoco.formats.atis_bin.encode``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuromoco.events import EVENT_DTYPE

GESTURE_SENSOR = (128, 128)


def random_events(
    n: int, size=(128, 128), t0: int = 0, t1: int = 1_000_000, seed: int = 0
) -> np.ndarray:
    """``n`` random events on a ``size`` = (W, H) sensor with sorted t in ``[t0, t1)`` µs."""
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(t0, t1, n))
    ev["x"] = rng.integers(0, size[0], n)
    ev["y"] = rng.integers(0, size[1], n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def aedat2_bytes(events: np.ndarray) -> bytes:
    """An AEDAT 2.0 DVS128 file holding ``events`` (x, y < 128), as jAER writes it."""
    head = (
        b"#!AER-DAT2.0\r\n"
        b"# This is a raw AE data file - do not edit\r\n"
        b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
        b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"
    )
    rec = np.empty(events.shape[0], dtype=[("a", ">u4"), ("t", ">u4")])
    col = 127 - events["x"].astype(np.uint32)
    row = 127 - events["y"].astype(np.uint32)
    rec["a"] = (row << 8) | (col << 1) | (1 - events["p"].astype(np.uint32))
    rec["t"] = events["t"].astype(np.uint32)
    return head + rec.tobytes()


def atis_bin_bytes(events: np.ndarray) -> bytes:
    from neuromoco.formats.atis_bin import encode

    return encode(events).tobytes()


def write_gesture_tree(
    root: Path,
    train: dict[str, list[int]],
    test: dict[str, list[int]],
    gesture_us: int = 200_000,
    events_per_gesture: int = 400,
    seed: int = 0,
) -> Path:
    """A DvsGesture folder under ``root``: ``{recording stem: [1-based classes]}`` per split.

    Gesture k of a recording spans ``[1000 + k·gesture_us, 1000 + (k+1)·gesture_us − 1000)`` µs;
    a few events lie between gestures (they belong to no sample). Returns ``root/DvsGesture``.
    """
    from neuromoco.events import write_events

    d = Path(root) / "DvsGesture"
    d.mkdir(parents=True, exist_ok=True)
    s = seed
    for split, recs in (("train", train), ("test", test)):
        (d / f"trials_to_{split}.txt").write_text("".join(f"{r}.aedat\n" for r in recs) + "\n")
        for stem, classes in recs.items():
            parts, rows = [], ["class,startTime_usec,endTime_usec"]
            for k, c in enumerate(classes):
                a = 1000 + k * gesture_us
                b = a + gesture_us - 1000
                rows.append(f"{c},{a},{b}")
                s += 1
                parts.append(random_events(events_per_gesture, GESTURE_SENSOR, a, b, seed=s))
                # stray events in the gap between gestures
                parts.append(random_events(3, GESTURE_SENSOR, b, b + 1000, seed=s + 10_000))
            ev = np.concatenate(parts)
            write_events(d / f"{stem}.aedat", ev, GESTURE_SENSOR, format="aedat3")
            (d / f"{stem}_labels.csv").write_text("\n".join(rows) + "\n")
    return d


def write_cifar10dvs_tree(root: Path, per_class: int = 10, events: int = 200, classes=None) -> Path:
    """``root/<class>/cifar10_<class>_<i>.aedat`` AEDAT 2.0 files; returns ``root``."""
    from neuromoco.data.cifar10_dvs import CLASS_NAMES

    root = Path(root)
    for ci, c in enumerate(classes or CLASS_NAMES):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            ev = random_events(events, (128, 128), 0, 1_000_000, seed=1000 * ci + i)
            (root / c / f"cifar10_{c}_{i}.aedat").write_bytes(aedat2_bytes(ev))
    return root


def write_ncaltech_tree(
    root: Path, per_class: dict[str, int] | None = None, default: int = 1, background: int = 2
) -> Path:
    """``root/Caltech101/<class>/image_000i.bin`` for all 100 object classes (+ background)."""
    from neuromoco.data.ncaltech101 import BACKGROUND, OBJECT_CLASSES

    d = Path(root) / "Caltech101"
    counts = {c: default for c in OBJECT_CLASSES}
    counts.update(per_class or {})
    if background:
        counts[BACKGROUND] = background
    for ci, (c, n) in enumerate(sorted(counts.items())):
        (d / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            ev = random_events(60, (240, 180), 0, 300_000, seed=7 * ci + i)
            (d / c / f"image_{i + 1:04d}.bin").write_bytes(atis_bin_bytes(ev))
    return d
