"""The app window on the real engine with a tiny model (offscreen Qt): demo, real recording,
pause/resume, source switching, mode/model changes, recording, bad inputs, clean shutdown."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtWidgets = pytest.importorskip("PySide6.QtWidgets")

from neuromoco.app.engine_adapter import EngineAdapter, SourceSpec  # noqa: E402
from neuromoco.app.window import MainWindow  # noqa: E402
from tests.conftest import qt_wait, shared_file  # noqa: E402

REC = "aedat4/dvSave-2024_06_13_16_16_25.aedat4"


@pytest.fixture(scope="module")
def qapp():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def _save_tiny(path: Path, split_by: str = "time") -> Path:
    import torch

    from neuromoco.framing import FramingSpec
    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.registry import create_model
    from neuromoco.synth import CLASS_NAMES

    torch.manual_seed(0)
    m = create_model("lif_convnet4", num_classes=len(CLASS_NAMES), img_size=32, widths=(4, 8, 8, 8))
    if split_by == "time":
        spec = FramingSpec(T=4, split_by="time", size=(32, 32), window_us=200_000)
    else:
        spec = FramingSpec(T=4, split_by="number", size=(32, 32), window_events=2000)
    save_checkpoint(path, m, arch="lif_convnet4", model_kwargs=m.model_kwargs,
                    class_names=list(CLASS_NAMES), framing=spec)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(_save_tiny(tmp_path_factory.mktemp("app_model") / "tiny.pt"))


def _wait(qapp, cond, timeout=15.0) -> bool:
    return qt_wait(qapp, cond, timeout)


def _engine_threads():
    return [t for t in threading.enumerate() if t.name.startswith("neuromoco-")]


@pytest.fixture
def window(qapp, tiny_model):
    win = MainWindow(EngineAdapter(threads=1), model=tiny_model, mode="window", speed=1.0)
    win.resize(1000, 700)
    win.show()
    yield win
    win.close()
    win.deleteLater()
    qapp.processEvents()


def _assert_clean_close(qapp, win):
    t0 = time.perf_counter()
    win.close()
    dt = time.perf_counter() - t0
    assert dt < 1.0, f"closing took {dt:.2f} s"
    assert _wait(qapp, lambda: not _engine_threads(), 1.0), _engine_threads()
    alive = [
        t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    assert not alive, f"non-daemon threads left: {alive}"


def test_demo_predictions_reach_every_view(qapp, window):
    assert window.open_source(SourceSpec("demo"))
    assert _wait(qapp, lambda: window.predictions >= 3 and window.event_view.updates >= 3)
    pv, tv = window.prediction_view, window.timestep_view
    assert pv.updates >= 1 and tv.updates >= 1
    assert pv.names[0] == "hand_clap" and len(pv.names) == 11
    # the demo knows the ground truth: shown under the top class
    assert _wait(qapp, lambda: "ground truth" in pv.truth_label.text(), 5)
    # heatmap holds the [T, C] probabilities of the newest window (rows = classes)
    heat = tv.heat.image
    assert heat.shape == (11, 4) and np.allclose(heat.sum(0), 1, atol=1e-3)
    assert np.isclose(pv.last_probs.sum(), 1, atol=1e-3)
    assert window.event_view.image.image.shape == (128, 128, 3)
    # status fields fill in within ~1 s
    assert _wait(
        qapp, lambda: "procedural" in window.status.text() and "FPS" in window.status.text(), 3
    )
    assert "T=4" in window.status.text() and "lif_convnet4 · torch/cpu" in window.status.text()
    _assert_clean_close(qapp, window)


def test_real_recording_pause_resume_and_switch(qapp, window):
    path = shared_file(REC)
    assert window.open_source(SourceSpec("file", str(path)))
    assert _wait(qapp, lambda: window.predictions >= 3 and window.event_view.updates >= 2)
    assert path.name in window.event_view.title.text
    # stream time is shown from the recording's first event, not µs since 1970
    assert window.timestep_view._trace[-1][0] < 100

    window.set_paused(True)
    assert window.controls.act_pause.text() == "Resume"
    _wait(qapp, lambda: False, 0.4)  # let in-flight windows land
    n = window.predictions
    _wait(qapp, lambda: False, 0.8)
    assert window.predictions <= n + 1, "predictions kept coming while paused"
    window.set_paused(False)
    assert _wait(qapp, lambda: window.predictions >= n + 3)

    # switch to the demo: the old engine stops, the new one predicts
    old_engine = window.engine
    assert window.open_source(SourceSpec("demo"))
    assert window.engine is not old_engine and not old_engine.running
    n = window.predictions
    assert _wait(qapp, lambda: window.predictions >= n + 3)
    assert "procedural" in window.event_view.title.text
    assert len(_engine_threads()) == 2  # one source + one inference thread, nothing leaked
    _assert_clean_close(qapp, window)


def test_bad_inputs_show_errors_and_keep_running(qapp, window, tmp_path):
    assert window.open_source(SourceSpec("demo"))
    assert _wait(qapp, lambda: window.predictions >= 2)
    running = window.engine

    assert not window.open_source(SourceSpec("file", str(tmp_path / "missing.aedat4")))
    assert (
        "missing.aedat4" in window.status.last_error and "no such file" in window.status.last_error
    )
    garbage = tmp_path / "garbage.aedat4"
    garbage.write_bytes(os.urandom(4096))
    assert not window.open_source(SourceSpec("file", str(garbage)))
    assert "garbage.aedat4" in window.status.last_error

    bad_model = tmp_path / "bad.pt"
    bad_model.write_bytes(b"not a checkpoint")
    assert not window.set_model(str(bad_model))
    assert "bad.pt" in window.status.last_error

    # what ran before still runs
    assert window.engine is running and running.running
    n = window.predictions
    assert _wait(qapp, lambda: window.predictions > n)


def test_no_camera_is_an_error_in_the_window(qapp, window):
    from neuromoco.streaming.camera_source import list_cameras

    if list_cameras():
        pytest.skip("a camera is connected")
    assert window.controls.camera_box.currentText() == "no camera found"
    assert not window.open_source(SourceSpec("camera"))
    assert "no iniVation camera found" in window.status.last_error


def test_no_webcam_is_an_error_in_the_window(qapp, window):
    if Path("/dev/video3").exists():
        pytest.skip("a webcam may be connected")
    assert not window.open_source(SourceSpec("webcam", 3))
    assert "webcam 3" in window.status.last_error and window.engine is None


def test_stream_mode_model_change_and_recording(qapp, window, tmp_path, tiny_model):
    assert window.open_source(SourceSpec("demo"))
    assert _wait(qapp, lambda: window.predictions >= 2)
    assert window.set_mode("stream")
    assert window.engine.mode == "stream" and window.controls.mode_box.currentText() == "stream"
    n = window.predictions
    assert _wait(qapp, lambda: window.predictions >= n + 4)
    assert "per time bin" in window.timestep_view.trace_plot.plotItem.titleLabel.text

    # a count-split model cannot step bin by bin: error shown, the stream keeps running
    counted = _save_tiny(tmp_path / "counted.pt", split_by="number")
    engine = window.engine
    assert not window.set_model(str(counted))
    assert "stream mode" in window.status.last_error
    assert window.engine is engine and window.mode == "stream"
    # in window mode it runs
    assert window.set_mode("window")
    assert window.set_model(str(counted))
    assert window.engine.schedule.window_events == 2000

    out = tmp_path / "rec.aedat4"
    assert window.set_recording(str(out))
    n = window.predictions
    assert _wait(qapp, lambda: window.predictions >= n + 3)
    assert window.set_recording("")
    from neuromoco.events import read_recording

    rec = read_recording(out)
    assert rec.events.shape[0] > 0 and rec.sensor_size == (128, 128)

    shot = tmp_path / "shots" / "win.png"
    assert window.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _assert_clean_close(qapp, window)


def test_toolbar_drives_the_window(qapp, window):
    c = window.controls
    c.act_demo.trigger()
    assert window.engine is not None and window.source_spec == SourceSpec("demo")
    assert _wait(qapp, lambda: window.predictions >= 1)
    c.speed_box.setCurrentIndex(c.speed_box.findText("2×"))
    assert window.speed == 2.0 and window.source.speed == 2.0
    c.speed_box.setCurrentIndex(c.speed_box.findText("max"))
    assert window.speed is None and window.source.speed == 0.0
    c.act_pause.trigger()
    assert window.paused and window.engine.paused and c.act_pause.text() == "Resume"
    c.act_pause.trigger()
    assert not window.paused and not window.engine.paused
    c.mode_box.setCurrentText("stream")
    assert window.mode == "stream" and window.engine.mode == "stream"
    _assert_clean_close(qapp, window)


def test_choosing_a_model_starts_the_wanted_source(qapp, tiny_model, tmp_path):
    """No usable model at start (e.g. no bundled model yet): the window says so, and picking a
    model opens the source asked for."""
    win = MainWindow(EngineAdapter(), model=str(tmp_path / "absent.pt"))
    try:
        win.show()
        assert not win.open_source(SourceSpec("demo"))
        assert "absent.pt" in win.status.last_error
        assert win.set_model(tiny_model)
        assert win.source_spec == SourceSpec("demo") and win.engine is not None
        assert _wait(qapp, lambda: win.predictions >= 1)
    finally:
        _assert_clean_close(qapp, win)
        win.deleteLater()


def test_recording_from_the_start_and_end_of_a_file(qapp, window, tmp_path):
    """``--record`` records from the first chunk; a file that ends says so in the window; a
    320×240 DVXplorer file draws at its own size with pooled per-bin tiles."""
    path = shared_file("aedat4/dvxplorer_sample.aedat4")
    out = tmp_path / "rec.aedat4"
    window.recording = str(out)
    assert window.open_source(SourceSpec("file", str(path)))
    assert _wait(qapp, lambda: "end of recording" in window.status.message.text(), 20)
    assert _wait(qapp, lambda: window.event_view.updates >= 1)
    assert window.event_view.image.image.shape == (240, 320, 3)
    assert window.predictions >= 1
    window._stop_engine()  # writes the recording
    from neuromoco.events import read_recording

    src = read_recording(path)
    rec = read_recording(out)
    assert rec.sensor_size == (320, 240)
    np.testing.assert_array_equal(rec.events, src.events)  # every event, from the first one


def test_engine_options_reach_the_engine(qapp, tiny_model):
    """The neuromoco-app flags the adapter forwards (hop, early decision) shape what is shown."""
    from neuromoco.streaming.engine_config import EngineConfig

    adapter = EngineAdapter(
        engine_config=EngineConfig(hop_us=100_000, early_threshold=0.05, early_steps=1)
    )
    win = MainWindow(adapter, model=tiny_model)
    try:
        win.show()
        assert win.open_source(SourceSpec("demo"))
        assert win.engine.schedule.report_hop_us == 100_000
        assert _wait(qapp, lambda: "early decision" in win.prediction_view.truth_label.text())
        assert win.timestep_view.decision_line.isVisible()
    finally:
        _assert_clean_close(qapp, win)
        win.deleteLater()


def test_default_model_follows_the_source(qapp, testdata):
    """No model chosen: a real recording and the demo run the source's default (gesture-demo,
    the winner of the continuous benchmark); the title and the status bar say which model runs.
    A model chosen by name (dvs128-gesture, with its per-step spike raster) replaces it."""
    win = MainWindow(EngineAdapter(threads=1), model=None, mode="stream", speed=0)
    try:
        win.show()
        rec = testdata / "dvsgesture_csv" / "class2_user02_led.csv"
        assert win.open_source(SourceSpec("file", str(rec)))
        assert win.model_name == "gesture-demo"
        assert "model gesture-demo" in win.windowTitle()
        assert _wait(qapp, lambda: win.predictions >= 5)
        assert _wait(qapp, lambda: "gesture-demo" in win.status.text(), 3)
        win.set_mode("window")
        assert win.open_source(SourceSpec("demo"))
        assert win.model_name == "gesture-demo" and "model gesture-demo" in win.windowTitle()
        assert _wait(qapp, lambda: win.predictions >= 2)
    finally:
        _assert_clean_close(qapp, win)
        win.deleteLater()
    win = MainWindow(EngineAdapter(threads=1), model="dvs128-gesture", mode="stream", speed=0)
    try:
        win.show()
        assert win.open_source(SourceSpec("file", str(rec)))
        assert win.model_name == "dvs128-gesture"
        assert _wait(qapp, lambda: win.predictions >= 5)
        assert win.timestep_view.heat.image.shape[0] == 11
    finally:
        _assert_clean_close(qapp, win)
        win.deleteLater()


def test_a_pause_shows_no_gesture(qapp, testdata, tmp_path):
    """A real gesture followed by 3 s of background: while the gesture runs the big label names
    a class; at the end of the pause it says "no gesture" and no class name."""
    import numpy as np

    from neuromoco.app.prediction_view import NO_GESTURE
    from neuromoco.events import read_events, write_events
    from neuromoco.sensor_noise import background_activity, merge_events

    ev = read_events(testdata / "dvsgesture_csv" / "class2_user02_led.csv", sensor_size=(128, 128))
    end = int(ev["t"][-1]) + 1
    bg = background_activity(end, end + 3_000_000, (128, 128), 0.2, np.random.default_rng(0))
    path = tmp_path / "gesture_then_pause.aedat4"
    write_events(path, merge_events([ev, bg]), (128, 128))
    win = MainWindow(EngineAdapter(threads=1), model=None, mode="stream", speed=0)
    shown = []
    try:
        win.show()
        assert win.open_source(SourceSpec("file", str(path)))
        view = win.prediction_view
        assert _wait(qapp, lambda: view.shown is not None)
        shown.append(view.top_label.text())
        assert _wait(qapp, lambda: win.engine is not None and win.engine.wait(0), 20)
        assert _wait(qapp, lambda: view.shown is None, 5)
        shown.append(view.top_label.text())
    finally:
        _assert_clean_close(qapp, win)
        win.deleteLater()
    assert "right_hand_wave" in shown[0] and NO_GESTURE not in shown[0]
    assert NO_GESTURE in shown[1] and not any(n in shown[1] for n in ("wave", "arm", "clap"))


def test_record_format_reaches_the_window_recording(qapp, tiny_model, tmp_path):
    """--record-format works in the window too: an EVT 3.0 .raw recording of the demo."""
    from neuromoco.events import read_recording

    out = tmp_path / "demo.raw"
    win = MainWindow(EngineAdapter(threads=1), model=tiny_model, record=str(out),
                     record_format="evt3", speed=0)  # fmt: skip
    try:
        win.show()
        assert win.open_source(SourceSpec("demo"))
        assert _wait(qapp, lambda: win.predictions >= 2)
        assert win.set_recording("")  # stop: the .partial file is renamed
    finally:
        _assert_clean_close(qapp, win)
        win.deleteLater()
    rec = read_recording(out)
    assert rec.format == "evt3" and rec.events.shape[0] > 0
