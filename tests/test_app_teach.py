"""The app's Teach flow, offscreen: record examples from a file source, train, switch to the new
model without a restart, predict the new class; the pieces (recorder, thumbnails, drop) and bad
inputs."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtWidgets = pytest.importorskip("PySide6.QtWidgets")

from neuromoco.app.engine_adapter import EngineAdapter, SourceSpec  # noqa: E402
from neuromoco.app.teach_panel import ExampleRecorder, thumbnail  # noqa: E402
from neuromoco.app.window import MainWindow  # noqa: E402
from neuromoco.events import make_events  # noqa: E402
from tests.conftest import qt_wait, shared_file  # noqa: E402


@pytest.fixture(scope="module")
def qapp():
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    yield app


def _wait(qapp, cond, timeout=20.0) -> bool:
    return qt_wait(qapp, cond, timeout)


def test_recorder_keeps_the_last_seconds_and_is_off_by_default():
    r = ExampleRecorder(max_us=1_000)
    r.on_events(make_events([1, 2], [0, 0], [0, 0], [1, 1]))
    assert not r.recording and r.stop() is None
    r.start()
    r.on_events(make_events([10, 500, 1500, 2000], [1, 2, 3, 4], [1, 1, 1, 1], [0, 1, 0, 1]))
    ev = r.stop()
    assert ev["t"].tolist() == [1500, 2000] and not r.recording


def test_thumbnail_is_an_image_of_the_events(qapp):
    ev = make_events(np.arange(200), np.full(200, 5), np.full(200, 7), np.arange(200) % 2)
    img = thumbnail(ev, (16, 16), size=32)
    assert img.width() == 32 and not img.isNull()


def test_teach_flow_records_trains_switches_and_predicts(qapp, tmp_path, monkeypatch):
    """(started in stream mode: the taught model, with direction features, runs in window mode,
    and the window switches to it)"""
    monkeypatch.setenv("NEUROMOCO_MODELS_DIR", str(tmp_path / "models"))
    win = MainWindow(EngineAdapter(threads=1), model=None, mode="stream", speed=1.0)
    panel = win.teach_panel
    try:
        win.show()
        assert win.teach_action.text() == "Teach"
        win.teach_action.trigger()
        assert win.teach_dock.isVisible()
        # no name yet: refused, nothing recorded
        panel.gesture.setText("")
        assert not panel.start_example() and "name the gesture" in panel.message.text()
        for clip, label in (
            ("class2_user02_led.csv", "my_wave"),
            ("class6_user02_led.csv", "my_circle"),
        ):
            assert win.open_source(SourceSpec("file", str(shared_file(f"dvsgesture_csv/{clip}"))))
            assert _wait(qapp, lambda: win.predictions >= 3)
            panel.gesture.setText(label)
            assert panel.start_example()
            t0 = time.monotonic()
            assert _wait(qapp, lambda t0=t0: time.monotonic() - t0 > 1.6)
            assert panel.stop_example()
        assert [lab for lab, _, _ in panel.examples] == ["my_wave", "my_circle"]
        assert panel.listing.count() == 2
        # a third, bad example dropped again
        panel.add_example("oops", panel.examples[0][1], (128, 128))
        panel.listing.setCurrentRow(2)
        panel.drop_selected()
        assert len(panel.examples) == 2 and panel.listing.count() == 2
        panel.model_name.setText("my-two")
        taught = []
        panel.taught.connect(taught.append)
        assert panel.start_training()
        assert _wait(qapp, lambda: bool(taught), 120), panel.message.text()
        path = taught[0]
        assert path.endswith("my-two.onnx") and (tmp_path / "models" / "my-two.onnx").is_file()
        # the window switched to it, without a restart, on the same source (class6 again)
        assert win.model_name.endswith("my-two.onnx") and "my_circle" in win.class_names
        assert win.mode == "window" and win.controls.mode_box.currentText() == "window"
        assert "window mode" in panel.message.text()
        n = win.predictions
        assert _wait(qapp, lambda: win.predictions >= n + 20, 30)
        assert _wait(
            qapp, lambda: win.prediction_view.shown == win.class_names.index("my_circle"), 15
        )
    finally:
        win.shutdown()
        win.deleteLater()
    # the model is listed and found by name
    from neuromoco.models.bundled import resolve_model

    assert resolve_model("my-two")[0] == tmp_path / "models" / "my-two.onnx"


def test_training_needs_examples_and_a_good_name(qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROMOCO_MODELS_DIR", str(tmp_path / "models"))
    win = MainWindow(EngineAdapter(threads=1), model=None, mode="window", speed=1.0)
    try:
        panel = win.teach_panel
        assert not panel.start_training() and "record at least one" in panel.message.text()
        panel.model_name.setText("bad name/..")
        panel.add_example(
            "x", make_events(np.arange(300), np.zeros(300), np.zeros(300), 0), (128, 128)
        )
        assert not panel.start_training() and "model name" in panel.message.text()
        assert not (tmp_path / "models").exists()
    finally:
        win.shutdown()
        win.deleteLater()
