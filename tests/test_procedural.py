"""The procedural set's one seed scheme and one split rule, shared by the in-memory set and the
dataset writer (neuromoco.data.procedural, neuromoco.data.procedural_writer)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuromoco.data.procedural import (
    RECORDING_KEY,
    ProceduralGestures,
    sample_seed,
    train_count,
)
from neuromoco.data.procedural_writer import MANIFEST, dataset_plan, write_dataset
from neuromoco.events import read_events
from neuromoco.synth import NUM_CLASSES


@pytest.mark.parametrize(
    "n, test_fraction, nonempty, expected",
    [
        (30, 0.2, False, 24),  # the bundled demo's procedural set: 24 train, 6 test per class
        (18, 0.2, False, 15),  # recipes/*_procedural_cpu.toml
        (5, 0.4, False, 3),
        (2, 0.2, False, 2),  # in memory a small set may have no test sample ...
        (2, 0.2, True, 1),  # ... the writer's split by user keeps one
        (3, 0.2, True, 2),
        (30, 0.2, True, 24),  # where the in-memory split has test samples, both agree
        (1, 0.2, True, 1),  # one item cannot be split
        (4, 0.0, True, 4),  # no test split asked, none made
    ],
)
def test_train_count(n, test_fraction, nonempty, expected):
    assert train_count(n, test_fraction, nonempty_test=nonempty) == expected


def test_in_memory_split_follows_train_count():
    for per_class, tf in ((5, 0.4), (7, 0.25), (3, 0.0)):
        n_train = train_count(per_class, tf)
        tr = ProceduralGestures("train", per_class=per_class, test_fraction=tf, duration_us=20_000)
        te = ProceduralGestures("test", per_class=per_class, test_fraction=tf, duration_us=20_000)
        assert (len(tr), len(te)) == (NUM_CLASSES * n_train, NUM_CLASSES * (per_class - n_train))
        assert {s.name for s in tr.samples} == {
            f"{name}#{i}" for name in tr.class_names for i in range(n_train)
        }


def test_recording_key_is_no_sample_key():
    # the writer's per-recording draws use the label slot one past the last class
    assert RECORDING_KEY == NUM_CLASSES
    recordings = {sample_seed(3, RECORDING_KEY, j) for j in range(5)}
    samples = {sample_seed(3, c, j) for c in range(NUM_CLASSES) for j in range(5)}
    assert len(recordings) == 5 and not recordings & samples


def test_dataset_plan_splits_rounds_then_users_by_the_rule():
    for per_class in range(1, 25):
        for users in range(1, 12):
            for tf in (0.0, 0.2, 0.4, 0.5, 0.75):
                if tf > 0 and min(users, per_class) < 2:
                    with pytest.raises(ValueError, match="at least 2 users"):
                        dataset_plan(per_class, users, tf)
                    continue
                plan = dataset_plan(per_class, users, tf)
                n_train = train_count(per_class, tf, nonempty_test=True)
                train = [f for f in plan if f["split"] == "train"]
                test = [f for f in plan if f["split"] == "test"]
                assert sorted(r for f in train for r in f["rounds"]) == list(range(n_train))
                assert sorted(r for f in test for r in f["rounds"]) == list(
                    range(n_train, per_class)
                )
                assert bool(test) == (tf > 0)
                # every user records; none is in both splits
                assert {f["user"] for f in plan} == set(range(1, min(users, per_class) + 1))
                assert not {f["user"] for f in train} & {f["user"] for f in test}
                assert len({f["name"] for f in plan}) == len(plan)


def test_written_dataset_holds_the_in_memory_set(tmp_path):
    kw = dict(per_class=3, seed=5, test_fraction=0.4)
    out = write_dataset(tmp_path, users=3, duration_us=30_000, gap_us=5_000, **kw)
    man = json.loads((out / MANIFEST).read_text())
    split_of = {f["name"]: f["split"] for f in man["files"]}
    for split in ("train", "test"):
        mem = ProceduralGestures(split, duration_us=30_000, **kw)
        expected = {(s.label, int(s.source.split(":")[2])) for s in mem.samples}
        written = {(s["label"], s["seed"]) for s in man["samples"] if split_of[s["file"]] == split}
        assert written == expected and len(written) == NUM_CLASSES * (2 if split == "train" else 1)
        listed = (out / "DvsGesture" / f"trials_to_{split}.txt").read_text().split()
        assert sorted(listed) == sorted(n for n, s in split_of.items() if s == split)
    # the events in the file are the in-memory sample's, shifted to its start
    mem = ProceduralGestures("test", duration_us=30_000, **kw)
    s = next(s for s in man["samples"] if split_of[s["file"]] == "test" and s["label"] == 4)
    ev = read_events(out / "DvsGesture" / s["file"])
    part = ev[(ev["t"] >= s["start_us"]) & (ev["t"] < s["end_us"])]
    regen = mem.events(mem.labels.index(4))
    assert part.size == regen.size > 0
    np.testing.assert_array_equal(part["t"] - s["start_us"], regen["t"])
    np.testing.assert_array_equal(part["x"], regen["x"])
    np.testing.assert_array_equal(part["p"], regen["p"])
