"""Inference sessions and the threaded engine: window/stream semantics, drops, control, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from neuromoco.events import make_events, read_events
from neuromoco.framing import FramingSpec, to_frames
from neuromoco.streaming.engine import Engine
from neuromoco.streaming.file_source import ArraySource
from neuromoco.streaming.prediction import early_decision, softmax
from neuromoco.streaming.session import InferenceSession
from neuromoco.streaming.synthetic_source import SyntheticSource
from neuromoco.streaming.windower import Windower
from tests.helpers_models import lively, save_model

SPEC = FramingSpec(T=8, split_by="time", size=(16, 16), sensor_size=(32, 32), window_us=80_000)


class LeakyPredictor:
    """A stand-in network with real temporal state: v ← 0.5·v + W·frame, logits = v.

    ``window`` runs ``step`` from zero state, so stream == window for the first T steps exactly.
    ``delay`` (s) per step simulates a slow model; ``fail_after`` raises after that many calls.
    """

    def __init__(self, spec=SPEC, C=5, delay=0.0, fail_after=None, seed=0):
        self.framing = spec
        self.class_names = [f"class{i}" for i in range(C)]
        w, h = spec.size
        self.W = np.random.default_rng(seed).normal(size=(C, 2 * h * w)).astype(np.float32) * 0.05
        self.delay = delay
        self.fail_after = fail_after
        self.calls = 0

    def describe(self):
        return "leaky fake"

    def window(self, frames):
        s = self.init_state(frames.shape[1])
        out = []
        for f in frames:
            o, s = self.step(f, s)
            out.append(o)
        return np.stack(out)

    def init_state(self, batch=1):
        return np.zeros((batch, self.W.shape[0]), np.float32)

    def step(self, frame, state):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("model exploded")
        if self.delay:
            time.sleep(self.delay)
        v = 0.5 * state + frame.reshape(frame.shape[0], -1) @ self.W.T
        return v.copy(), v


def _events(n=20_000, dur_us=1_000_000, seed=0, t0=0, w=32, h=32):
    rng = np.random.default_rng(seed)
    return make_events(
        t0 + np.sort(rng.integers(0, dur_us, n)),
        rng.integers(0, w, n),
        rng.integers(0, h, n),
        rng.integers(0, 2, n),
    )


def _windows(ev, spec, mode="window", hop=None):
    bin_us = spec.window_us // spec.T
    win = Windower.from_spec(
        spec, (32, 32), hop_us=hop or bin_us, mode=mode, partial=mode == "stream", origin_us=0
    )
    return win.push(ev, watermark_us=int(ev["t"][-1]) + 1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A real lif_convnet4 checkpoint (random weights) with a time-split framing."""
    pytest.importorskip("torch")
    from neuromoco.models.registry import create_model

    model = create_model("lif_convnet4", num_classes=4, img_size=16, widths=(4, 8, 8, 8))
    lively(model, seed=0, T=8, rate=2.0, scale=1.0)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.pt", model, SPEC, "abcd")


# ---------------------------------------------------------------- semantics
def test_window_mode_is_the_offline_pipeline():
    ev = _events()
    pred = LeakyPredictor()
    sess = InferenceSession(pred, "window")
    for w in _windows(ev, SPEC, hop=30_000)[:5]:
        p = sess.process(w)
        sel = ev[(ev["t"] >= w.t_us - SPEC.window_us) & (ev["t"] < w.t_us)]
        frames = SPEC.frames(sel, (32, 32), w.t_us - SPEC.window_us, w.t_us)
        logits = pred.window(frames[:, None])[:, 0]
        np.testing.assert_allclose(p.probs_per_step, softmax(logits), rtol=1e-6)
        np.testing.assert_allclose(p.probs, softmax(logits.mean(0)), rtol=1e-6)
        assert p.label == pred.class_names[int(logits.mean(0).argmax())]
        assert p.n_events == sel.shape[0] and p.mode == "window"


def _stream_vs_window(pred, ev, atol):
    wins = _windows(ev, SPEC, "window")
    bins = _windows(ev, SPEC, "stream")
    T = SPEC.T
    # the first full window ends at tick T·bin; the stream has then taken exactly T steps
    assert wins[0].t_us == bins[T - 1].t_us
    sw = InferenceSession(pred, "window").process(wins[0])
    ss = InferenceSession(pred, "stream")
    out = [ss.process(b) for b in bins[:T]]
    p = out[-1]
    assert p.probs_per_step.shape == (T, len(pred.class_names))
    np.testing.assert_allclose(p.probs_per_step, sw.probs_per_step, atol=atol)
    np.testing.assert_allclose(p.probs, sw.probs, atol=atol)
    assert p.n_events == sw.n_events and p.t_us == sw.t_us and p.t_start_us == sw.t_start_us
    # the first emissions have fewer rows (history still filling)
    assert out[0].probs_per_step.shape[0] == 1 and out[3].probs_per_step.shape[0] == 4


def test_stream_first_T_steps_equal_window_fake():
    _stream_vs_window(LeakyPredictor(), _events(), atol=0)


def test_stream_first_T_steps_equal_window_real_model(tiny_model):
    from neuromoco.models.inference import load_predictor

    pred = load_predictor(tiny_model, backend="torch", device="cpu", graph="step")
    ev = _events(seed=3)
    _stream_vs_window(pred, ev, atol=1e-5)
    # the network responds to its input (otherwise the equality above would be trivial)
    outs = [InferenceSession(pred, "window").process(w).probs for w in _windows(ev, SPEC)[:6]]
    assert np.ptp(np.stack(outs), axis=0).max() > 1e-3


def test_stream_emit_every_and_reset():
    ev = _events()
    bins = _windows(ev, SPEC, "stream")
    ss = InferenceSession(LeakyPredictor(), "stream", emit_every=4)
    out = [ss.process(b) for b in bins[:12]]
    assert [o is not None for o in out] == [True, False, False, False] * 3
    ss.reset()
    assert ss.steps == 0 and ss.process(bins[12]).probs_per_step.shape[0] == 1


def test_early_decision_rule():
    p = np.array([[0.9, 0.1], [0.95, 0.05], [0.2, 0.8], [0.1, 0.9], [0.1, 0.9], [0.3, 0.7]])
    assert early_decision(p, 0.85, 2) == (0, 1)
    assert early_decision(p, 0.85, 3) is None
    assert early_decision(p, 0.75, 3) == (1, 4)
    assert early_decision(p[:2], 0.5, 3) is None
    sess = InferenceSession(LeakyPredictor(), "window", early_threshold=0.2, early_steps=2)
    pr = sess.process(_windows(_events(), SPEC)[0])
    assert pr.decision is not None and 1 <= pr.decision_step < SPEC.T
    with pytest.raises(ValueError, match="early_threshold"):
        InferenceSession(LeakyPredictor(), "window", early_threshold=1.5)


# ---------------------------------------------------------------- engine
def _no_engine_threads():
    return not [
        t for t in threading.enumerate() if t.name.startswith("neuromoco-") and t.is_alive()
    ]


def test_engine_runs_a_replay_to_the_end():
    ev = _events(dur_us=600_000)
    got = []
    eng = Engine(LeakyPredictor(), mode="window", on_prediction=got.append)
    eng.start(ArraySource(ev, (32, 32), speed=0))
    assert eng.wait(5)
    st = eng.stats()
    assert st.events_in == ev.shape[0] and st.dropped == 0 and st.predictions == len(got) > 10
    assert st.hop_us == 30_000 and st.window_us == 80_000  # bins of 10 ms × round(33/10)
    assert [p.t_us for p in got] == sorted(p.t_us for p in got)
    assert eng.stop(1.0) and _no_engine_threads()
    kinds = [s.kind for s in eng.poll_status()]
    assert kinds[0] == "started" and "ended" in kinds


def test_slow_model_drops_whole_windows_without_blocking_the_source():
    ev = _events(n=30_000, dur_us=1_000_000)
    pred = LeakyPredictor(delay=0.01)  # 8 steps × 10 ms = 80 ms per window, hop 10 ms
    eng = Engine(pred, mode="window", hop_us=10_000)
    t0 = time.perf_counter()
    eng.start(ArraySource(ev, (32, 32), speed=1.0))
    assert eng.wait(5)
    elapsed = time.perf_counter() - t0
    st = eng.stats()
    assert (
        elapsed < 2.0
    )  # the source was never held back by inference (1 s of stream; 8 s if it were)
    assert st.dropped > 20
    assert st.windows == st.predictions + st.dropped
    preds = eng.poll_predictions()
    assert preds[-1].dropped > 0 and preds[-1].latency_ms < 400
    eng.stop()


def test_stream_mode_drops_reset_the_state():
    ev = _events(n=30_000, dur_us=800_000)
    pred = LeakyPredictor(delay=0.03)  # one step per 10 ms bin takes 30 ms
    eng = Engine(pred, mode="stream")
    eng.start(ArraySource(ev, (32, 32), speed=1.0))
    assert eng.wait(5)
    st = eng.stats()
    assert st.dropped > 0 and st.mode == "stream"
    rows = [p.probs_per_step.shape[0] for p in eng.poll_predictions()]
    assert min(rows[2:]) < SPEC.T  # history restarted after a drop
    eng.stop()


def test_pause_resume_and_clean_stop():
    ev = _events(n=50_000, dur_us=5_000_000)
    eng = Engine(LeakyPredictor(), mode="window")
    eng.start(ArraySource(ev, (32, 32), speed=1.0))
    time.sleep(0.3)
    eng.pause()
    time.sleep(0.05)
    n = eng.stats().events_in
    time.sleep(0.3)
    assert eng.stats().events_in <= n + 2000  # at most a slice in flight
    assert eng.paused
    eng.resume()
    time.sleep(0.2)
    assert eng.stats().events_in > n
    t0 = time.perf_counter()
    assert eng.stop(1.0)
    assert time.perf_counter() - t0 < 1.0 and _no_engine_threads()
    kinds = [s.kind for s in eng.poll_status()]
    assert "paused" in kinds and "resumed" in kinds


def test_switch_source_and_mode_while_running():
    eng = Engine(LeakyPredictor(), mode="window")
    eng.start(ArraySource(_events(dur_us=3_000_000), (32, 32), speed=1.0, name="first"))
    time.sleep(0.3)
    eng.set_mode("stream")
    time.sleep(0.3)
    modes = {p.mode for p in eng.poll_predictions()}
    assert modes == {"window", "stream"}
    eng.switch_source(ArraySource(_events(seed=9, t0=10**9), (32, 32), speed=0, name="second"))
    assert eng.wait(5)
    assert eng.stats().source == "second"
    preds = eng.poll_predictions()
    assert preds and all(p.mode == "stream" and p.t_us > 10**9 for p in preds)
    assert eng.stop(1.0) and _no_engine_threads()
    with pytest.raises(ValueError, match="mode"):
        eng.set_mode("batch")


def test_errors_become_status_events_not_crashes():
    # the model fails after a while: reported, the engine keeps running and stops cleanly
    eng = Engine(LeakyPredictor(fail_after=40), mode="window")
    eng.start(ArraySource(_events(), (32, 32), speed=0))
    assert eng.wait(5)
    errors = [s.message for s in eng.poll_status() if s.kind == "error"]
    assert errors and "model exploded" in errors[0]
    assert len(errors) <= 2  # repeated identical errors are rate-limited
    assert eng.stop(1.0)

    # a source that breaks mid-stream
    class Broken(ArraySource):
        def _chunks_once(self):
            yield from super()._chunks_once()
            raise OSError("device read failed")

    eng = Engine(LeakyPredictor(), mode="window")
    eng.start(Broken(_events(), (32, 32), speed=0, name="broken"))
    assert eng.wait(5)
    msgs = [s.message for s in eng.poll_status() if s.kind == "error"]
    assert msgs and "device read failed" in msgs[0]
    assert eng.stop(1.0)

    # a callback that raises
    def bad(p):
        raise KeyError("gui gone")

    eng = Engine(LeakyPredictor(), mode="window", on_prediction=bad)
    eng.start(ArraySource(_events(), (32, 32), speed=0))
    assert eng.wait(5)
    assert any("gui gone" in s.message for s in eng.poll_status())
    assert eng.stop(1.0) and _no_engine_threads()


def test_bad_configurations_are_clear_errors():
    num = FramingSpec(T=8, split_by="number", size=(16, 16), window_us=80_000)
    with pytest.raises(ValueError, match="stream mode.*split_by='time'"):
        Engine(LeakyPredictor(num), mode="stream")
    with pytest.raises(ValueError, match="multiple of the bin"):
        Engine(LeakyPredictor(), mode="stream", hop_us=15_000)
    eng = Engine(LeakyPredictor(num), mode="window")  # number split works in window mode
    assert eng.schedule.window_us == 80_000
    with pytest.raises(ValueError, match="stream mode"):
        eng.set_mode("stream")
    assert eng.mode == "window"

    class WindowOnly(LeakyPredictor):
        def init_state(self, batch=1):
            raise ValueError("a 'window' ONNX graph has no step state")

    with pytest.raises(ValueError, match="cannot be stepped.*no step state"):
        Engine(WindowOnly(), mode="stream")


def test_recording_the_raw_input(tmp_path):
    ev = _events()
    eng = Engine(LeakyPredictor(), mode="window")
    eng.start(ArraySource(ev, (32, 32), speed=0), record=tmp_path / "rec.aedat4")
    assert eng.recording and eng.wait(5)
    assert eng.stop(1.0) and not eng.recording
    np.testing.assert_array_equal(read_events(tmp_path / "rec.aedat4"), ev)
    assert any("wrote 20000 events" in s.message for s in eng.poll_status())
    st = eng.recording_stats()
    assert (st.events_in, st.events_written, st.events_dropped) == (20000, 20000, 0)
    # started mid-stream: a suffix of the input, written by stop_recording()
    eng.start(ArraySource(ev, (32, 32), speed=4.0))
    time.sleep(0.05)
    eng.start_recording(tmp_path / "mid.dat")
    time.sleep(0.1)
    assert eng.stop_recording() == tmp_path / "mid.dat"
    got = read_events(tmp_path / "mid.dat")
    assert 0 < got.shape[0] < ev.shape[0]
    start = int(np.searchsorted(ev["t"], got["t"][0]))
    np.testing.assert_array_equal(got, ev[start : start + got.shape[0]])
    eng.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid.dat", "rec.aedat4"]
    with pytest.raises(ValueError, match="mp4"):
        Engine(LeakyPredictor()).start(ArraySource(ev, (32, 32)), record=tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"x\.npz: cannot record to \.npz"):
        Engine(LeakyPredictor()).start(ArraySource(ev, (32, 32)), record=tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    assert _no_engine_threads()


def test_ground_truth_reaches_predictions():
    segs = [
        (_events(n=4000, dur_us=300_000, t0=i * 300_000, seed=i), i % 3, i * 300_000)
        for i in range(4)
    ]
    src = SyntheticSource(
        speed=0, segments=iter(segs), class_names=("x", "y", "z"), sensor_size=(32, 32)
    )
    eng = Engine(LeakyPredictor(), mode="window")
    eng.start(src)
    assert eng.wait(5)
    preds = eng.poll_predictions()
    assert preds and all(p.truth in ("x", "y", "z") for p in preds)
    mid = [p for p in preds if 400_000 <= p.t_us <= 550_000]
    assert mid and all(p.truth == "y" for p in mid)
    eng.stop()


def test_window_mode_matches_offline_with_a_real_model(tiny_model):
    from neuromoco.models.inference import load_predictor

    pred = load_predictor(tiny_model, backend="torch", device="cpu", graph="window")
    ev = _events(seed=5)
    w = _windows(ev, SPEC)[3]
    p = InferenceSession(pred, "window").process(w)
    frames = to_frames(
        ev[(ev["t"] >= w.t_start_us) & (ev["t"] < w.t_us)],
        8,
        (32, 32),
        "time",
        (16, 16),
        w.t_start_us,
        w.t_us,
    )
    ref = pred.window(frames[:, None])[:, 0]
    np.testing.assert_allclose(p.probs_per_step, softmax(ref), atol=1e-6)


def test_package_exports_resolve_lazily():
    import neuromoco.streaming as s

    for name in s.__all__:
        assert getattr(s, name) is not None, name
    with pytest.raises(AttributeError, match="nothing"):
        s.nothing  # noqa: B018


def test_live_source_pause_discards_and_restarts_windows():
    class Live(ArraySource):
        live = True

    ev = _events(n=40_000, dur_us=2_000_000)
    eng = Engine(LeakyPredictor(), mode="stream")
    eng.start(Live(ev, (32, 32), speed=1.0))
    time.sleep(0.4)
    eng.pause()
    time.sleep(0.05)
    n_pred = eng.stats().predictions
    time.sleep(0.5)
    # live: the stream keeps flowing (and is discarded); no predictions while paused
    assert eng.stats().predictions <= n_pred + 1
    eng.resume()
    assert eng.wait(5)
    st = eng.stats()
    assert st.dropped == 0  # the paused stretch is not replayed as a burst of empty bins
    preds = eng.poll_predictions()
    ts = [p.t_us for p in preds]
    assert max(np.diff(ts)) >= 400_000  # the gap
    after = [p for p in preds if p.t_us > ts[int(np.argmax(np.diff(ts)))]]
    assert after[0].probs_per_step.shape[0] == 1  # stream state restarted after the gap
    eng.stop()
