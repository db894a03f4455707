"""Frame → event emulator: analytic inputs, a naive per-pixel reference, noise, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuromoco.emulator import EmulatorConfig, EventEmulator, emulate, log_intensity
from neuromoco.events import EVENT_DTYPE

EPS = 1e-3
EXACT = EmulatorConfig(threshold_sigma=0.0)  # no mismatch: every pixel's threshold is exactly 0.2


def lin(logv: float) -> float:
    """Linear intensity whose log(I + eps) is ``logv``."""
    return math.exp(logv) - EPS


def frame(h, w, logv=math.log(0.3)):
    return np.full((h, w), lin(logv), np.float64)


def test_step_up_gives_on_events_at_interpolated_times():
    base = math.log(0.3)
    emu = EventEmulator(EXACT)
    f0 = frame(3, 4, base)
    assert emu.process(f0, 1000).size == 0  # first frame: references only
    f1 = f0.copy()
    f1[1, 2] = lin(base + 0.5)  # +0.5 log units: 2 crossings of 0.2
    ev = emu.process(f1, 2000)
    assert ev.dtype == EVENT_DTYPE
    assert ev.tolist() == [(1400, 2, 1, 1), (1800, 2, 1, 1)]  # crossings at 0.2/0.5 and 0.4/0.5


def test_step_down_gives_off_events_and_reference_memory():
    base = math.log(0.3)
    emu = EventEmulator(EXACT)
    f = frame(2, 2, base)
    emu.process(f, 0)
    g = f.copy()
    g[0, 1] = lin(base - 0.65)  # floor(0.65 / 0.2) = 3 OFF events
    ev = emu.process(g, 100)
    assert ev["p"].tolist() == [0, 0, 0]
    assert set(zip(ev["x"].tolist(), ev["y"].tolist(), strict=True)) == {(1, 0)}
    assert np.all((ev["t"] > 0) & (ev["t"] <= 100))
    # back up to base: reference is at base − 0.6, so +0.65 gives 3 ON events
    ev = emu.process(f, 200)
    assert ev["p"].tolist() == [1, 1, 1]


def test_sub_threshold_changes_accumulate_against_the_reference():
    base = math.log(0.3)
    emu = EventEmulator(EXACT)
    f = frame(1, 1, base)
    emu.process(f, 0)
    assert emu.process(frame(1, 1, base + 0.15), 10).size == 0
    assert emu.process(frame(1, 1, base + 0.19), 20).size == 0
    ev = emu.process(frame(1, 1, base + 0.25), 30)  # crosses +0.2 at 1/6 of the interval
    assert ev.tolist() == [(20 + round(10 * (0.2 - 0.19) / 0.06), 0, 0, 1)]


def test_separate_on_off_thresholds():
    base = math.log(0.3)
    emu = EventEmulator(EmulatorConfig(threshold_on=0.1, threshold_off=0.5, threshold_sigma=0.0))
    emu.process(frame(1, 2, base), 0)
    f = frame(1, 2, base)
    f[0, 0] = lin(base + 0.45)  # 4 ON
    f[0, 1] = lin(base - 0.45)  # 0 OFF (threshold 0.5)
    ev = emu.process(f, 1000)
    assert ev["p"].tolist() == [1, 1, 1, 1] and set(ev["x"].tolist()) == {0}


def test_refractory_drops_crossings_within_the_dead_time():
    base = math.log(0.3)
    emu = EventEmulator(EmulatorConfig(threshold_sigma=0.0, refractory_us=300))
    emu.process(frame(1, 1, base), 0)
    ev = emu.process(frame(1, 1, base + 1.0), 1000)  # crossings at 200, 400, 600, 800, 1000
    assert ev["t"].tolist() == [200, 600, 1000]
    # the reference still moved by all 5 crossings: going back down gives 5 OFF crossings,
    # at 1200..2000; 1200 is within 300 µs of the last event (1000) and is dropped
    ev = emu.process(frame(1, 1, base), 2000)
    assert ev["t"].tolist() == [1400, 1800]
    assert ev["p"].tolist() == [0, 0]


def naive_emulate(emu: EventEmulator, logs: np.ndarray, times: np.ndarray) -> list[tuple]:
    """Per-pixel Python loop of the documented model (no noise, no leak), using emu's thresholds."""
    thr_on = emu._thr_on.astype(np.float64)
    thr_off = emu._thr_off.astype(np.float64)
    R = emu.config.refractory_us
    h, w = logs.shape[1:]
    ref = logs[0].astype(np.float64).copy()
    last = np.full((h, w), -(10**15), np.int64)
    out = []
    for k in range(1, len(logs)):
        t0, t1 = int(times[k - 1]), int(times[k])
        for y in range(h):
            for x in range(w):
                lp, ln = float(logs[k - 1, y, x]), float(logs[k, y, x])
                d = ln - ref[y, x]
                if d >= thr_on[y, x]:
                    th, sgn, p = thr_on[y, x], 1, 1
                elif d <= -thr_off[y, x]:
                    th, sgn, p = thr_off[y, x], -1, 0
                else:
                    continue
                n = int(math.floor(abs(d) / th))
                for j in range(1, n + 1):
                    level = ref[y, x] + sgn * j * th
                    frac = (level - lp) / (ln - lp) if abs(ln - lp) > 1e-12 else 1.0
                    t = t0 + min(max(round(min(max(frac, 0.0), 1.0) * (t1 - t0)), 1), t1 - t0)
                    if t - last[y, x] >= R:
                        out.append((t, x, y, p))
                        last[y, x] = t
                ref[y, x] += sgn * n * th
    return sorted(out)


@pytest.mark.parametrize("refractory", [0, 150])
@pytest.mark.parametrize("shape", [(5, 7), (8, 3)])
def test_matches_naive_per_pixel_loop(refractory, shape):
    rng = np.random.default_rng(3)
    k = 12
    # smooth random log-intensity walks with occasional large jumps (multi-crossings)
    steps = rng.normal(0, 0.12, (k, *shape)) + (rng.random((k, *shape)) < 0.1) * rng.normal(
        0, 0.8, (k, *shape)
    )
    logs = (math.log(0.3) + np.cumsum(steps, axis=0)).astype(np.float32)
    times = np.cumsum(rng.integers(200, 2000, k))
    emu = EventEmulator(EmulatorConfig(threshold_sigma=0.03, refractory_us=refractory), seed=5)
    ev = emu.process_many(logs, times, log=True)
    got = sorted(ev.tolist())
    want = naive_emulate(emu, logs, times)
    assert len(got) == len(want) > 20
    g = np.array(got)
    wnt = np.array(want)
    assert np.array_equal(g[:, 1:], wnt[:, 1:])
    # timestamps equal up to float32-vs-float64 rounding of the interpolation (≤ 1 µs)
    assert np.abs(g[:, 0] - wnt[:, 0]).max() <= 1


def test_events_sorted_and_within_each_frame_interval():
    rng = np.random.default_rng(0)
    frames = rng.random((20, 16, 16)).astype(np.float32)
    times = np.arange(20) * 1000 + 500
    emu = EventEmulator(EmulatorConfig(shot_noise_hz=50.0), seed=1)
    prev_t = times[0]
    for f, t in zip(frames, times, strict=True):
        ev = emu.process(f, t)
        if ev.size:
            assert np.all(np.diff(ev["t"]) >= 0)
            assert ev["t"].min() > prev_t - (1 if prev_t == times[0] else 0) and ev["t"].max() <= t
            assert ev["x"].max() < 16 and ev["y"].max() < 16
        prev_t = t


def test_process_many_equals_process_and_uint8_equals_float():
    rng = np.random.default_rng(1)
    frames8 = rng.integers(0, 256, (10, 12, 9), dtype=np.uint8)
    times = np.arange(10) * 700
    cfg = EmulatorConfig(shot_noise_hz=20.0, leak_hz=1.0, refractory_us=50)
    a = EventEmulator(cfg, seed=9).process_many(frames8, times)
    e = EventEmulator(cfg, seed=9)
    b = np.concatenate([e.process(f, t) for f, t in zip(frames8, times, strict=True)])
    c = emulate(frames8.astype(np.float32) / 255, times, cfg, seed=9)
    assert a.size > 100
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_seeded_noise_is_deterministic_and_at_the_configured_rate():
    cfg = EmulatorConfig(shot_noise_hz=5.0)
    still = np.full((50, 32, 32), 0.4, np.float32)
    times = np.arange(50) * 20_000  # 0.98 s
    a = emulate(still, times, cfg, seed=1)
    b = emulate(still, times, cfg, seed=1)
    c = emulate(still, times, cfg, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    expect = 5.0 * 32 * 32 * 0.98
    assert abs(a.size - expect) < 5 * math.sqrt(expect)
    assert 0.45 < a["p"].mean() < 0.55
    assert np.all(np.diff(a["t"]) >= 0) and a["t"].min() > 0 and a["t"].max() <= times[-1]


def test_leak_events_are_on_at_the_configured_rate():
    cfg = EmulatorConfig(leak_hz=2.0, threshold_sigma=0.0)
    still = np.full((101, 16, 16), 0.4, np.float32)
    times = np.arange(101) * 50_000  # 5 s
    ev = emulate(still, times, cfg, seed=0)
    assert np.all(ev["p"] == 1)
    assert abs(ev.size - 2.0 * 256 * 5) <= 256  # each pixel: 10 events ± 1 (random phase)
    counts = np.bincount(ev["y"].astype(int) * 16 + ev["x"], minlength=256)
    assert counts.min() >= 9 and counts.max() <= 11


def test_threshold_mismatch_varies_per_pixel_and_is_seeded():
    base = math.log(0.3)
    cfg = EmulatorConfig(threshold_sigma=0.02)
    counts = []
    for seed in (0, 0, 1):
        emu = EventEmulator(cfg, seed=seed)
        emu.process(frame(32, 32, base), 0)
        ev = emu.process(
            frame(32, 32, base + 0.39), 1000
        )  # 1 or 2 crossings depending on the pixel
        counts.append(np.bincount(ev["y"].astype(int) * 32 + ev["x"], minlength=1024))
    assert np.array_equal(counts[0], counts[1]) and not np.array_equal(counts[0], counts[2])
    assert set(np.unique(counts[0]).tolist()) == {1, 2} and len(np.unique(counts[0])) >= 2


def test_max_crossings_caps_a_flash():
    emu = EventEmulator(EmulatorConfig(threshold_sigma=0.0, max_crossings=3))
    emu.process(np.full((2, 2), 0.001, np.float32), 0)
    ev = emu.process(np.full((2, 2), 1.0, np.float32), 100)  # +6.2 log units = 31 crossings
    assert ev.size == 4 * 3


@pytest.mark.parametrize(
    "kw",
    [
        {"threshold_on": 0.0},
        {"threshold_off": -0.1},
        {"threshold_sigma": -1.0},
        {"refractory_us": -5},
        {"refractory_us": 1.5},
        {"shot_noise_hz": float("nan")},
        {"log_eps": 0.0},
        {"max_crossings": 0},
    ],
)
def test_bad_config(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        EmulatorConfig(**kw)


def test_bad_frames():
    emu = EventEmulator()
    with pytest.raises(ValueError, match="2-D"):
        emu.process(np.zeros((2, 3, 4), np.float32), 0)
    with pytest.raises(ValueError, match="non-negative"):
        emu.process(-np.ones((4, 4), np.float32), 0)
    with pytest.raises(ValueError, match="NaN"):
        emu.process(np.full((4, 4), np.nan, np.float32), 0)
    with pytest.raises(ValueError, match="dtype"):
        emu.process(np.zeros((4, 4), np.int32), 0)
    emu.process(np.zeros((4, 4), np.float32), 10)
    with pytest.raises(ValueError, match="increase strictly"):
        emu.process(np.zeros((4, 4), np.float32), 10)
    with pytest.raises(ValueError, match="differs"):
        emu.process(np.zeros((4, 5), np.float32), 20)
    with pytest.raises(ValueError, match="sensor size"):
        EventEmulator(sensor_size=(5, 4)).process(np.zeros((5, 4), np.float32), 0)
    with pytest.raises(ValueError, match="timestamps"):
        EventEmulator().process_many(np.zeros((3, 4, 4), np.float32), [0, 1])
    emu.reset()
    assert emu.t_us is None and emu.process(np.zeros((6, 6), np.float32), 0).size == 0


def test_log_intensity_scales_uint8():
    a = log_intensity(np.array([[0, 255]], np.uint8), 1e-3)
    assert a.dtype == np.float32 and np.allclose(a, np.log([[1e-3, 1.001]]), atol=1e-5)
