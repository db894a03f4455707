"""Framing: exact equality with spikingjelly's split-by-number integration, edge cases, resize."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.events import EVENT_DTYPE, make_events
from neuromoco.framing import FramingSpec, accumulate, time_bin_edges, to_frames
from tests.conftest import shared_file
from tests.peers import sj_frames_by_number


def _random_events(n, w=128, h=128, seed=0, t_max=1_000_000):
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(0, t_max, n)),
        rng.integers(0, w, n),
        rng.integers(0, h, n),
        rng.integers(0, 2, n),
    )


def _naive_frames(ev, T, w, h, bounds):
    out = np.zeros((T, 2, h, w), np.float32)
    for i in range(T):
        for e in ev[bounds[i] : bounds[i + 1]]:
            out[i, e["p"], e["y"], e["x"]] += 1
    return out


@pytest.mark.parametrize("n", [0, 1, 5, 15, 16, 17, 1000, 65536 * 2 + 7])
@pytest.mark.parametrize("T", [1, 4, 16])
def test_number_split_equals_spikingjelly(n, T):
    ev = _random_events(n, 64, 48, seed=n)
    ours = to_frames(ev, T, (64, 48))
    assert ours.dtype == np.float32 and ours.shape == (T, 2, 48, 64)
    if n == 0:
        assert not ours.any()
        return
    np.testing.assert_array_equal(ours, sj_frames_by_number(ev, T, (64, 48)))


def test_fewer_events_than_T_land_in_last_bin():
    ev = _random_events(5, 8, 8)
    f = to_frames(ev, 16, (8, 8))
    assert f[:15].sum() == 0 and f[15].sum() == 5


def test_all_one_polarity():
    ev = _random_events(999, 16, 16)
    ev["p"] = 1
    f = to_frames(ev, 4, (16, 16))
    assert f[:, 0].sum() == 0 and f[:, 1].sum() == 999
    np.testing.assert_array_equal(f, sj_frames_by_number(ev, 4, (16, 16)))


def test_time_split_bin_edges_exact():
    # events exactly on bin edges belong to the bin that starts there: [t_l, t_r)
    T, t0, dur = 4, 1000, 400
    ev = make_events([1000, 1099, 1100, 1200, 1300, 1399, 1400], [0] * 7, [0] * 7, [1] * 7)
    f = to_frames(ev, T, (2, 2), split_by="time", t_start=t0, t_end=t0 + dur)
    assert f[:, 1, 0, 0].tolist() == [2, 1, 1, 2]  # t=1400 is outside [1000, 1400)
    np.testing.assert_array_equal(time_bin_edges(t0, t0 + dur, T), [1000, 1100, 1200, 1300, 1400])


def test_time_split_default_window_counts_every_event():
    ev = _random_events(10_000, 32, 32, seed=3)
    f = to_frames(ev, 7, (32, 32), split_by="time")
    assert f.sum() == 10_000
    edges = time_bin_edges(int(ev["t"][0]), int(ev["t"][-1]) + 1, 7)
    bounds = np.searchsorted(ev["t"], edges)
    np.testing.assert_array_equal(f, _naive_frames(ev, 7, 32, 32, bounds))


def test_time_split_empty_input_and_window():
    empty = np.zeros(0, EVENT_DTYPE)
    assert to_frames(empty, 3, (4, 4), split_by="time").sum() == 0
    assert to_frames(empty, 3, (4, 4), split_by="time", t_start=0, t_end=30).sum() == 0
    with pytest.raises(ValueError, match="empty time window"):
        to_frames(_random_events(3, 4, 4), 3, (4, 4), split_by="time", t_start=10, t_end=10)


def test_resize_on_coordinates_preserves_mass_and_maps_exactly():
    ev = _random_events(50_000, 240, 180, seed=1)
    f = to_frames(ev, 4, (240, 180), size=(128, 128))
    assert f.shape == (4, 2, 128, 128) and f.sum() == 50_000
    ev2 = ev.copy()
    ev2["x"] = ev["x"].astype(np.int64) * 128 // 240
    ev2["y"] = ev["y"].astype(np.int64) * 128 // 180
    np.testing.assert_array_equal(f, to_frames(ev2, 4, (128, 128)))


def test_out_of_sensor_events_raise():
    ev = make_events([0, 1], [0, 130], [0, 0], [0, 1])
    with pytest.raises(ValueError, match="outside"):
        to_frames(ev, 2, (128, 128))


def test_accumulate_in_place_and_shape_check():
    ev = _random_events(100, 8, 8)
    out = np.zeros((2, 8, 8), np.int32)
    accumulate(ev, out, (8, 8))
    accumulate(ev, out, (8, 8))
    assert out.sum() == 200
    with pytest.raises(ValueError, match="shape"):
        accumulate(ev, np.zeros((2, 4, 4)), (8, 8))


def test_normalize_and_spec_roundtrip():
    ev = _random_events(5000, 16, 16)
    spec = FramingSpec(T=4, size=(16, 16), sensor_size=(16, 16), normalize="binary")
    f = spec.frames(ev)
    assert set(np.unique(f)) <= {0.0, 1.0}
    assert FramingSpec.from_dict(spec.to_dict()) == spec
    g = FramingSpec(T=4, size=(16, 16), sensor_size=(16, 16), normalize="log1p").frames(ev)
    np.testing.assert_allclose(g, np.log1p(to_frames(ev, 4, (16, 16))))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"T": 0}, "T must be"),
        ({"split_by": "count"}, "split_by"),
        ({"normalize": "zscore"}, "normalize"),
        ({"size": (0, 5)}, "size"),
        ({"channels": 1}, "polarity"),
        ({"window_us": -5}, "window_us"),
    ],
)
def test_spec_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        FramingSpec(**kw)


def test_spec_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown framing spec keys"):
        FramingSpec.from_dict({"T": 4, "bins": 3})


@pytest.mark.parametrize(
    "rel, T",
    [
        ("aedat4/dvSave-2024_06_13_16_16_25.aedat4", 16),
        ("aedat4/dvSave-2024_06_20_16_13_00.aedat4", 10),
        ("aedat2/alex_walking_again.aedat", 16),
        ("atis_bin/faces_easy_0001.bin", 16),
        ("prophesee/NCARS_obj_004397_td.dat", 8),
    ],
)
def test_real_recordings_equal_spikingjelly(rel, T):
    from neuromoco.events import read_recording

    rec = read_recording(shared_file(rel))
    ours = to_frames(rec.events, T, rec.sensor_size)
    np.testing.assert_array_equal(ours, sj_frames_by_number(rec.events, T, rec.sensor_size))
    assert ours.sum() == rec.events.shape[0]


def test_public_events_api_frames_like_framing():
    from neuromoco import events as ev_api

    ev = _random_events(3000, 64, 64, seed=5)
    np.testing.assert_array_equal(
        ev_api.to_frames(ev, 5, (64, 64), split_by="time", size=(32, 32)),
        to_frames(ev, 5, (64, 64), split_by="time", size=(32, 32)),
    )
