"""Qt app building blocks without a model: event tap, rendering, bridge, views (offscreen Qt)."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtWidgets = pytest.importorskip("PySide6.QtWidgets")

from neuromoco.app.bridge import Bridge, to_view_prediction  # noqa: E402
from neuromoco.app.event_tap import EventTap  # noqa: E402
from neuromoco.app.event_view import EventView, bin_strip, polarity_rgb  # noqa: E402
from neuromoco.app.prediction_view import PredictionView  # noqa: E402
from neuromoco.app.status_bar import StatusInfo, StatusPanel  # noqa: E402
from neuromoco.app.style import BACKGROUND, OFF_RGB, ON_RGB  # noqa: E402
from neuromoco.app.timestep_view import TimestepView  # noqa: E402
from neuromoco.events import make_events  # noqa: E402
from neuromoco.streaming.prediction import Prediction  # noqa: E402


@pytest.fixture(scope="module")
def qapp():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def _events(n, t_max, w=32, h=24, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    return make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def _naive_frames(ev, T, w, h, t_start, t_end):
    out = np.zeros((T, 2, h, w), np.int64)
    for e in ev:
        t = int(e["t"])
        if t_start <= t < t_end:
            b = min((t - t_start) * T // (t_end - t_start), T - 1)
            out[b, e["p"], e["y"], e["x"]] += 1
    return out


# -- rendering ---------------------------------------------------------------------------------
def test_polarity_rgb_colours():
    c = np.zeros((2, 3, 4), np.int32)
    c[1, 0, 0] = 5  # ON only
    c[0, 1, 1] = 5  # OFF only
    img = polarity_rgb(c)
    assert img.shape == (3, 4, 3) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == ON_RGB
    assert tuple(img[1, 1]) == OFF_RGB
    assert tuple(img[2, 3]) == BACKGROUND
    with pytest.raises(ValueError, match=r"\[2, H, W\]"):
        polarity_rgb(np.zeros((3, 4)))


def test_bin_strip_shape_and_merge():
    frames = np.zeros((20, 2, 5, 7), np.int32)
    frames[3, 1, 2, 2] = 1
    strip = bin_strip(frames, max_bins=10, gap=2)
    assert strip.shape == (5, 10 * 9 - 2, 3)
    # bin 3 lands in tile 1 (bins 2-3 are merged): its pixel has the ON colour
    assert tuple(strip[2, 9 + 2]) == ON_RGB


# -- event tap ---------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 4, 7])
def test_tap_snapshot_equals_naive_window(T):
    ev = _events(3000, 2_000_000)
    tap = EventTap((32, 24), window_us=500_000)
    for c in np.array_split(ev, 17):
        tap.push(c)
    win = tap.snapshot(T)
    t_end = int(ev["t"][-1]) + 1
    assert (win.t_start, win.t_end) == (t_end - 500_000, t_end)
    want = _naive_frames(ev, T, 32, 24, t_end - 500_000, t_end)
    np.testing.assert_array_equal(win.frames, want)
    assert win.n_events == want.sum()
    np.testing.assert_array_equal(win.accumulated, want.sum(0))
    # pooled bins (the strip tiles): 3×3 sums, ⌈24/3⌉ × ⌈32/3⌉ = 8 × 11 (last column: 2 wide)
    pooled = tap.snapshot(T, pool=3)
    padded = np.zeros((T, 2, 24, 33), np.int64)
    padded[..., :32] = want
    np.testing.assert_array_equal(pooled.frames, padded.reshape(T, 2, 8, 3, 11, 3).sum((3, 5)))
    np.testing.assert_array_equal(pooled.accumulated, want.sum(0))
    ev_back = tap.latest_events()
    assert ev_back.dtype == ev.dtype and ev_back.shape[0] == win.n_events


def test_tap_bounded_memory_and_watermark():
    tap = EventTap((32, 24), window_us=100_000)
    for k in range(200):
        tap.push(_shift(_events(100, 10_000, seed=k), k * 10_000))
    # only chunks overlapping the last 100 ms (+1 partial) are kept
    assert tap._kept <= 12 * 100
    assert tap.total_events == 200 * 100
    # a silent stretch: the watermark moves the window past every event → empty view
    tap.advance(200 * 10_000 + 1_000_000)
    win = tap.snapshot(2)
    assert win.n_events == 0 and win.frames.sum() == 0
    tap.clear()
    assert tap.snapshot() is None


def _shift(ev, dt):
    ev = ev.copy()
    ev["t"] += dt
    return ev


def test_tap_count_window():
    ev = _events(1000, 1_000_000)
    tap = EventTap((32, 24), window_events=300)
    for c in np.array_split(ev, 9):
        tap.push(c)
    win = tap.snapshot(3)
    assert win.n_events == 300
    assert win.frames.sum() == 300
    assert win.t_start == int(ev["t"][-300])


def test_tap_bad_arguments():
    with pytest.raises(ValueError, match="sensor_size"):
        EventTap((0, 10))
    with pytest.raises(ValueError, match="window"):
        EventTap((10, 10), window_us=None)
    with pytest.raises(ValueError, match="T must be"):
        EventTap((10, 10)).snapshot(0)
    with pytest.raises(ValueError, match="pool must be"):
        EventTap((10, 10)).snapshot(1, pool=0)


def test_tap_concurrent_push_and_snapshot():
    """The source thread pushes while the GUI snapshots: no exception, counts consistent."""
    tap = EventTap((32, 24), window_us=50_000)
    stop = threading.Event()
    errors = []

    def producer():
        k = 0
        while not stop.is_set():
            tap.push(_shift(_events(200, 5_000, seed=k), k * 5_000))
            k += 1

    th = threading.Thread(target=producer, daemon=True)
    th.start()
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.5:
            win = tap.snapshot(4)
            if win is not None and win.frames.sum() != win.n_events:
                errors.append((win.frames.sum(), win.n_events))
    finally:
        stop.set()
        th.join(1)
    assert not errors
    assert tap.total_events > 0


def test_tap_is_the_engines_events_hook():
    """The engine hands every chunk it reads (and the watermark) to on_events: the view's tap."""
    from neuromoco.streaming.engine import Engine
    from neuromoco.streaming.file_source import ArraySource
    from neuromoco.streaming.model import open_model

    ev = _events(3000, 400_000)
    tap = EventTap((32, 24), window_us=1_000_000)
    seen = []
    eng = Engine(open_model("gesture-demo", threads=1), keep_predictions=10)
    eng.on_events = lambda chunk, wm: (seen.append(chunk.shape[0]), tap.on_events(chunk, wm))
    eng.start(ArraySource(ev, (32, 24), speed=0, chunk_events=500))
    assert eng.wait(20)
    eng.stop()
    assert sum(seen) == 3000 and tap.total_events == 3000
    snap = tap.snapshot(T=2)
    assert snap is not None and snap.n_events == 3000 and snap.t_end >= int(ev["t"][-1]) + 1


# -- bridge ------------------------------------------------------------------------------------
def _prediction(T=4, C=3, k=1, truth=None):
    pps = np.full((T, C), 0.1, np.float32)
    pps[:, k] = 0.8
    probs = pps.mean(0)
    return Prediction(
        t_us=1_000_000, t_start_us=500_000, probs_per_step=pps, probs=probs, label_index=k,
        label=f"c{k}", confidence=float(probs[k]), latency_ms=3.5, n_events=42, dropped=2,
        mode="window", truth_index=truth, truth=None if truth is None else f"c{truth}",
    )  # fmt: skip


def test_to_view_prediction_from_engine_and_json():
    p = _prediction(truth=2)
    v = to_view_prediction(p)
    assert (v.label_index, v.truth_index, v.n_events, v.dropped, v.t_us) == (1, 2, 42, 2, 1_000_000)
    assert v.probs_per_step.shape == (4, 3)
    v2 = to_view_prediction(p.to_json())  # the headless JSON line gives the same view
    np.testing.assert_allclose(v2.probs, v.probs, atol=1e-4)
    assert (v2.label_index, v2.truth_index, v2.latency_ms) == (1, 2, 3.5)


def test_bridge_reads_each_field_under_one_name():
    """The view reads the ``Prediction`` attribute = JSON key of each field, and no other
    spelling: a class name where an index belongs, or the old ``events`` count, is not read."""
    p = _prediction(truth=2)
    line = p.to_json()
    assert "events" not in line and line["n_events"] == 42
    assert to_view_prediction(line).n_events == 42
    old = {"probs": [0.1, 0.2, 0.7], "events": 42, "label": 0, "truth": 1, "decision": 1}
    v = to_view_prediction({**old, "gesture": None})
    assert v.n_events == 0  # the old key is ignored
    assert v.label_index == 2  # "label" is a class name: the index is the argmax
    assert v.truth_index is None and v.decision_index is None
    assert v.gesture_index == 2  # no gesture_index: no gate decision carried, the top class
    assert to_view_prediction({**old, "n_events": 7, "label_index": 0}).n_events == 7


def test_bridge_generations_and_cross_thread_signals(qapp):
    bridge = Bridge()
    got_err, got_status = [], []

    # plain Python functions as slots (PySide6 6.12 mis-counts references of a builtin
    # method like list.append used as a slot of a queued signal and aborts)
    def on_err(msg):
        got_err.append(msg)

    def on_st(kind, msg):
        got_status.append((kind, msg))

    bridge.error.connect(on_err)
    bridge.status.connect(on_st)
    bridge.new_generation()
    old_pred, old_status = bridge.callbacks()
    bridge.new_generation()
    on_pred, on_status = bridge.callbacks()

    class Ev:
        def __init__(self, kind, message):
            self.kind, self.message = kind, message

    def worker():
        old_pred(_prediction())  # a stopped engine's late prediction: ignored
        old_status(Ev("error", "old"))
        on_pred(_prediction(k=2))
        on_pred("not a prediction")  # malformed: reported, not raised
        on_status(Ev("ended", "file.aedat4: ended"))
        on_status(Ev("error", "file.aedat4: broken"))

    th = threading.Thread(target=worker)
    th.start()
    th.join(2)
    deadline = time.monotonic() + 2
    while (len(got_err) < 2 or not got_status) and time.monotonic() < deadline:
        qapp.processEvents()
    preds = bridge.drain()
    assert [p.label_index for p in preds] == [2]
    assert bridge.drain() == []
    assert got_status == [("ended", "file.aedat4: ended")]
    assert got_err[0].startswith("bad prediction") and got_err[1] == "file.aedat4: broken"


# -- views -------------------------------------------------------------------------------------
def test_views_update(qapp):
    names = ["a", "b", "c"]
    pv = PredictionView(history=5)
    tv = TimestepView(trace_s=1.0)
    pv.set_classes(names)
    tv.set_classes(names)
    for i in range(8):
        p = _prediction(k=i % 3, truth=0)
        pv.add_prediction(p.probs, truth=0)
        tv.add_prediction(i * 400_000, p.probs_per_step, p.probs)
    assert pv.updates == 8 and tv.updates == 8
    assert len(pv._hist) == 5  # history bounded
    assert "a" in pv.truth_label.text() and "✗" in pv.truth_label.text()  # last: k=1, truth=0
    assert "b" in pv.top_label.text()
    assert all(t >= 7 * 0.4 - 1.0 for t, _, _ in tv._trace)  # trace keeps the last trace_s
    # a model with another class count resets the names instead of failing
    pv.add_prediction(np.array([0.5, 0.5]))
    assert pv.names == ["class 0", "class 1"]
    pv.deleteLater()
    tv.deleteLater()


def test_event_view_and_status(qapp):
    view = EventView()
    tap = EventTap((32, 24), window_us=500_000)
    tap.push(_events(500, 1_000_000))
    view.set_window(tap.snapshot(4), "src", t0_us=0)
    view.set_window(None)  # idle: keeps the image
    assert view.updates == 1
    assert view.image.image.shape == (24, 32, 3)
    assert "32×24" in view.title.text and "src" in view.title.text
    view.bins_box.setChecked(False)
    assert not view.show_bins

    sb = StatusPanel()
    sb.set_info(StatusInfo(source="x.aedat4", events_per_s=2.5e6, dropped=3, fps=29.7))
    sb.show_error("x.aedat4: not an AEDAT4 file")
    text = sb.text()
    assert "x.aedat4: not an AEDAT4 file" in text and "2.50 Mev/s" in text
    assert "dropped 3" in text and "30 FPS" in text and sb.last_error
    sb.set_info(StatusInfo(latency_p50_ms=3.2, latency_p99_ms=41.0))
    assert "p50 3 ms · p99 41 ms" in sb.text() and "dropped –" in sb.text()
    view.deleteLater()
    sb.deleteLater()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True are immortal from Python 3.12")
def test_qt_binding_keeps_none_and_true_alive(qapp):
    """PySide6-Essentials 6.12.0 drops a reference to None on every void call (setText,
    processEvents...) and to True on every signal emit; on Python 3.11 the app then aborts
    with "Fatal Python error: none_dealloc" after a few thousand calls. 6.11.3 is correct."""
    from PySide6 import QtCore

    class Emitter(QtCore.QObject):
        sig = QtCore.Signal(str)

    em = Emitter()
    label = QtWidgets.QLabel()
    n_none, n_true = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        label.setText("x")
        em.sig.emit("x")
    lost_none = n_none - sys.getrefcount(None)
    lost_true = n_true - sys.getrefcount(True)
    import PySide6

    assert lost_none < 50 and lost_true < 50, (
        f"PySide6 {PySide6.__version__} lost {lost_none} references to None and {lost_true} to "
        "True in 200 calls: this binding crashes long-running apps on Python 3.11 "
        "(use PySide6-Essentials<6.12)"
    )
    label.deleteLater()


def test_bin_strip_pools_large_tiles():
    frames = np.zeros((4, 2, 128, 130), np.int32)
    frames[2, 0, 10, 20] = 3  # OFF event in bin 2 → pooled pixel (5, 10) of tile 2
    strip = bin_strip(frames, gap=2, max_tile=64)  # f = 3: tiles of 42 × 43
    assert strip.shape == (42, 4 * 45 - 2, 3)
    assert tuple(strip[3, 2 * 45 + 6]) == OFF_RGB
    assert (strip[:, :43] == BACKGROUND).all() and (strip[:, 45:88] == BACKGROUND).all()
    assert (strip[:, 43:45] == (60, 60, 70)).all()  # separator between tiles 0 and 1


def test_tap_version_changes_only_with_new_data():
    tap = EventTap((32, 24), window_us=1000)
    v0 = tap.version
    tap.push(_events(0, 10))  # an empty chunk changes nothing
    tap.advance(None)
    assert tap.version == v0
    tap.push(_events(10, 100))
    tap.advance(500)
    tap.advance(500)
    assert tap.version == v0 + 2


def test_early_decision_is_shown(qapp):
    p = Prediction(**{**_prediction(k=2).__dict__, "decision_index": 2, "decision": "c2",
                      "decision_step": 1})  # fmt: skip
    v = to_view_prediction(p)
    assert (v.decision_index, v.decision_step) == (2, 1)
    assert to_view_prediction(_prediction()).decision_index is None
    pv, tv = PredictionView(), TimestepView()
    pv.set_classes(["a", "b", "c"])
    tv.set_classes(["a", "b", "c"], 4)
    pv.add_prediction(v.probs, decision=v.decision_index)
    tv.add_prediction(v.t_us, v.probs_per_step, v.probs, decision_step=v.decision_step)
    assert "early decision: c" in pv.truth_label.text()
    assert tv.decision_line.isVisible() and tv.decision_line.value() == 2
    tv.add_prediction(v.t_us + 1, v.probs_per_step, v.probs)  # no decision in the next window
    assert not tv.decision_line.isVisible()
    pv.deleteLater()
    tv.deleteLater()


def test_bridge_carries_the_shown_gesture():
    from neuromoco.app.bridge import to_view_prediction

    base = {"probs": [0.1, 0.7, 0.2], "label_index": 1}
    assert (
        to_view_prediction({**base, "gesture": None, "gesture_index": None}).gesture_index is None
    )
    line = {**base, "gesture": None, "gesture_index": None, "label": "b"}  # a JSON line, gated
    assert to_view_prediction(line).gesture_index is None
    assert to_view_prediction({**base, "gesture": "b", "gesture_index": 2}).gesture_index == 2
    assert to_view_prediction(base).gesture_index == 1  # no gate decision: the top class


def test_prediction_view_no_gesture(qapp):
    from neuromoco.app.prediction_view import NO_GESTURE, PredictionView

    v = PredictionView()
    v.set_classes(["wave", "clap", "roll"])
    v.add_prediction(np.array([0.2, 0.7, 0.1]), gesture=1)
    assert "clap" in v.top_label.text() and v.shown == 1
    v.add_prediction(np.array([0.2, 0.7, 0.1]), gesture=None)
    text = v.top_label.text()
    assert NO_GESTURE in text and "clap" not in text and v.shown is None
    v.add_prediction(np.array([0.2, 0.1, 0.7]))  # no gate decision given: the top class
    assert "roll" in v.top_label.text()


def test_the_open_dialog_offers_every_format_the_readers_read():
    """(the filter once lacked .csv/.txt and .aedat2: text recordings could not be picked)"""
    import fnmatch

    from neuromoco.app.controls import EVENT_FILE_FILTER
    from neuromoco.formats.registry import FORMATS

    patterns = EVENT_FILE_FILTER.split(";;")[0].split("(")[1].rstrip(")").split()
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            name = "recording" + suffix
            assert any(fnmatch.fnmatch(name, p) for p in patterns), (fmt.name, suffix)
    for name in ("class2_user02_led.csv", "alex_walking_again.aedat", "x.aedat2", "y.txt"):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
