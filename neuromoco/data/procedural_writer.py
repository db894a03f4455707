"""Write a procedural DVS128-Gesture-like dataset to disk, in the real dataset's layout.

The files hold exactly the samples of the in-memory :class:`~neuromoco.data.procedural.ProceduralGestures`
of the same ``seed``, ``per_class`` and ``test_fraction``: same per-sample seeds, same split (the
rules of :mod:`neuromoco.data.procedural`). Round ``r`` of a recording plays sample ``r`` of each
class; train rounds go to the train users' recordings, test rounds to the test users'.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuromoco.atomic import atomic_write_text
from neuromoco.data.procedural import RECORDING_KEY, sample_seed, train_count
from neuromoco.events import write_events
from neuromoco.sensor_noise import background_activity
from neuromoco.synth.gesture import generate_gesture
from neuromoco.synth.params import (
    CLASS_NAMES,
    GENERATOR_VERSION,
    GESTURE_DURATION_US,
    IDLE_NOISE_HZ,
    NUM_CLASSES,
    SENSOR_SIZE,
    check_durations,
    check_seed,
)

MANIFEST = "neuromoco_synth.json"
WRITER_VERSION = 2
"""Bumped whenever the files written for the same arguments change at the same generator version
(2: the seed scheme and split rule of the in-memory set; 1 had seeds and a user split of its own)."""
LIGHTINGS = ("fluorescent", "fluorescent_led", "lab", "led", "natural")
"""Lighting names of the real DVS128 Gesture files (``userXX_<lighting>.aedat``)."""


def dataset_plan(per_class: int, users: int = 10, test_fraction: float = 0.2) -> list[dict]:
    """Which recording file holds which rounds (round ``r``: sample ``r`` of each class).

    Returns one dict per file: ``name`` (``userXX_<lighting>.aedat``), ``user``, ``lighting``,
    ``split`` (``"train"``/``"test"``) and ``rounds`` (round indices). At most ``per_class`` users
    record; :func:`~neuromoco.data.procedural.train_count` splits the rounds and, the same way,
    the users (the last users are test users, like the real dataset's), so no user is in both.
    """
    for name, v in (("per_class", per_class), ("users", users)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    n_users = min(users, per_class)
    if test_fraction > 0 and n_users < 2:
        raise ValueError(
            f"a train/test split by user needs recordings of at least 2 users: per_class={per_class} "
            f"and users={users} give {n_users}; use per_class ≥ 2 and users ≥ 2, or test_fraction=0"
        )
    n_train = train_count(per_class, test_fraction, nonempty_test=True)
    u_train = train_count(n_users, test_fraction, nonempty_test=True)
    files = []
    for split, rounds, user_ids in (
        ("train", range(n_train), range(1, u_train + 1)),
        ("test", range(n_train, per_class), range(u_train + 1, n_users + 1)),
    ):
        n_files = min(len(rounds), len(user_ids) * len(LIGHTINGS))
        for j in range(n_files):
            user = user_ids[j % len(user_ids)]
            lighting = LIGHTINGS[j // len(user_ids)]
            files.append(
                {
                    "name": f"user{user:02d}_{lighting}.aedat",
                    "user": user,
                    "lighting": lighting,
                    "split": split,
                    "rounds": list(rounds[j::n_files]),
                }
            )
    return files


def write_dataset(
    out_dir: str | os.PathLike,
    per_class: int,
    seed: int = 0,
    users: int = 10,
    test_fraction: float = 0.2,
    duration_us: int = GESTURE_DURATION_US,
    gap_us: int = 500_000,
    progress: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Write a DVS128-Gesture-like dataset of ``per_class`` procedural samples per class.

    Layout (readable by :class:`neuromoco.data.dvs128_gesture.DVS128Gesture` and spikingjelly)::

        out_dir/DvsGesture/userXX_<lighting>.aedat         AEDAT 3.1, 128×128
        out_dir/DvsGesture/userXX_<lighting>_labels.csv    class,startTime_usec,endTime_usec (class 1-based)
        out_dir/DvsGesture/trials_to_train.txt              recordings of the train users
        out_dir/DvsGesture/trials_to_test.txt               recordings of the test users
        out_dir/neuromoco_synth.json                        manifest: version, arguments, every sample's seed
        out_dir/README.md

    Each recording plays one or more *rounds* (each class once, in a random order), every
    gesture ``duration_us`` long and separated by ``gap_us`` of idle noise (also before the
    first). Recordings are spread over ``users`` users and the 5 lighting names
    (:func:`dataset_plan`); the test users' recordings hold the test samples of the in-memory set.
    Every file is written atomically.
    ``progress(done, total, message)`` is called after each gesture. Returns ``out_dir``.
    """
    seed = check_seed(seed)
    plan = dataset_plan(per_class, users, test_fraction)
    check_durations(duration_us, gap_us)
    out = Path(out_dir)
    data_dir = out / "DvsGesture"
    data_dir.mkdir(parents=True, exist_ok=True)
    stale = _previous_files(out) - {f["name"] for f in plan}
    total = per_class * NUM_CLASSES
    done = 0
    samples = []
    for j, f in enumerate(plan):
        parts = []
        rows = ["class,startTime_usec,endTime_usec"]
        order_rng = np.random.default_rng(sample_seed(seed, RECORDING_KEY, j))
        t = 0
        for r in f["rounds"]:
            for label in order_rng.permutation(NUM_CLASSES):
                label = int(label)
                gap = background_activity(t, t + gap_us, SENSOR_SIZE, IDLE_NOISE_HZ, order_rng)
                parts.append(gap)
                t += gap_us
                s_seed = sample_seed(seed, label, r)
                ev = generate_gesture(label, s_seed, int(duration_us))
                ev["t"] += t
                parts.append(ev)
                rows.append(f"{label + 1},{t},{t + duration_us}")
                samples.append(
                    {
                        "file": f["name"],
                        "label": label,
                        "class": CLASS_NAMES[label],
                        "seed": s_seed,
                        "start_us": t,
                        "end_us": t + int(duration_us),
                        "events": int(ev.size),
                    }
                )
                t += duration_us
                done += 1
                if progress is not None:
                    progress(done, total, f"{f['name']}: {CLASS_NAMES[label]}")
        parts.append(background_activity(t, t + gap_us, SENSOR_SIZE, IDLE_NOISE_HZ, order_rng))
        events = np.concatenate(parts)
        write_events(data_dir / f["name"], events, SENSOR_SIZE, format="aedat3")
        atomic_write_text(
            data_dir / (f["name"][: -len(".aedat")] + "_labels.csv"), "\n".join(rows) + "\n"
        )
    for split in ("train", "test"):
        names = [f["name"] for f in plan if f["split"] == split]
        atomic_write_text(data_dir / f"trials_to_{split}.txt", "".join(n + "\n" for n in names))
    manifest = {
        "generator": "neuromoco.synth",
        "generator_version": GENERATOR_VERSION,
        "writer_version": WRITER_VERSION,
        "seed": seed,
        "per_class": per_class,
        "users": users,
        "test_fraction": test_fraction,
        "duration_us": int(duration_us),
        "gap_us": int(gap_us),
        "sensor_size": list(SENSOR_SIZE),
        "class_names": list(CLASS_NAMES),
        "files": [{k: v for k, v in f.items() if k != "rounds"} for f in plan],
        "samples": samples,
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    split_of = {f["name"]: f["split"] for f in plan}
    n_train = sum(split_of[s["file"]] == "train" for s in samples)
    readme = f"""# Procedural DVS128-Gesture-like dataset (NeuroMoCo)

Generated by `neuromoco synth` (neuromoco.synth generator version {GENERATOR_VERSION}, writer
version {WRITER_VERSION}) with
seed={seed}, per_class={per_class}, users={users}, test_fraction={test_fraction},
duration_us={duration_us}, gap_us={gap_us}: {len(samples)} samples
({n_train} train, {len(samples) - n_train} test) in {len(plan)} recordings.

This is **synthetic** data: a rendered person performing the 11 DVS128 Gesture classes, turned
into events by a DVS emulator. The same arguments, generator and writer versions reproduce it
exactly, and `ProceduralGestures(split, per_class, seed, test_fraction=...)` generates the same
samples in memory;
`{MANIFEST}` lists every sample's file, label, seed and time range.

Layout: `DvsGesture/userXX_<lighting>.aedat` (AEDAT 3.1, 128x128) with
`userXX_<lighting>_labels.csv` (`class,startTime_usec,endTime_usec`, class 1-based) and
`trials_to_train.txt` / `trials_to_test.txt` (split by user), like the real DVS128 Gesture.
"""
    atomic_write_text(out / "README.md", readme)
    # Recordings of an earlier, larger dataset written here would otherwise linger beside the new
    # ones (the trial lists no longer name them, but a glob would still find them).
    for name in sorted(stale):
        for p in (data_dir / name, data_dir / (name[: -len(".aedat")] + "_labels.csv")):
            if p.is_file():
                p.unlink()
    return out


def _previous_files(out: Path) -> set[str]:
    """Recording names listed by an existing manifest in ``out`` (empty if none or unreadable)."""
    try:
        old = json.loads((out / MANIFEST).read_text())
        names = {str(f["name"]) for f in old.get("files", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()
    # Only plain recording names of our own pattern: never follow paths out of the folder.
    return {
        n
        for n in names
        if n.startswith("user") and n.endswith(".aedat") and "/" not in n and "\\" not in n
    }
