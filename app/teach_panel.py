"""The Teach panel: record a few examples of a gesture from the running source, see each as a
thumbnail, drop a bad one, train, and switch to the new model without a restart.

Examples are the raw events the source delivers between Record and Stop (the engine's event
hook, the same chunks the event view draws), at most :data:`MAX_EXAMPLE_S` of stream time each.
Train hands them to ``neuromoco.streaming.teaching`` (through the engine adapter, the app's one
door to streaming) on a worker thread — the GUI stays live, a progress bar follows the examples —
which teaches the running model when it has a linear read-out (else ``gesture-demo``) and keeps
the result in the user's models folder; the window then loads it: ``neuromoco models`` lists it
and ``--model NAME`` finds it afterwards.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from neuromoco.app.style import DIM_TEXT, ERROR_TEXT, OK_TEXT

MAX_EXAMPLE_S = 10.0
"""An example longer than this (stream time) keeps its last 10 s."""
THUMB = 72


class ExampleRecorder:
    """Collects the source's chunks between :meth:`start` and :meth:`stop` (thread-safe: the
    engine's source thread calls :meth:`on_events`)."""

    def __init__(self, max_us: int = int(MAX_EXAMPLE_S * 1e6)):
        self.max_us = int(max_us)
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] | None = None

    @property
    def recording(self) -> bool:
        return self._chunks is not None

    def start(self) -> None:
        with self._lock:
            self._chunks = []

    def on_events(self, events: np.ndarray, watermark_us=None) -> None:
        with self._lock:
            if self._chunks is not None and events.shape[0]:
                self._chunks.append(events.copy())

    def stop(self) -> np.ndarray | None:
        """The recorded events (the last ``max_us`` of them), or None when nothing came."""
        from neuromoco.types import concat_events

        with self._lock:
            chunks, self._chunks = self._chunks, None
        if not chunks:
            return None
        ev = concat_events(chunks)
        return ev[ev["t"] >= int(ev["t"][-1]) - self.max_us]


def thumbnail(events: np.ndarray, sensor_size, size: int = THUMB) -> QtGui.QImage:
    """An event-count image of an example, coloured as the event view colours events, ``size``
    pixels wide."""
    from neuromoco.app.event_view import polarity_rgb

    w, h = int(sensor_size[0]), int(sensor_size[1])
    idx = events["p"].astype(np.int64) * (w * h) + events["y"].astype(np.int64) * w + events["x"]
    counts = np.bincount(idx, minlength=2 * w * h).reshape(2, h, w)  # [OFF, ON]
    arr = np.ascontiguousarray(polarity_rgb(counts))
    q = QtGui.QImage(arr.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()
    return q.scaledToWidth(size, QtCore.Qt.TransformationMode.SmoothTransformation)


class TeachPanel(QtWidgets.QWidget):
    """The panel (see the module docstring). ``window`` is the app's ``MainWindow``: the panel
    reads its running model and source, and calls ``window.set_model`` when a model is taught.

    Signals: ``taught(str)`` with the new model's path; ``failed(str)`` with a one-line reason.
    """

    taught = QtCore.Signal(str)
    failed = QtCore.Signal(str)
    _progress = QtCore.Signal(int, int)
    _done = QtCore.Signal(object, str)

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self.recorder = ExampleRecorder()
        self.examples: list[tuple[str, np.ndarray, tuple[int, int]]] = []
        self._worker: threading.Thread | None = None

        self.model_name = QtWidgets.QLineEdit("my-gestures")
        self.gesture = QtWidgets.QLineEdit()
        self.gesture.setPlaceholderText("gesture name, e.g. thumbs_up")
        self.record = QtWidgets.QPushButton("● Record example")
        self.record.setCheckable(True)
        self.listing = QtWidgets.QListWidget()
        self.listing.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.listing.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.listing.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.drop = QtWidgets.QPushButton("Drop selected")
        self.train = QtWidgets.QPushButton("Train")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setVisible(False)
        self.message = QtWidgets.QLabel("Name a gesture, press Record, perform it, press Stop.")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color:{DIM_TEXT};")

        form = QtWidgets.QFormLayout()
        form.addRow("model", self.model_name)
        form.addRow("gesture", self.gesture)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.record)
        lay.addWidget(self.listing, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.drop)
        row.addWidget(self.train)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)

        self.record.toggled.connect(self._record_toggled)
        self.drop.clicked.connect(self.drop_selected)
        self.train.clicked.connect(self.start_training)
        self._progress.connect(self._on_progress)
        self._done.connect(self._on_done)

    # -- examples ----------------------------------------------------------------------------
    def say(self, text: str, color: str = DIM_TEXT) -> None:
        self.message.setStyleSheet(f"color:{color};")
        self.message.setText(text)

    def _record_toggled(self, on: bool) -> None:
        if on:
            self.start_example()
        else:
            self.stop_example()

    def start_example(self) -> bool:
        label = self.gesture.text().strip()
        if not label or any(c in label for c in ",\n\r"):
            self.say("name the gesture first (no commas)", ERROR_TEXT)
            self.record.setChecked(False)
            return False
        if self.window.engine is None:
            self.say("open a source first (camera, file, webcam or demo)", ERROR_TEXT)
            self.record.setChecked(False)
            return False
        self.recorder.start()
        self.record.setText("■ Stop")
        self.say(f"recording an example of {label}…")
        return True

    def stop_example(self) -> bool:
        self.record.blockSignals(True)
        self.record.setChecked(False)
        self.record.blockSignals(False)
        self.record.setText("● Record example")
        ev = self.recorder.stop()
        if ev is None or ev.shape[0] < 100:
            self.say("nothing recorded: was the source running?", ERROR_TEXT)
            return False
        size = tuple(self.window.source.sensor_size)
        self.add_example(self.gesture.text().strip(), ev, size)
        return True

    def add_example(self, label: str, events: np.ndarray, sensor_size) -> None:
        self.examples.append((label, events, (int(sensor_size[0]), int(sensor_size[1]))))
        dur = (int(events["t"][-1]) - int(events["t"][0])) / 1e6
        item = QtWidgets.QListWidgetItem(
            QtGui.QIcon(QtGui.QPixmap.fromImage(thumbnail(events, sensor_size))),
            f"{label}\n{dur:.1f} s",
        )
        self.listing.addItem(item)
        n = sum(lab == label for lab, _, _ in self.examples)
        self.say(f"{n} example(s) of {label}; {len(self.examples)} in all")

    def drop_selected(self) -> None:
        for item in sorted(self.listing.selectedItems(), key=self.listing.row, reverse=True):
            del self.examples[self.listing.row(item)]
            self.listing.takeItem(self.listing.row(item))
        self.say(f"{len(self.examples)} example(s)")

    # -- training ----------------------------------------------------------------------------
    def _base(self) -> str:
        """The running model when teachable (a linear read-out with a checkpoint), else
        gesture-demo."""
        name = self.window.model_name or "gesture-demo"
        pred = self.window.predictor
        if getattr(pred, "output", "logits") != "logits":
            return "gesture-demo"
        if name.endswith(".onnx") or name.endswith(".pt"):
            model = self.window.model
            return str(model) if model else "gesture-demo"
        return name

    def start_training(self) -> bool:
        adapter = self.window.adapter
        if self._worker is not None and self._worker.is_alive():
            return False
        if not self.examples:
            self.say("record at least one example first", ERROR_TEXT)
            return False
        try:
            name = adapter.check_model_name(self.model_name.text().strip())
        except ValueError as e:
            self.say(str(e), ERROR_TEXT)
            return False
        base = self._base()
        examples = list(self.examples)
        self.train.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, len(examples) + 1)
        self.progress.setValue(0)
        self.say(f"teaching {name} on {base}…")

        def work():
            try:
                card, path = adapter.teach(
                    examples, name, base, on_progress=lambda d, t: self._progress.emit(d, t)
                )
                self._done.emit(card, str(path))
            except Exception as e:  # a worker must never take the GUI down
                self._done.emit(None, f"{type(e).__name__}: {e}" if not str(e) else str(e))

        self._worker = threading.Thread(target=work, name="neuromoco-teach", daemon=True)
        self._worker.start()
        return True

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_done(self, card, path_or_error: str) -> None:
        self.train.setEnabled(True)
        self.progress.setVisible(False)
        if card is None:
            self.say(f"teaching failed: {path_or_error}", ERROR_TEXT)
            self.failed.emit(path_or_error)
            return
        new = ", ".join(card["new_classes"]) or "no new class"
        # a model with direction features needs whole windows: window mode
        mode = None if self.window.mode in card.get("modes", (self.window.mode,)) else "window"
        self.say(
            f"taught {new} in {card['seconds']:.1f} s; running {Path(path_or_error).stem} "
            f"({len(card['classes'])} classes{', window mode' if mode else ''})",
            OK_TEXT,
        )
        if self.window.set_model(path_or_error, mode):
            self.taught.emit(path_or_error)
        else:
            self.failed.emit(f"cannot run the taught model {path_or_error}")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a running training ends (tests)."""
        w = self._worker
        if w is not None:
            w.join(timeout)
            return not w.is_alive()
        return True
