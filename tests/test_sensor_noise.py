"""Generated sensor noise: rates, layout, seeding, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.events import make_events
from neuromoco.sensor_noise import (
    add_room_noise,
    background_activity,
    choose_hot_pixels,
    hot_pixel_events,
    merge_events,
)


def test_background_rate_and_uniformity():
    rng = np.random.default_rng(0)
    ev = background_activity(1_000_000, 11_000_000, (64, 48), 0.5, rng)
    # Poisson mean 0.5 Hz × 3072 pixels × 10 s = 15,360, sd ≈ 124
    assert abs(ev.shape[0] - 15_360) < 600
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].min() >= 1_000_000 and ev["t"].max() < 11_000_000
    assert ev["x"].max() < 64 and ev["y"].max() < 48
    per_pixel = np.bincount(ev["y"].astype(int) * 64 + ev["x"], minlength=64 * 48)
    assert per_pixel.mean() == pytest.approx(5.0, rel=0.05)
    assert per_pixel.var() == pytest.approx(5.0, rel=0.15)  # Poisson: variance = mean
    assert 0.45 < ev["p"].mean() < 0.55


def test_hot_pixels():
    rng = np.random.default_rng(1)
    px = choose_hot_pixels(5, (128, 128), rng)
    assert px.shape == (5, 2) and len({tuple(p) for p in px}) == 5
    for i in range(5):
        for j in range(i + 1, 5):
            assert max(abs(px[i] - px[j])) > 1  # never neighbours
    ev = hot_pixel_events(px, 0, 2_000_000, 200.0, rng)
    for x, y in px:
        sel = (ev["x"] == x) & (ev["y"] == y)
        assert abs(np.count_nonzero(sel) - 400) < 80
        assert len(set(ev["p"][sel].tolist())) == 1  # one polarity per hot pixel
    assert np.all(np.diff(ev["t"]) >= 0)


def test_room_noise_is_seeded_and_keeps_the_events():
    ev = make_events([10, 20, 30], [1, 2, 3], [4, 5, 6], [1, 0, 1])
    a = add_room_noise(ev, (32, 32), 0, 1_000_000, np.random.default_rng(7))
    b = add_room_noise(ev, (32, 32), 0, 1_000_000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a["t"]) >= 0)
    for e in ev:
        assert np.any((a["t"] == e["t"]) & (a["x"] == e["x"]) & (a["y"] == e["y"]))
    assert merge_events([]).shape == (0,)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: background_activity(10, 0, (8, 8), 1.0, r),
        lambda r: background_activity(0, 10, (8, 8), -1.0, r),
        lambda r: background_activity(0, 10, (0, 8), 1.0, r),
        lambda r: choose_hot_pixels(50, (6, 6), r),
        lambda r: hot_pixel_events(np.array([[1, 1]]), 0, 10, -5.0, r),
    ],
)
def test_bad_arguments(call):
    with pytest.raises(ValueError, match="sensor noise"):
        call(np.random.default_rng(0))
