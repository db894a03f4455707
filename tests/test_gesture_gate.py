"""The no-gesture state: the gate's hysteresis, the activity meter against a naive count, the
gate on a generated pause and on real recordings (a quiet stretch, a sparse gesture), and the
stream-mode reset at a pause."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.events import make_events, read_events
from neuromoco.sensor_noise import background_activity
from neuromoco.streaming.activity_meter import ActivityMeter
from neuromoco.streaming.gesture_gate import GateConfig, GestureGate
from tests.conftest import shared_file

C = 4
ON, OFF = GateConfig().on_hz, GateConfig().off_hz


def _p(k, conf=0.7):
    p = np.full(C, (1 - conf) / (C - 1), np.float32)
    p[k] = conf
    return p


def test_confirm_then_hold_then_switch():
    g = GestureGate(GateConfig(confirm_us=200_000, switch_us=300_000))
    a = 5 * ON
    assert g.update(0, a, _p(1)) is None  # one prediction is not enough
    assert g.update(100_000, a, _p(1)) is None
    assert g.update(200_000, a, _p(1)) == 1  # top for 200 ms: shown
    assert g.update(300_000, a, _p(2)) == 1  # a stray other class leaves it in place
    assert g.update(400_000, a, _p(1)) == 1
    for t in (500_000, 600_000, 700_000):
        assert g.update(t, a, _p(3)) == 1  # 3 wins, but not yet for 300 ms
    assert g.update(800_000, a, _p(3)) == 3
    # no evidence (all equal: a spiking output that did not spike) changes nothing
    assert g.update(900_000, a, np.full(C, 1 / C)) == 3


def test_activity_hysteresis_and_idle():
    g = GestureGate(GateConfig(idle_after_us=300_000, confirm_us=0))
    assert g.update(0, OFF - 1, _p(0)) is None and not g.active  # never active yet
    assert g.update(100_000, (ON + OFF) / 2, _p(0)) is None  # between: not enough to start
    assert g.update(200_000, ON, _p(0)) == 0 and g.active
    assert g.update(300_000, (ON + OFF) / 2, _p(0)) == 0  # between: stays active
    assert g.update(400_000, OFF - 1, _p(0)) == 0  # quiet, but not for long yet
    assert g.update(600_000, OFF - 1, _p(0)) == 0
    assert g.update(700_000, OFF - 1, _p(0)) is None  # quiet for 300 ms: idle
    assert g.went_idle and not g.active
    assert g.update(800_000, OFF - 1, _p(0)) is None and not g.went_idle
    # a burst of activity during the quiet stretch restarts the count
    g2 = GestureGate(GateConfig(idle_after_us=300_000, confirm_us=0))
    g2.update(0, ON, _p(1))
    g2.update(100_000, 0.0, _p(1))
    g2.update(300_000, ON, _p(1))
    assert g2.update(500_000, 0.0, _p(1)) == 1


@pytest.mark.parametrize(
    "kw",
    [{"on_hz": 10, "off_hz": 20}, {"confirm_us": -1}, {"activity_top": 0}, {"min_confidence": 2}],
)
def test_bad_config(kw):
    with pytest.raises(ValueError):
        GateConfig(**kw)


def test_activity_meter_equals_naive_count():
    rng = np.random.default_rng(0)
    w, h, n = 100, 70, 20_000
    ev = make_events(
        np.sort(rng.integers(0, 3_000_000, n)),
        rng.integers(0, w, n),
        np.clip(rng.normal(30, 12, n), 0, h - 1).astype(int),
        0,
    )
    m = ActivityMeter((w, h), span_us=400_000, block=32, top=2)
    for a in range(0, n, 777):
        m.add(ev[a : a + 777])
    for tick in range(100_000, 3_000_000, 230_003):
        # the 40 whole 10 ms bins before the bin that holds the tick
        hi = tick // 10_000 * 10_000
        sel = ev[(ev["t"] >= hi - 400_000) & (ev["t"] < hi)]
        counts = {}
        for e in sel:
            k = (int(e["x"]) // 32, int(e["y"]) // 32)
            counts[k] = counts.get(k, 0) + 1
        want = sum(sorted(counts.values(), reverse=True)[:2]) / 0.4
        assert m.rate_hz(tick) == pytest.approx(want)


def _gate_run(events, sensor, model="gesture-demo", mode="window"):
    from neuromoco.streaming.continuous_evaluation import ContinuousStream, run_stream
    from neuromoco.streaming.model import open_model

    p = open_model(model, mode=mode)
    return run_stream(p, ContinuousStream(events, sensor, []))


def test_generated_pause_shows_no_gesture():
    """A real gesture, then 3 s of generated background: the pause (from 1 s in) says nothing,
    the gesture says something (and the activity said why)."""
    from neuromoco.sensor_noise import merge_events

    ev = read_events(shared_file("dvsgesture_csv/class2_user02_led.csv"), sensor_size=(128, 128))
    end = int(ev["t"][-1]) + 1
    bg = background_activity(end, end + 3_000_000, (128, 128), 0.2, np.random.default_rng(0))
    preds = _gate_run(merge_events([ev, bg]), (128, 128))
    pause = [p for p in preds if p.t_us >= end + 1_000_000]
    gesture = [p for p in preds if int(ev["t"][0]) + 1_000_000 <= p.t_us < end]
    assert pause and all(p.gesture is None for p in pause)
    assert all(p.activity_hz < OFF for p in pause)
    assert all(p.gesture == "right_hand_wave" for p in gesture)
    assert all(p.label is not None for p in pause)  # label stays the top class


def test_real_quiet_stretch_shows_no_gesture():
    """A person walking away from a DVS128 (real): while near, the scene is active; the last
    1.5 s, far away, are quiet and shown as no gesture."""
    ev = read_events(shared_file("aedat2/alex_walking_again.aedat"))
    preds = _gate_run(ev, (128, 128))
    end = int(ev["t"][-1])
    assert any(p.gesture is not None for p in preds if p.t_us < int(ev["t"][0]) + 3_000_000)
    tail = [p for p in preds if p.t_us >= end - 1_500_000]
    assert tail and all(p.gesture is None for p in tail)


def test_sparse_real_gestures_are_not_gated_away():
    """The sparsest real recording (3–5 k raw events/s of hand gestures): active all along."""
    ev = read_events(shared_file("aedat4/dvSave-2024_06_13_16_16_25.aedat4"))
    preds = _gate_run(ev, (128, 128))
    late = [p for p in preds if p.t_us >= int(ev["t"][0]) + 1_000_000]
    assert late and all(p.gesture is not None for p in late)


class _CountingPredictor:
    """A stateful stand-in: counts init_state calls; its top class is constant."""

    class framing:
        T = 4
        split_by = "time"
        window_us = 400_000

    class_names = ["a", "b"]
    output = "logits"

    def __init__(self):
        self.inits = 0

    def init_state(self, n):
        self.inits += 1
        return 0

    def step(self, frame, state):
        return np.array([[2.0, 0.0]], np.float32), state + 1


def test_stream_state_resets_when_the_scene_goes_idle():
    from neuromoco.streaming.session import InferenceSession
    from neuromoco.streaming.windower import Window

    p = _CountingPredictor()
    s = InferenceSession(p, "stream", gate=GateConfig(idle_after_us=200_000, confirm_us=0))
    frame = np.zeros((1, 2, 4, 4), np.float32)
    shown = []
    for i in range(12):
        t = (i + 1) * 100_000
        act = 5 * ON if i < 5 else 0.0
        pred = s.process(Window(t, t - 100_000, frame, 0, i, True), activity_hz=act)
        shown.append(pred.gesture)
    assert shown[:5] == ["a"] * 5
    assert shown[7:] == [None] * 5
    # one fresh state at the start, one after the pause began (idle at the 8th step)
    assert p.inits == 2
