"""Neighbour denoise (tonic's ``Denoise``) against a naive loop written from tonic's definition,
against tonic itself when installed, and across chunk boundaries; the FramingSpec field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuromoco.denoise import DenoiseState, denoise
from neuromoco.events import make_events
from neuromoco.framing import FramingSpec, to_frames
from tests.conftest import shared_file


def naive_denoise(events, filter_time, width, height, tonic_init=False):
    """tonic 1.7.0 ``denoise_numpy`` rewritten as a plain loop: memory per pixel = last t +
    filter_time; keep iff a 4-neighbour's memory > t. ``tonic_init``: tonic's initial memory of
    ``filter_time`` everywhere (else: pixels that never fired give no support)."""
    memory = np.full((width, height), filter_time if tonic_init else -np.inf)
    keep = []
    for i, e in enumerate(events):
        x, y, t = int(e["x"]), int(e["y"]), int(e["t"])
        memory[x, y] = t + filter_time
        if (
            (x > 0 and memory[x - 1, y] > t)
            or (x < width - 1 and memory[x + 1, y] > t)
            or (y > 0 and memory[x, y - 1] > t)
            or (y < height - 1 and memory[x, y + 1] > t)
        ):
            keep.append(i)
    return events[np.array(keep, dtype=np.int64)]


def _random_events(seed, n=4000, w=9, h=7, dur=60_000, t0=0):
    rng = np.random.default_rng(seed)
    # few pixels and coarse timestamps: many neighbours, many equal timestamps, both outcomes
    t = t0 + np.sort(rng.integers(0, dur, n)) // 50 * 50
    return make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def _clip(rel="dvsgesture_csv/class3_user02_led.csv", seed=0):
    d = np.loadtxt(shared_file(rel), delimiter=",", skiprows=1, dtype=np.int64)
    p = np.random.default_rng(seed).integers(0, 2, d.shape[0])
    return make_events(d[:, 0], d[:, 1], d[:, 2], p)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("filter_us", [50, 1000, 10_000])
def test_equals_naive_loop(seed, filter_us):
    ev = _random_events(seed)
    got, _ = denoise(ev, filter_us, (9, 7))
    want = naive_denoise(ev, filter_us, 9, 7)
    np.testing.assert_array_equal(got, want)
    assert 0 < got.shape[0] < ev.shape[0] or filter_us == 10_000


def test_equal_timestamps_follow_stream_order():
    # two neighbours at the same µs: the second is supported by the first, not the reverse
    ev = make_events([100, 100], [3, 4], [2, 2], [1, 0])
    got, _ = denoise(ev, 10, (8, 8))
    assert got.shape[0] == 1 and int(got["x"][0]) == 4
    # exactly filter_us apart is too old (strict <); diagonal neighbours do not count
    ev = make_events([0, 10, 10, 19], [3, 4, 5, 6], [2, 2, 3, 3], [1, 1, 1, 1])
    got, _ = denoise(ev, 10, (8, 8))
    assert got["t"].tolist() == [19]  # (6,3) supported by (5,3) at t=10 (9 µs earlier)


@pytest.mark.parametrize("seed", range(3))
def test_state_carries_across_chunks(seed):
    ev = _random_events(seed, n=6000)
    whole, _ = denoise(ev, 1000, (9, 7))
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, ev.shape[0]), 40, replace=False))
    state = None
    parts = []
    for c in np.split(ev, cuts):
        kept, state = denoise(c, 1000, (9, 7), state)
        parts.append(kept)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.needs_shared
def test_real_clip_equals_naive_loop_and_tonic_definition():
    ev = _clip()
    got, _ = denoise(ev, 10_000, (128, 128))
    want = naive_denoise(ev, 10_000, 128, 128)
    np.testing.assert_array_equal(got, want)
    assert 0.5 * ev.shape[0] < got.shape[0] < ev.shape[0]
    # the recording's timestamps are ≥ filter_time: tonic's initial-memory quirk is moot
    assert int(ev["t"][0]) >= 10_000
    np.testing.assert_array_equal(
        got, naive_denoise(ev, 10_000, int(ev["x"].max()) + 1, int(ev["y"].max()) + 1, True)
    )


@pytest.mark.needs_shared
def test_real_clip_equals_tonic():
    tonic_denoise = pytest.importorskip(
        "tonic.functional.denoise", reason="tonic (bench extra) not installed"
    )
    ev = _clip()
    got, _ = denoise(ev, 10_000, (128, 128))
    np.testing.assert_array_equal(got, tonic_denoise.denoise_numpy(ev, filter_time=10_000))


def test_bad_input():
    ev = make_events([1, 2], [0, 8], [0, 0], [0, 1])
    with pytest.raises(ValueError, match="outside the 8x8 sensor"):
        denoise(ev, 10, (8, 8))
    with pytest.raises(ValueError, match="filter_us must be a positive"):
        denoise(ev, 0, (9, 9))
    with pytest.raises(ValueError, match="state is for a"):
        denoise(ev, 10, (9, 9), DenoiseState.empty((16, 16)))
    empty, state = denoise(ev[:0], 10, (9, 9))
    assert empty.shape == (0,) and state.sensor_size == (9, 9)


def test_framing_spec_field():
    spec = FramingSpec(T=4, split_by="time", size=(4, 4), sensor_size=(9, 7), denoise_us=1000)
    d = spec.to_dict()
    assert d["denoise_us"] == 1000 and FramingSpec.from_dict(d) == spec
    old = {k: v for k, v in d.items() if k != "denoise_us"}  # a spec saved before the field
    assert FramingSpec.from_dict(old).denoise_us is None
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="denoise_us"):
            FramingSpec(denoise_us=bad)
    ev = _random_events(1)
    kept, _ = denoise(ev, 1000, (9, 7))
    want = to_frames(kept, 4, (9, 7), "time", (4, 4))
    np.testing.assert_array_equal(spec.frames(ev), want)
    np.testing.assert_array_equal(to_frames(ev, 4, (9, 7), "time", (4, 4), denoise_us=1000), want)
    assert spec.frames(ev).sum() < to_frames(ev, 4, (9, 7), "time", (4, 4)).sum()


@pytest.mark.parametrize("chunk", [1, 37, 4000])
def test_denoiser_is_the_chunked_rule(chunk):
    """The streaming engine's neighbour filter (Denoiser) is the framing's rule, chunk by chunk:
    equal to the naive loop over the whole stream whatever the chunking."""
    from neuromoco.denoise import Denoiser

    ev = _random_events(chunk)
    f = Denoiser((9, 7), 1000)
    got = np.concatenate([f(ev[a : a + chunk]) for a in range(0, ev.shape[0], chunk)])
    want = naive_denoise(ev, 1000, 9, 7)
    np.testing.assert_array_equal(got, want)
    assert f.n_in == ev.shape[0] and f.n_out == want.shape[0]
    f.reset()  # forgets history: the first event again has no support
    assert f(ev[:1]).shape == (0,)


def test_denoiser_bad_argument():
    from neuromoco.denoise import Denoiser

    with pytest.raises(ValueError, match="filter_us"):
        Denoiser((10, 10), 0)


def test_engine_and_framing_share_the_filter():
    """One neighbour filter: the engine's noise filter and the framing's denoise are the same
    function (no second implementation to drift)."""
    import neuromoco.streaming.engine as engine
    import neuromoco.streaming.windower as windower
    from neuromoco import denoise as d

    assert engine.Denoiser is d.Denoiser
    assert windower.Denoiser is d.Denoiser
    assert not (Path(d.__file__).parents[1] / "streaming" / "noise_filter.py").exists()
