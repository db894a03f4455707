"""``unlabeled_folder``: event files of a folder cut into unlabelled segments."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.data import build_source
from neuromoco.data.errors import DatasetNotFoundError
from neuromoco.events import make_events, write_events


def _write(path, t_end_us, seed):
    rng = np.random.default_rng(seed)
    n = 2000
    ev = make_events(
        np.sort(rng.integers(0, t_end_us, n)),
        rng.integers(0, 128, n),
        rng.integers(0, 128, n),
        rng.integers(0, 2, n),
    )
    write_events(path, ev, (128, 128), format="aedat4")
    return ev


def test_segments_labels_and_split(tmp_path):
    evs = {
        f"r{k}.aedat4": _write(tmp_path / f"r{k}.aedat4", 3_100_000 + k * 1_000_000, k)
        for k in range(4)
    }
    (tmp_path / "notes.md").write_text("not events")
    src = build_source("unlabeled_folder", str(tmp_path), "all", segment_us=1_000_000)
    # segments per file: floor((t_last - t_first) / 1 s), computed here from the written events
    want = sum(int((e["t"][-1] - e["t"][0]) // 1_000_000) for e in evs.values())
    assert len(src) == want and all(s.label == -1 for s in src.samples)
    s0 = src.samples[0]
    got = src.events(0)
    e = evs["r0.aedat4"]
    ref = e[(e["t"] >= s0.t_start) & (e["t"] < s0.t_end)]
    assert np.array_equal(got["t"], ref["t"]) and np.array_equal(got["x"], ref["x"])
    tr = build_source(
        "unlabeled_folder", str(tmp_path), "train", segment_us=1_000_000, test_fraction=0.25
    )
    te = build_source(
        "unlabeled_folder", str(tmp_path), "test", segment_us=1_000_000, test_fraction=0.25
    )
    assert len(tr) + len(te) == len(src) and len(te) > 0
    assert {s.source for s in tr.samples}.isdisjoint({s.source for s in te.samples})


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no event files"):
        build_source("unlabeled_folder", str(tmp_path), "all")
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        build_source("unlabeled_folder", str(tmp_path / "missing"), "all")
    with pytest.raises(ValueError, match="segment_us"):
        build_source("unlabeled_folder", str(tmp_path), "all", segment_us=5)
