"""Gesture variants on events, each against a naive per-event loop; the label mapping."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.event_variants import (
    mirror,
    shift,
    time_reverse,
    time_scale,
    variant_label,
    zoom,
)
from neuromoco.events import make_events

S = (40, 30)


def _ev(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(1000, 900_000, n)),
        rng.integers(0, S[0], n),
        rng.integers(0, S[1], n),
        rng.integers(0, 2, n),
    )


def _rows(ev):
    return [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) for e in ev]


@pytest.mark.parametrize("dx, dy", [(7, 0), (-7, 3), (0, -12)])
def test_shift(dx, dy):
    ev = _ev()
    want = [
        (t, x + dx, y + dy, p)
        for t, x, y, p in _rows(ev)
        if 0 <= x + dx < S[0] and 0 <= y + dy < S[1]
    ]
    assert _rows(shift(ev, dx, dy, S)) == want


def test_zoom_maps_about_the_centre_and_thins():
    ev = _ev(4000)
    out = zoom(ev, 0.5, S, np.random.default_rng(0))
    cx, cy = (S[0] - 1) / 2, (S[1] - 1) / 2
    src = {(t, p): (x, y) for t, x, y, p in _rows(ev)}
    assert abs(out.shape[0] - 2000) < 150  # half the events kept
    for t, x, y, p in _rows(out)[:200]:
        candidates = [(a, b) for (tt, pp), (a, b) in src.items() if tt == t and pp == p]
        assert any(
            x == int(np.floor(cx + (a - cx) * 0.5 + 0.5))
            and y == int(np.floor(cy + (b - cy) * 0.5 + 0.5))
            for a, b in candidates
        )
    assert _rows(zoom(ev, 1.0, S)) == _rows(ev)


def test_time_scale_and_reverse():
    ev = _ev()
    t0 = int(ev["t"][0])
    slow = time_scale(ev, 1.5)
    assert _rows(slow) == [(t0 + int((t - t0) * 1.5), x, y, p) for t, x, y, p in _rows(ev)]
    rev = time_reverse(ev)
    t1 = int(ev["t"][-1])
    assert _rows(rev) == [(t0 + t1 - t, x, y, 1 - p) for t, x, y, p in reversed(_rows(ev))]
    assert np.all(np.diff(rev["t"]) >= 0)
    assert _rows(mirror(ev, S)) == [(t, S[0] - 1 - x, y, p) for t, x, y, p in _rows(ev)]
    with pytest.raises(ValueError):
        time_scale(ev, 0)
    with pytest.raises(ValueError):
        zoom(ev, -1, S)


@pytest.mark.parametrize(
    "name, mirrored, reversed_, want",
    [
        ("right_hand_wave", True, False, "left_hand_wave"),
        ("right_hand_wave", False, True, "right_hand_wave"),
        ("right_arm_clockwise", True, False, "left_arm_counter_clockwise"),
        ("left_arm_counter_clockwise", False, True, "left_arm_clockwise"),
        ("right_arm_counter_clockwise", True, True, "left_arm_counter_clockwise"),
        ("hand_clap", True, True, "hand_clap"),
        ("arm_roll", True, False, "arm_roll"),
    ],
)
def test_variant_label(name, mirrored, reversed_, want):
    assert variant_label(name, mirrored, reversed_) == want
