"""Streaming windower: bit-for-bit equal to offline ``to_frames`` on real and random streams."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.events import EVENT_DTYPE, make_events
from neuromoco.framing import FramingSpec, to_frames
from neuromoco.streaming.windower import Windower
from tests.conftest import shared_file
from tests.helpers_formats import random_events

DVS = [
    "aedat4/dvSave-2024_06_13_16_16_25.aedat4",
    "aedat4/dvSave-2024_06_20_16_13_00.aedat4",
]


def _read_aedat4(rel: str) -> np.ndarray:
    import aedat

    parts = [p["events"] for p in aedat.Decoder(str(shared_file(rel))) if "events" in p]
    raw = np.concatenate(parts)
    ev = make_events(raw["t"].astype(np.int64), raw["x"], raw["y"], raw["on"].astype(np.uint8))
    order = np.argsort(ev["t"], kind="stable")
    return ev[order]


def _random_stream(n, dur_us, w=64, h=48, seed=0, t0=1_000_000):
    return random_events(n, (w, h), t0, t0 + dur_us, seed)


def _chunks(ev, rng, max_chunk=5000):
    i = 0
    while i < ev.shape[0]:
        n = int(rng.integers(1, max_chunk))
        yield ev[i : i + n]
        i += n


def _run(win: Windower, ev, seed=0, max_chunk=5000):
    rng = np.random.default_rng(seed)
    out = []
    for c in _chunks(ev, rng, max_chunk):
        out += win.push(c)
    out += win.flush(int(ev["t"][-1]) + 1)
    return out


def _reference(ev, tick, T, sensor, size, split_by, window_us, window_events, normalize):
    t = ev["t"]
    if window_us is not None:
        sel = ev[np.searchsorted(t, tick - window_us) : np.searchsorted(t, tick)]
        return to_frames(
            sel,
            T,
            sensor,
            split_by,
            size,
            t_start=tick - window_us,
            t_end=tick,
            normalize=normalize,
        )
    before = ev[: np.searchsorted(t, tick)]
    return to_frames(before[-window_events:], T, sensor, split_by, size, normalize=normalize)


CASES = [
    # split, T, window_us, window_events, hop_us, size, normalize, expected strategy
    ("time", 16, 480_000, None, 30_000, None, "none", True),  # bin 30 ms == hop
    ("time", 16, 480_000, None, 90_000, (32, 32), "none", True),  # hop = 3 bins, resize
    ("time", 8, 400_000, None, 33_000, (48, 40), "none", False),  # bin 50 ms ∤ hop → buffer
    ("time", 10, 333_333, None, 50_000, None, "log1p", False),  # window % T ≠ 0 → buffer
    ("time", 4, 100_000, None, 250_000, None, "binary", True),  # hop > window (gaps between)
    ("number", 16, 500_000, None, 33_000, (32, 32), "none", False),
    ("number", 16, None, 5000, 20_000, None, "none", False),
    ("time", 5, None, 3000, 40_000, (64, 64), "none", False),
]


@pytest.mark.needs_shared
@pytest.mark.parametrize("rel", DVS)
@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[0]}-T{c[1]}-{c[2] or c[3]}-{c[4]}" for c in CASES]
)
def test_windower_equals_to_frames_on_real_recordings(rel, case):
    split, T, wus, wev, hop, size, norm, ring = case
    ev = _read_aedat4(rel)
    win = Windower(T, (128, 128), size, split, wus, wev, hop, norm)
    assert win.ring is ring
    got = _run(win, ev, seed=T)
    assert len(got) > 5
    for w in got:
        ref = _reference(ev, w.t_us, T, (128, 128), size, split, wus, wev, norm)
        np.testing.assert_array_equal(w.frames, ref, err_msg=f"tick {w.t_us}")
        if norm == "none":
            assert w.n_events == int(ref.sum())
    # ticks form the hop grid from the first full window on
    ticks = np.array([w.t_us for w in got])
    assert np.all(np.diff(ticks) == hop)
    assert all(w.full for w in got)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 100_000])
def test_chunking_does_not_change_windows(chunk):
    ev = _random_stream(30_000, 2_000_000, seed=chunk)
    ref = None
    for max_chunk in (chunk + 1, 100_001):
        win = Windower(8, (64, 48), None, "time", 240_000, None, 60_000)
        got = _run(win, ev, seed=1, max_chunk=max_chunk)
        frames = np.stack([w.frames for w in got])
        if ref is None:
            ref = frames
        else:
            np.testing.assert_array_equal(frames, ref)


def test_explicit_watermarks_and_empty_windows():
    # two bursts 3 s apart: windows inside the gap are all-zero, and watermarks let ticks fire
    # without new events (a silent scene still produces predictions)
    a = _random_stream(2000, 200_000, seed=1, t0=0)
    b = _random_stream(2000, 200_000, seed=2, t0=3_000_000)
    win = Windower(4, (64, 48), None, "time", 200_000, None, 50_000, origin_us=0)
    got = win.push(a, watermark_us=200_000)
    for wm in range(250_000, 3_000_001, 250_000):
        got += win.push(np.empty(0, EVENT_DTYPE), watermark_us=wm)
    got += win.push(b, watermark_us=3_200_000)
    ev = np.concatenate([a, b])
    assert [w.t_us for w in got] == list(range(200_000, 3_200_001, 50_000))
    empties = 0
    for w in got:
        ref = _reference(ev, w.t_us, 4, (64, 48), None, "time", 200_000, None, "none")
        np.testing.assert_array_equal(w.frames, ref)
        empties += w.n_events == 0
    assert empties > 40


def test_bin_emission_is_the_newest_bin():
    ev = _random_stream(20_000, 1_000_000, seed=3)
    wa = Windower(8, (64, 48), (32, 24), "time", 160_000, None, 20_000)
    wb = Windower(8, (64, 48), (32, 24), "time", 160_000, None, 20_000, mode="stream")
    ga, gb = _run(wa, ev), _run(wb, ev)
    assert [w.t_us for w in ga] == [w.t_us for w in gb]
    for a, b in zip(ga, gb, strict=True):
        assert b.frames.shape == (1, 2, 24, 32)
        np.testing.assert_array_equal(a.frames[-1:], b.frames)
    with pytest.raises(ValueError, match="mode='stream'"):
        Windower(8, (64, 48), None, "time", 160_000, None, 40_000, mode="stream")


def test_partial_windows_and_from_spec():
    spec = FramingSpec(T=4, split_by="time", size=(32, 24), sensor_size=(64, 48), window_us=100_000)
    ev = _random_stream(5000, 500_000, seed=4, t0=0)
    win = Windower.from_spec(spec, (64, 48), hop_us=25_000, partial=True, origin_us=0)
    got = _run(win, ev)
    assert got[0].t_us == 25_000 and not got[0].full and got[3].full
    for w in got:
        ref = spec.frames(ev[ev["t"] < w.t_us], (64, 48), w.t_us - 100_000, w.t_us)
        np.testing.assert_array_equal(w.frames, ref)


def test_late_events_are_counted_not_integrated():
    win = Windower(4, (64, 48), None, "time", 100_000, None, 25_000, origin_us=0)
    ev = _random_stream(1000, 200_000, seed=5, t0=0)
    win.push(ev, watermark_us=200_000)
    late = make_events([10_000, 210_000], [1, 1], [1, 1], [1, 1])
    win.push(late, watermark_us=200_000)
    assert win.late == 1


def test_memory_is_bounded_on_a_long_stream():
    rng = np.random.default_rng(0)
    sizes = {}
    for label, kw in {
        "ring": dict(split_by="time", window_us=200_000, hop_us=25_000),
        "buffer": dict(split_by="number", window_us=200_000, hop_us=30_000),
        "count": dict(split_by="number", window_us=None, window_events=4000, hop_us=30_000),
    }.items():
        win = Windower(8, (64, 48), **kw)
        peak = []
        t0 = 0
        for _ in range(300):  # 30 s at 100 k ev/s, in 100 ms chunks
            n = 10_000
            c = make_events(
                t0 + np.sort(rng.integers(0, 100_000, n)),
                rng.integers(0, 64, n),
                rng.integers(0, 48, n),
                rng.integers(0, 2, n),
            )
            t0 += 100_000
            win.push(c, watermark_us=t0)
            peak.append(win.nbytes)
        sizes[label] = max(peak[50:])
        # no growth with stream length: the last third holds no more than the first
        assert max(peak[200:]) <= max(peak[50:100]) * 1.05, label
    # the ring holds T frames + the in-flight chunk; buffers hold one window of events
    assert sizes["ring"] <= 8 * 2 * 48 * 64 * 4 + 10_000 * EVENT_DTYPE.itemsize
    assert sizes["buffer"] <= 40_000 * EVENT_DTYPE.itemsize


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(window_us=None, window_events=None), "window_us"),
        (dict(window_us=-5), "positive"),
        (dict(hop_us=0), "hop_us"),
        (dict(split_by="space"), "split_by"),
    ],
)
def test_bad_arguments(kw, msg):
    args = dict(T=4, sensor_size=(64, 48), window_us=100_000, hop_us=25_000)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        Windower(**args)


# --- the bundled DVS128 Gesture model's framing: 10 ms neighbour denoise, 128→32, 150 × 40 ms
GESTURE_SPEC = FramingSpec(
    T=150,
    split_by="time",
    size=(32, 32),
    sensor_size=(128, 128),
    window_us=6_000_000,
    denoise_us=10_000,
)


def _read_gesture_csv(rel: str, seed: int = 0) -> np.ndarray:
    """A dvsgesture_csv clip (``timestamp,x,y``, µs, no polarity: a seeded random one)."""
    d = np.loadtxt(shared_file(rel), delimiter=",", skiprows=1, dtype=np.int64)
    p = np.random.default_rng(seed).integers(0, 2, d.shape[0])
    return make_events(d[:, 0], d[:, 1], d[:, 2], p)


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    "rel", ["dvsgesture_csv/class2_user02_led.csv", "aedat4/dvSave-2024_06_20_16_13_00.aedat4"]
)
@pytest.mark.parametrize(
    "mode, hop, ring",
    [("stream", 40_000, True), ("window", 200_000, True), ("window", 330_000, False)],
    ids=["stream-bins", "window-ring", "window-buffer"],
)
def test_denoised_spec_streaming_equals_offline(rel, mode, hop, ring):
    """Offline = the recording denoised from its first event on, then binned (the spec's
    definition); the windower sees it in random chunks and must emit exactly those frames."""
    from neuromoco.denoise import denoise

    ev = _read_gesture_csv(rel) if rel.endswith(".csv") else _read_aedat4(rel)
    spec = GESTURE_SPEC
    win = Windower.from_spec(spec, (128, 128), hop_us=hop, mode=mode, partial=True)
    assert win.ring is ring and win.denoise_us == 10_000
    got = _run(win, ev, seed=7, max_chunk=3000)
    assert len(got) > 15
    clean, _ = denoise(ev, spec.denoise_us, (128, 128))
    assert 0 < win.n_denoised == ev.shape[0] - clean.shape[0]
    T, span = (1, 40_000) if mode == "stream" else (spec.T, spec.window_us)
    t = clean["t"]
    for i, w in enumerate(got):
        sel = clean[np.searchsorted(t, w.t_us - span) : np.searchsorted(t, w.t_us)]
        ref = to_frames(sel, T, (128, 128), "time", (32, 32), w.t_us - span, w.t_us)
        np.testing.assert_array_equal(w.frames, ref, err_msg=f"tick {w.t_us}")
        assert w.n_events == int(ref.sum())
        if i % 20 == 0:  # the definition itself: denoise of every event up to the tick
            prefix = ev[: np.searchsorted(ev["t"], w.t_us)]
            ref2 = to_frames(
                prefix, T, (128, 128), "time", (32, 32), w.t_us - span, w.t_us, denoise_us=10_000
            )
            np.testing.assert_array_equal(w.frames, ref2)
    if mode == "stream":  # stream mode sees every bin of the recording once (up to the last tick)
        assert sum(w.n_events for w in got) == int(np.searchsorted(t, got[-1].t_us))
