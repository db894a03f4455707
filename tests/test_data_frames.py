"""FramesDataset sample modes, MixedUnlabeled, procedural sets, DataLoader use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_formats import write_gesture_tree, write_ncaltech_tree

from neuromoco.augment import DVSAugment, TwoViews
from neuromoco.data import (
    DVS128Gesture,
    FramesDataset,
    MixedUnlabeled,
    ProceduralGestures,
    build_dataset,
    build_mixed,
)
from neuromoco.data.procedural import sample_seed
from neuromoco.framing import FramingSpec, to_frames

TRAIN = {"user01_fluorescent": [1, 2, 3, 4]}
TEST = {"user24_led": [5, 6]}


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("g")
    write_gesture_tree(root, TRAIN, TEST, gesture_us=200_000, events_per_gesture=2000)
    return root


# -- window mode -------------------------------------------------------------------------


def test_window_mode_time_windows(gesture_root):
    spec = FramingSpec(T=5, split_by="time", size=(64, 64), window_us=50_000)
    ds = FramesDataset(DVS128Gesture(gesture_root, "train"), spec, sampling="window", seed=3)
    ev = ds.source.events(2)
    start, end = ds.window_bounds(2)
    assert (start, end) == (ds.source.samples[2].t_start, ds.source.samples[2].t_end)
    for u in (0.0, 0.37, 1.0):
        t0 = start + round(u * (end - start - 50_000))
        want = to_frames(ev, 5, (128, 128), "time", (64, 64), t0, t0 + 50_000)
        np.testing.assert_array_equal(ds.window_frames(2, u), want)
    x, y = ds[2]
    assert x.shape == (5, 2, 64, 64) and y == 2
    # a 50 ms window of a ~200 ms clip of 2000 uniform events holds about a quarter of them
    assert 250 < float(x.sum()) < 750


@pytest.mark.parametrize("dn", [300, 5000])
def test_window_frames_with_denoise_equal_the_denoised_sample_cut(gesture_root, dn):
    """A framing with a neighbour denoise: each training window equals the sample denoised from
    its first event on, then cut (what the streaming windower gives) — the dataset denoises only
    the window and the dn µs before it, which must not change a single count."""
    from neuromoco.denoise import denoise

    spec = FramingSpec(T=5, split_by="time", size=(32, 32), window_us=50_000, denoise_us=dn)
    ds = FramesDataset(DVS128Gesture(gesture_root, "train"), spec, sampling="window", seed=3)
    for i in range(len(ds)):
        ev = ds.source.events(i)
        clean, _ = denoise(ev, dn, (128, 128))
        start, end = ds.window_bounds(i)
        for u in (0.0, 0.5, 1.0):
            t0 = start + round(u * (end - start - 50_000))
            want = to_frames(clean, 5, (128, 128), "time", (32, 32), t0, t0 + 50_000)
            np.testing.assert_array_equal(ds.window_frames(i, u), want)
    # and the clip frames of the cache path are denoised too (spec hash differs from no denoise)
    from neuromoco.data.cache import clip_frames, spec_hash

    ev = ds.source.events(0)
    got = clip_frames(
        ev, FramingSpec(T=5, split_by="time", size=(32, 32), denoise_us=dn), (128, 128)
    )
    want = to_frames(denoise(ev, dn, (128, 128))[0], 5, (128, 128), "time", (32, 32))
    np.testing.assert_array_equal(got, want)
    assert spec_hash(spec) != spec_hash(FramingSpec(T=5, split_by="time", size=(32, 32)))


def test_window_draws_seeded_by_epoch(gesture_root):
    spec = FramingSpec(T=2, split_by="time", size=(32, 32), window_us=20_000)
    a = FramesDataset(DVS128Gesture(gesture_root, "train"), spec, sampling="window", seed=5)
    b = FramesDataset(DVS128Gesture(gesture_root, "train"), spec, sampling="window", seed=5)
    assert torch.equal(a[1][0], b[1][0])  # same seed, epoch, index → same window
    assert torch.equal(a[1][0], a[1][0])
    e0 = a[1][0]
    a.set_epoch(1)
    assert not torch.equal(a[1][0], e0)  # a new epoch draws new windows
    c = FramesDataset(DVS128Gesture(gesture_root, "train"), spec, sampling="window")
    torch.manual_seed(0)
    draws = {float(c[1][0].sum()) for _ in range(6)}
    assert len(draws) > 1  # unseeded: torch's RNG


def test_window_longer_than_sample_and_event_windows(gesture_root):
    src = DVS128Gesture(gesture_root, "test")
    long = FramesDataset(
        src,
        FramingSpec(T=4, split_by="time", size=(32, 32), window_us=10_000_000),
        sampling="window",
    )
    x, _ = long[0]
    assert float(x.sum()) == 2000  # the whole sample, at the window start
    assert float(x[1:].sum()) == 0  # the rest of the 10 s window is empty
    spec = FramingSpec(T=4, split_by="number", size=(32, 32), window_events=300)
    ev = FramesDataset(src, spec, sampling="window", seed=0)
    for i in range(2):
        x, _ = ev[i]
        assert float(x.sum()) == 300
    np.testing.assert_array_equal(
        ev.window_frames(0, 0.0), to_frames(src.events(0)[:300], 4, (128, 128), "number", (32, 32))
    )


def test_window_sampling_needs_a_window():
    src = ProceduralGestures("train", per_class=1, duration_us=20_000, test_fraction=0.0)
    with pytest.raises(ValueError, match="window_us"):
        FramesDataset(src, FramingSpec(T=2), sampling="window")
    with pytest.raises(ValueError, match="sampling must be one of"):
        FramesDataset(src, FramingSpec(T=2), sampling="stream")  # stream is a streaming mode


def test_old_keyword_mode_still_selects_the_sampling_with_a_warning():
    src = ProceduralGestures("train", per_class=1, duration_us=20_000, test_fraction=0.0)
    spec = FramingSpec(T=2, split_by="time", size=(32, 32), window_us=10_000)
    with pytest.warns(DeprecationWarning, match="use sampling='window'"):
        ds = FramesDataset(src, spec, mode="window", seed=0)
    assert ds.sampling == "window"
    np.testing.assert_array_equal(
        ds[0][0].numpy(), FramesDataset(src, spec, sampling="window", seed=0)[0][0].numpy()
    )
    with pytest.warns(DeprecationWarning, match="build_dataset: mode='window'"):
        ds = build_dataset("procedural", None, "train", spec, mode="window", per_class=1)
    assert ds.sampling == "window"
    with pytest.raises(ValueError, match="not both"):
        FramesDataset(src, spec, sampling="window", mode="clip")


def test_clip_mode_with_transform_and_dataloader(gesture_root):
    spec = FramingSpec(T=3, split_by="number", size=(32, 32))
    ds = build_dataset(
        "dvs128_gesture", gesture_root, "train", spec, transform=TwoViews(DVSAugment())
    )
    (q, k), y = ds[0]
    assert q.shape == k.shape == (3, 2, 32, 32) and y == 0
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)
    (q, k), y = next(iter(loader))
    assert q.shape == (2, 3, 2, 32, 32) and y.tolist() == [0, 1]
    with pytest.raises(IndexError):
        ds[4]
    assert ds[-1][1] == 3


# -- MixedUnlabeled ----------------------------------------------------------------------


def test_mixed_resizes_on_event_coordinates_and_drops_labels(gesture_root, tmp_path):
    write_ncaltech_tree(tmp_path, per_class={"ant": 20}, background=0)
    ges = build_dataset("dvs128_gesture", gesture_root, "train", FramingSpec(T=4, size=(128, 128)))
    # N-Caltech101 framed at its own 240×180 here (its test split: the 2 last "ant" files);
    # MixedUnlabeled reframes it at 128×128
    from neuromoco.data.ncaltech101 import NCaltech101

    cal = FramesDataset(NCaltech101(tmp_path, "test"), FramingSpec(T=4, size=(240, 180)))
    mix = MixedUnlabeled([ges, cal], size=(128, 128))
    assert len(mix) == 6 and mix.parts == [("dvs128_gesture", 4), ("ncaltech101", 2)]
    for i in range(len(mix)):
        x, y = mix[i]
        assert x.shape == (4, 2, 128, 128) and y == -1
    # event mass preserved by the event-coordinate resize
    assert float(mix[4][0].sum()) == float(cal[0][0].sum()) == 60
    with pytest.raises(ValueError, match="same number of frames"):
        MixedUnlabeled([ges, cal.with_framing(FramingSpec(T=5, size=(240, 180)))])
    two = MixedUnlabeled([ges], transform=TwoViews(DVSAugment()))
    (q, k), y = two[0]
    assert q.shape == (4, 2, 128, 128) and y == -1


def test_mixed_checks_plain_datasets():
    good = [(torch.zeros(2, 2, 8, 8), 3)]
    mix = MixedUnlabeled([good], size=(8, 8))
    assert mix[0][1] == -1
    with pytest.raises(ValueError, match=r"needs \[T, 2, 16, 16\]"):
        MixedUnlabeled([good], size=(16, 16))[0]
    with pytest.raises(ValueError, match="at least one"):
        MixedUnlabeled([])


def test_build_mixed(gesture_root):
    mix = build_mixed(
        [
            ("dvs128_gesture", gesture_root),
            {"name": "procedural", "root": None, "per_class": 1, "duration_us": 20_000},
        ],
        split="train",
        framing=FramingSpec(T=2, size=(32, 32)),
        size=(48, 48),
    )
    assert len(mix) == 4 + 11
    assert mix[0][0].shape == (2, 2, 48, 48) and mix[10][0].shape == (2, 2, 48, 48)


# -- procedural ----------------------------------------------------------------------------


def test_procedural_in_memory_split_and_determinism():
    tr = ProceduralGestures("train", per_class=5, seed=1, duration_us=20_000, test_fraction=0.4)
    te = ProceduralGestures("test", per_class=5, seed=1, duration_us=20_000, test_fraction=0.4)
    assert (len(tr), len(te)) == (33, 22) and tr.num_classes == 11
    assert not {s.source for s in tr.samples} & {s.source for s in te.samples}
    assert tr.class_counts() == {c: 3 for c in tr.class_names}
    other = ProceduralGestures("train", per_class=5, seed=2, duration_us=20_000, test_fraction=0.4)
    assert {s.source for s in tr.samples}.isdisjoint({s.source for s in other.samples})
    bigger = ProceduralGestures("all", per_class=8, seed=1, duration_us=20_000, test_fraction=0.4)
    assert tr.samples[0].source in {s.source for s in bigger.samples}  # stable per-sample seeds
    assert tr.samples[0].source == f"synth:0:{sample_seed(1, 0, 0)}:20000"
    a = tr.events(7)
    b = ProceduralGestures(
        "train", per_class=5, seed=1, duration_us=20_000, test_fraction=0.4
    ).events(7)
    np.testing.assert_array_equal(a, b)
    assert a.size > 0 and int(a["t"].max()) < 20_000
    ds = build_dataset(
        "procedural",
        None,
        "test",
        FramingSpec(T=2, size=(32, 32)),
        per_class=5,
        seed=1,
        duration_us=20_000,
        test_fraction=0.4,
    )
    assert ds[0][0].shape == (2, 2, 32, 32) and ds.labels == te.labels


def test_procedural_bad_arguments():
    with pytest.raises(ValueError, match="per_class"):
        ProceduralGestures(per_class=0)
    with pytest.raises(ValueError, match="test_fraction"):
        ProceduralGestures(test_fraction=1.0)


def test_procedural_cache_keyed_by_generator_version(tmp_path, monkeypatch):
    from neuromoco import synth

    src = ProceduralGestures("train", per_class=1, duration_us=20_000, test_fraction=0.0)
    ds = FramesDataset(src, FramingSpec(T=2, size=(32, 32)), cache_dir=tmp_path)
    ds.build_cache(workers=0, progress=False)
    assert ds.cache.missing() == []
    monkeypatch.setattr(synth, "GENERATOR_VERSION", synth.GENERATOR_VERSION + 1)
    src2 = ProceduralGestures("train", per_class=1, duration_us=20_000, test_fraction=0.0)
    assert (
        len(
            FramesDataset(src2, FramingSpec(T=2, size=(32, 32)), cache_dir=tmp_path).cache.missing()
        )
        == 11
    )


def test_procedural_directory_from_synth_write_dataset(tmp_path):
    from neuromoco import synth
    from neuromoco.data.procedural_writer import write_dataset

    write_dataset(tmp_path, per_class=2, seed=0, users=5, duration_us=30_000, gap_us=10_000)
    tr = build_dataset("procedural", tmp_path, "train", FramingSpec(T=2, size=(32, 32)))
    te = build_dataset("procedural", tmp_path, "test", FramingSpec(T=2, size=(32, 32)))
    assert len(tr) + len(te) == 22 and len(te) > 0
    assert tr.class_names == tuple(synth.CLASS_NAMES) and tr.source.name == "procedural"
    assert sorted(tr.labels + te.labels) == sorted(list(range(11)) * 2)
    x, _ = tr[0]
    assert x.shape == (2, 2, 32, 32) and float(x.sum()) > 0


def test_dataset_pickles_light_for_loader_workers(gesture_root):
    import pickle

    ds = build_dataset("dvs128_gesture", gesture_root, "train", FramingSpec(T=2, size=(16, 16)))
    ds[0]  # decodes a recording, kept in a one-entry memo
    assert ds.source._last_source is not None
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000  # the decoded recording is not shipped to workers
    assert torch.equal(pickle.loads(blob)[1][0], ds[1][0])
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    xs = torch.cat([x for x, _ in loader])
    assert xs.shape == (4, 2, 2, 16, 16)
