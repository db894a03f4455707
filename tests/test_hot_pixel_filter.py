"""Hot-pixel filter: a naive per-event loop written from the rule, a made stream with hot pixels
and a moving edge, chunking, healing, bounded memory, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.events import EVENT_DTYPE, make_events
from neuromoco.sensor_noise import background_activity, hot_pixel_events, merge_events
from neuromoco.streaming.hot_pixel_filter import HotPixelFilter


def naive_hot_pixel_filter(ev, w, h, period, min_rate, ratio, hold):
    """The module docstring's rule, one event at a time, with plain loops over the pixels."""
    counts = {}
    streak = {}
    masked = set()
    end = None
    keep = []

    def close():
        rate = {(x, y): counts.get((x, y), 0) * 1e6 / period for x in range(w) for y in range(h)}
        for x in range(w):
            for y in range(h):
                nb = [
                    rate.get((x + dx, y + dy), 0.0)
                    for dx in (-1, 0, 1)
                    for dy in (-1, 0, 1)
                    if dx or dy
                ]
                r = rate[(x, y)]
                hot = r >= min_rate and r >= ratio * (sum(nb) / 8 + 1)
                s = streak.get((x, y), 0)
                s = max(s, 0) + 1 if hot else min(s, 0) - 1
                if s >= hold:
                    masked.add((x, y))
                if s <= -hold:
                    masked.discard((x, y))
                streak[(x, y)] = max(-hold, min(hold, s))
        counts.clear()

    for e in ev:
        t, px = int(e["t"]), (int(e["x"]), int(e["y"]))
        if end is None:
            end = t + period
        while t >= end:
            close()
            end += period
        keep.append(px not in masked)
        counts[px] = counts.get(px, 0) + 1
    return ev[np.array(keep, bool)]


def _scene(seed=0, w=16, h=12, dur=6_000_000, hot=((3, 4), (10, 8))):
    """Background 0.5 Hz/pixel, hot pixels at 200 Hz and an edge sweeping across the sensor
    (a fast pixel for a moment, with its neighbours firing too)."""
    rng = np.random.default_rng(seed)
    bg = background_activity(0, dur, (w, h), 0.5, rng)
    hp = hot_pixel_events(np.array(hot), 0, dur, 200.0, rng)
    t = np.arange(0, dur, 500)
    x = (t // 20_000) % w  # the edge crosses the sensor every 0.32 s
    edge = make_events(t, x, rng.integers(0, h, t.shape[0]), 1)
    return merge_events([bg, hp, edge])


@pytest.mark.parametrize("chunk", [1000, 50_000])
def test_equals_naive_rule(chunk):
    ev = _scene(1, dur=3_000_000)
    kw = dict(period_us=250_000, min_rate_hz=20.0, ratio=10.0, hold_periods=3)
    f = HotPixelFilter((16, 12), **kw)
    got = np.concatenate([f(ev[a : a + chunk]) for a in range(0, ev.shape[0], chunk)])
    want = naive_hot_pixel_filter(ev, 16, 12, 250_000, 20.0, 10.0, 3)
    np.testing.assert_array_equal(got, want)
    assert got.shape[0] < ev.shape[0]


def test_masks_hot_pixels_not_the_moving_edge():
    hot = ((3, 4), (10, 8))
    ev = _scene(2, hot=hot)
    f = HotPixelFilter((16, 12))
    out = np.concatenate([f(ev[a : a + 4096]) for a in range(0, ev.shape[0], 4096)])
    assert sorted(f.masked_pixels) == sorted(hot)
    # after the 4 periods of 0.5 s it takes to be sure, nothing of a hot pixel gets through
    late = out[out["t"] >= 2_500_000]
    for x, y in hot:
        assert not np.any((late["x"] == x) & (late["y"] == y))

    # the edge and the background of every other pixel pass, all of them
    def not_hot(e):
        return ~np.isin(e["y"].astype(int) * 16 + e["x"], [y * 16 + x for x, y in hot])

    np.testing.assert_array_equal(out[not_hot(out)], ev[not_hot(ev)])


def test_a_pixel_that_heals_is_unmasked():
    rng = np.random.default_rng(3)
    hot = hot_pixel_events(np.array([[5, 5]]), 0, 3_000_000, 200.0, rng)
    calm = background_activity(3_000_000, 8_000_000, (12, 12), 1.0, rng)
    f = HotPixelFilter((12, 12))
    f(merge_events([hot, background_activity(0, 3_000_000, (12, 12), 1.0, rng)]))
    assert f.masked_pixels == [(5, 5)]
    f(calm)
    assert f.masked_pixels == []
    late = make_events([8_100_000], [5], [5], [1])
    assert f(late).shape == (1,)  # its events pass again


def test_silent_stretches_and_bounded_state():
    f = HotPixelFilter((128, 128))
    sizes = {a.nbytes for a in (f._counts, f._streak, f.mask)}
    hot = hot_pixel_events(np.array([[7, 9]]), 0, 3_000_000, 300.0, np.random.default_rng(0))
    f(hot)
    assert f.masked_pixels == [(7, 9)]
    # an hour of silence, then one event: the whole gap is one step, and the pixel healed
    f(make_events([3_600_000_000], [7], [9], [0]))
    assert f.masked_pixels == []
    assert {a.nbytes for a in (f._counts, f._streak, f.mask)} == sizes
    assert f(np.zeros(0, EVENT_DTYPE)).shape == (0,)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"period_us": 0}, "period_us"),
        ({"min_rate_hz": 0}, "min_rate_hz"),
        ({"ratio": 1.0}, "ratio"),
        ({"hold_periods": 0}, "hold_periods"),
    ],
)
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        HotPixelFilter((8, 8), **kw)
