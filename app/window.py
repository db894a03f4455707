"""The main window: event view, prediction panel, per-step view, controls and status."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from neuromoco.app.bridge import Bridge, ViewPrediction
from neuromoco.app.controls import Controls
from neuromoco.app.engine_adapter import MODES, EngineAdapter, SourceSpec, speed_value
from neuromoco.app.event_tap import EventTap
from neuromoco.app.event_view import EventView, strip_pool
from neuromoco.app.prediction_view import PredictionView
from neuromoco.app.status_bar import StatusInfo, StatusPanel
from neuromoco.app.style import BACKGROUND, TEXT, class_names_or_default
from neuromoco.app.timestep_view import TimestepView
from neuromoco.atomic import atomic_path

DISPLAY_HZ = 30
"""Event view refresh rate (the display timer)."""
PLOT_HZ = 15
"""Prediction plots refresh rate."""


def _close_quietly(source) -> None:
    try:
        source.close()
    except Exception:  # closing a half-opened source must not hide the original error
        pass


def _steps(predictor) -> int | None:
    framing = getattr(predictor, "framing", None)
    return getattr(framing, "T", None)


def _open_error(spec: SourceSpec, exc: BaseException) -> str:
    msg = user_message(exc)
    if spec.kind == "file" and str(spec.arg) in msg:  # the message names the file already
        return f"cannot open the recording: {msg}"
    return f"cannot open {spec.describe()}: {msg}"


def _model_text(predictor) -> str:
    """e.g. ``gesture-demo · lif_convnet4 · onnx/cpu [CPU]`` (the model's name, its
    architecture, then ONNX Runtime providers without their ``ExecutionProvider`` suffix: the
    status bar has little room)."""
    arch = getattr(predictor, "arch", None) or type(predictor).__name__
    name = getattr(predictor, "model_name", None)
    if name and name != arch:
        arch = f"{name} · {arch}"
    where = "/".join(str(v) for v in (getattr(predictor, "backend", None),
                                       getattr(predictor, "device", None)) if v)  # fmt: skip
    providers = [str(v).removesuffix("ExecutionProvider") for v in
                 (getattr(predictor, "providers", None) or [])]  # fmt: skip
    text = f"{arch} · {where}" if where else str(arch)
    return text + (f" [{','.join(providers)}]" if providers else "")


def user_message(exc: BaseException) -> str:
    """One line for the status bar: the message of a user error, the type too for a bug."""
    if isinstance(exc, ValueError | OSError | ImportError | RuntimeError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


class MainWindow(QtWidgets.QMainWindow):
    """The NeuroMoCo app window.

    Args:
        adapter: builds sources and engines (the only object that talks to
            ``neuromoco.streaming``).
        model: a bundled model's name, or a checkpoint or ``.onnx`` path (``None``: the bundled
            default of each source: ``dvs128-gesture`` for cameras and recordings,
            ``gesture-demo`` for the demo and the webcam).
        mode: ``"window"`` or ``"stream"``.
        speed: replay speed of recordings and the demo (``None``/0: as fast as possible).
        backend: ``"auto"``, ``"torch"`` or ``"onnx"`` (``None``: auto).
        record: record the raw input events of every source opened to this file (``.aedat4``,
            ``.aedat``, ``.dat``; ``.raw`` with ``record_format``), from its first chunk,
            streamed to disk as they arrive (see ``neuromoco.streaming.recorder``).
        record_format: the recording's format when its suffix does not say (``evt2``/``evt3``).
    """

    def __init__(
        self,
        adapter: EngineAdapter,
        model: str | None = None,
        mode: str = "window",
        speed: float | None = 1.0,
        backend: str | None = None,
        record: str | None = None,
        record_format: str | None = None,
    ):
        super().__init__()
        self.setWindowTitle("NeuroMoCo")
        self.adapter = adapter
        self.model = model  # the user's choice; None: the default of each source kind
        self.model_name: str | None = None  # what the loaded predictor is (bundled name or file)
        self.mode = mode
        self.speed = speed
        self.backend = backend
        self.engine = None
        self.predictor = None
        self.bins = 1
        self.source = None
        self.source_spec: SourceSpec | None = None
        self.wanted_spec: SourceSpec | None = None
        self.tap: EventTap | None = None
        self.paused = False
        self.recording: str | None = record
        self.record_format = record_format  # --record-format (e.g. evt3 for a .raw file)
        self.predictions = 0
        self.class_names: list[str] = []
        self._frames = 0
        self._fps = 0.0
        self._fps_mark = time.monotonic()
        self._closed = False
        self._drawn: tuple | None = None
        self._pending: list[ViewPrediction] = []
        self._plot_mark = 0.0
        self.about_to_close = None
        """Called once when the window is closed, before the engine stops (``--screenshot``)."""

        self.bridge = Bridge(self)
        self.bridge.error.connect(self.show_error)
        self.bridge.status.connect(self._on_status)

        self.controls = Controls(self)
        self.addToolBar(self.controls)
        self.event_view = EventView()
        self.prediction_view = PredictionView()
        self.timestep_view = TimestepView()
        self.timestep_view.set_mode(mode)
        self.status = StatusPanel(self)
        self.setStatusBar(self.status)

        top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        top.addWidget(self.event_view)
        top.addWidget(self.prediction_view)
        top.setSizes([560, 440])
        main = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(self.timestep_view)
        main.setSizes([520, 260])
        self.setCentralWidget(main)
        from neuromoco.app.teach_panel import TeachPanel

        self.teach_panel = TeachPanel(self)
        self.teach_dock = QtWidgets.QDockWidget("Teach", self)
        self.teach_dock.setObjectName("teach")
        self.teach_dock.setWidget(self.teach_panel)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.teach_dock)
        self.teach_dock.hide()
        self.teach_action = self.teach_dock.toggleViewAction()
        self.teach_action.setText("Teach")
        self.controls.addAction(self.teach_action)
        self.resize(1280, 860)
        self.setStyleSheet(
            f"QMainWindow, QWidget {{ background: rgb{BACKGROUND}; color: {TEXT}; }}"
            "QToolBar { spacing: 4px; } QComboBox, QSpinBox { padding: 1px 4px; }"
        )

        c = self.controls
        c.open_file.connect(lambda p: self.open_source(SourceSpec("file", p)))
        c.open_camera.connect(lambda s: self.open_source(SourceSpec("camera", s)))
        c.open_webcam.connect(lambda i: self.open_source(SourceSpec("webcam", i)))
        c.open_demo.connect(lambda: self.open_source(SourceSpec("demo")))
        c.pause_toggled.connect(self.set_paused)
        c.speed_changed.connect(self.set_speed)
        c.mode_changed.connect(self.set_mode)
        c.model_chosen.connect(self.set_model)
        c.record_toggled.connect(self.set_recording)
        c.screenshot.connect(self.save_screenshot)
        c.refresh_cameras.connect(self.refresh_cameras)
        c.set_speed(speed)
        c.set_mode(mode)
        self.refresh_cameras()
        # keyboard focus on the plots, not in the webcam index box (no text cursor on screen)
        self.event_view.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.event_view.setFocus()

        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / DISPLAY_HZ))
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # -- sources and engine --------------------------------------------------------------------
    def refresh_cameras(self) -> None:
        try:
            self.controls.set_cameras(self.adapter.list_cameras())
        except Exception as e:  # a broken camera driver must not stop the app
            self.controls.set_cameras([])
            self.show_error(f"camera discovery failed: {user_message(e)}")

    def _wanted_model(self, spec: SourceSpec) -> str:
        """The model ``spec`` runs: the user's choice, else the bundled default of its kind."""
        return self.model if self.model is not None else self.adapter.default_model_name(spec.kind)

    def _predictor_for(self, spec: SourceSpec):
        """``(predictor, name)`` for ``spec``: the loaded one when it is the wanted model, else
        a freshly loaded one (it replaces the current only once its source runs)."""
        wanted = self._wanted_model(spec)
        if self.predictor is not None and self.model_name == wanted:
            return self.predictor, wanted
        # loading (an ONNX export of a checkpoint: seconds) runs here: say so first
        self.status.show_info(f"loading model {wanted}…")
        QtWidgets.QApplication.processEvents()
        return self.adapter.open_model(wanted, self.mode, self.backend, spec.kind), wanted

    def open_source(self, spec: SourceSpec) -> bool:
        """Open ``spec`` and run the current model on it. On failure (no camera, bad file, bad
        model) the error is shown in the status bar and whatever ran before keeps running.
        Returns whether the new source runs."""
        try:
            predictor, name = self._predictor_for(spec)
        except Exception as e:
            self.wanted_spec = spec  # opened as soon as a model is chosen (Model…)
            self.show_error(f"cannot load the model: {user_message(e)}")
            return False
        if not self.class_names:  # label the empty plots while the source opens
            self._set_classes(getattr(predictor, "class_names", None), _steps(predictor))
        try:
            source = self.adapter.open_source(spec, speed=self.speed)
        except Exception as e:
            self.show_error(_open_error(spec, e))
            return False
        return self._run(source, spec, predictor, self.mode, name)

    def _run(self, source, spec: SourceSpec, predictor, mode: str, model_name: str) -> bool:
        try:
            # no callbacks yet: a rejected engine must never reach the bridge
            engine = self.adapter.create_engine(predictor, mode, None, None)
        except Exception as e:
            _close_quietly(source)
            self.show_error(f"cannot run the model in {mode} mode: {user_message(e)}")
            return False
        self._stop_engine()
        self.bridge.new_generation()
        on_prediction, on_status = self.bridge.callbacks()
        engine.on_prediction, engine.on_status = on_prediction, on_status
        plan = engine.schedule
        tap = EventTap(
            source.sensor_size, window_us=plan.window_us, window_events=plan.window_events
        )
        recorder = self.teach_panel.recorder

        def on_events(chunk, watermark):  # the view sees every chunk the engine reads
            tap.on_events(chunk, watermark)
            recorder.on_events(chunk, watermark)  # the Teach panel's example, while recording

        engine.on_events = on_events
        try:
            # a recording (--record) starts with the very first chunk of the source
            engine.start(source, record=self.recording, record_format=self.record_format)
        except Exception as e:
            engine.stop(timeout=1.0)
            _close_quietly(source)
            self.show_error(f"cannot start {spec.describe()}: {user_message(e)}")
            return False
        self.engine, self.source, self.source_spec, self.tap = engine, source, spec, tap
        self.predictor, self.mode, self.model_name = predictor, mode, model_name
        self.bins = plan.T
        self._set_classes(getattr(predictor, "class_names", None), self.bins)
        self.paused = False
        self.controls.set_paused(False)
        # replay speed applies to recordings and the demo, not to cameras
        self.controls.speed_box.setEnabled(not getattr(source, "live", False))
        self.status.clear_message()
        self.status.show_info(f"running {spec.describe()} · {engine.describe()}")
        if self.recording:
            self._say_leftovers(self.recording)
        self.setWindowTitle(
            f"NeuroMoCo — {getattr(source, 'name', spec.describe())} — model {self.model_name}"
        )
        return True

    def _set_classes(self, names, T: int | None = None) -> None:
        names = list(names) if names else []
        self.class_names = names
        if names:
            self.prediction_view.set_classes(names)
            self.timestep_view.set_classes(names, T)

    def _stop_engine(self) -> None:
        engine, self.engine = self.engine, None
        self.bridge.new_generation()
        self._pending = []
        if engine is not None:
            try:
                if not engine.stop(timeout=1.0):
                    self.show_error("the engine did not stop within 1 s")
            except Exception as e:
                self.show_error(f"stopping the engine: {user_message(e)}")
        self.source = None
        self.tap = None

    def set_paused(self, paused: bool) -> None:
        if self.engine is None:
            self.controls.set_paused(False)
            return
        try:
            self.engine.pause() if paused else self.engine.resume()
        except Exception as e:
            self.show_error(user_message(e))
            return
        self.paused = paused
        self.controls.set_paused(paused)
        self.status.show_info("paused" if paused else "running")

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self.controls.set_speed(speed)
        if self.engine is not None:
            try:
                self.engine.set_speed(speed_value(speed))
            except Exception as e:
                self.show_error(user_message(e))

    def _reload(self, model: str | None, mode: str) -> bool:
        """Run ``model`` (``None``: the source's default) in ``mode`` on the current source
        (re-opened: a recording restarts). Nothing changes when the model cannot be loaded or
        cannot run in that mode."""
        spec = self.source_spec or self.wanted_spec
        kind = spec.kind if spec is not None else None
        name = model if model is not None else self.adapter.default_model_name(kind or "demo")
        self.status.show_info(f"loading model {name}…")
        QtWidgets.QApplication.processEvents()
        try:
            predictor = self.adapter.open_model(name, mode, self.backend, kind)
        except Exception as e:
            self.show_error(f"cannot load model {name}: {user_message(e)}")
            return False
        if self.source_spec is None:  # nothing runs yet (e.g. no bundled model at start)
            self.predictor, self.model, self.mode = predictor, model, mode
            self.model_name = name
            self._set_classes(getattr(predictor, "class_names", None), _steps(predictor))
            wanted, self.wanted_spec = self.wanted_spec, None
            if wanted is not None:
                return self.open_source(wanted)
            self.status.clear_message()
            self.status.show_info(f"model {name} loaded: open a source")
            return True
        try:
            source = self.adapter.open_source(self.source_spec, speed=self.speed)
        except Exception as e:
            self.show_error(_open_error(self.source_spec, e))
            return False
        if not self._run(source, self.source_spec, predictor, mode, name):
            return False
        self.model = model
        return True

    def set_mode(self, mode: str) -> bool:
        """``"window"`` or ``"stream"``; on failure the previous mode keeps running."""
        if mode not in MODES:
            self.show_error(f"unknown mode {mode!r} ({' or '.join(MODES)})")
            return False
        return self._reload_showing_mode(self.model, mode)

    def set_model(self, path: str, mode: str | None = None) -> bool:
        """Run another model (a bundled name, a checkpoint or an ``.onnx`` file); a bad one
        leaves the current running. ``mode``: run it in that mode instead of the current one
        (a taught model with direction features runs in window mode only)."""
        if mode is None:
            return self._reload(path, self.mode)
        return self._reload_showing_mode(path, mode)

    def _reload_showing_mode(self, model: str | None, mode: str) -> bool:
        """:meth:`_reload` in ``mode``, then the controls and the time-step view show the mode
        that runs (the previous one if the reload failed)."""
        ok = self._reload(model, mode)
        self.controls.set_mode(self.mode)
        self.timestep_view.set_mode(self.mode)
        return ok

    def set_recording(self, path: str) -> bool:
        """Start recording the raw input events to ``path`` (``""``: stop and write the file)."""
        if not path:
            self.recording = None
            self.controls.set_recording(False)
            if self.engine is not None:
                was = self.engine.recording
                try:
                    # the writer thread has kept up: normally done in milliseconds; after 2 s
                    # the GUI goes on and the recorder reports "wrote …" when it is done
                    written = self.engine.stop_recording(timeout=2.0)
                except Exception as e:
                    self.show_error(f"recording: {user_message(e)}")
                    return False
                if written:
                    self.status.show_info(f"recording written to {written}")
                elif was and not self.status.last_error:
                    self.status.show_info("finishing the recording in the background…")
            return True
        if self.engine is None:
            self.controls.set_recording(False)
            self.show_error("open a source before recording")
            return False
        try:
            self.engine.start_recording(path, self.record_format)
        except Exception as e:
            self.controls.set_recording(False)
            self.show_error(f"cannot record to {path}: {user_message(e)}")
            return False
        self.recording = path
        self.controls.set_recording(True)
        self.status.show_info(f"recording to {path}")
        self._say_leftovers(path)
        return True

    def _say_leftovers(self, path: str) -> None:
        """Name recordings left in ``path``'s folder by a run that did not stop cleanly."""
        from neuromoco.streaming.recorder import find_partial_recordings, leftover_message

        mine = self.engine.recording_stats() if self.engine is not None else None
        left = [
            p
            for p in find_partial_recordings(Path(path).parent)
            if mine is None or p != mine.partial_path
        ]
        if left:
            more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
            self.status.show_warning(leftover_message(left[-1]) + more)

    def save_screenshot(self, path: str) -> bool:
        """Save the window as a PNG (atomically); errors go to the status bar."""
        path = Path(path)
        try:
            with atomic_path(path, suffix=".png", mkdir=True) as tmp:
                if not self.grab().save(str(tmp), "PNG"):
                    raise OSError(f"{path}: could not write the PNG")
        except Exception as e:
            self.show_error(f"screenshot failed: {user_message(e)}")
            return False
        self.status.show_info(f"screenshot saved to {path}")
        return True

    # -- display -------------------------------------------------------------------------------
    @QtCore.Slot(str)
    def show_error(self, text: str) -> None:
        self.status.show_error(text)

    @QtCore.Slot(str, str)
    def _on_status(self, kind: str, message: str) -> None:
        if kind == "warning":  # e.g. the recording is behind: shown until the next message
            self.status.show_warning(message)
        else:
            self.status.show_info(message)

    def _tick(self) -> None:
        """Display timer: pull the newest state and redraw (never waits on the engine)."""
        try:
            self.draw()
        except Exception as e:  # a drawing bug must not kill the app: show it, keep running
            self.show_error(f"display error: {user_message(e)}")
            logging.getLogger(__name__).debug("display error", exc_info=True)

    def draw(self) -> None:
        """Pull the engine's newest predictions and events and update the view: the display
        timer's work, without the error guard (public so that ``python -m bench app`` can time
        it per tick)."""
        drew = False
        self._pending.extend(self.bridge.drain())
        now = time.monotonic()
        # the plots follow at PLOT_HZ (their repaint costs more than the event image's, and
        # predictions come at ≤ 30 Hz anyway); nothing is lost: all go into the histories
        preds: list[ViewPrediction] = []
        if self._pending and now - self._plot_mark >= 1.0 / PLOT_HZ:
            preds, self._pending = self._pending[-512:], []
            self._plot_mark = now
        if preds:
            if not self.class_names:
                self._set_classes(class_names_or_default(None, preds[-1].probs.shape[0]))
            # every prediction goes into the histories; only the newest is drawn in full
            for i, p in enumerate(preds):
                last = i == len(preds) - 1
                t_rel = p.t_us - self._t0()
                self.timestep_view.add_prediction(
                    t_rel, p.probs_per_step, p.probs, draw=last, decision_step=p.decision_step
                )
                self.prediction_view.add_prediction(
                    p.probs,
                    p.truth_index,
                    draw=last,
                    decision=p.decision_index,
                    gesture=p.gesture_index,
                )
            self.predictions += len(preds)
            drew = True
        tap = self.tap
        bins = self.bins if self.event_view.show_bins else 1
        if tap is not None and not self.paused and (tap, tap.version, bins) != self._drawn:
            self._drawn = (tap, tap.version, bins)  # an idle stream costs nothing to display
            win = tap.snapshot(bins, pool=strip_pool(tap.sensor_size[0]) if bins > 1 else 1)
            if win is not None:
                name = getattr(self.source, "name", "") if self.source is not None else ""
                self.event_view.set_window(win, name, self._t0())
                drew = True
        if drew:
            self._frames += 1
        if now - self._fps_mark >= 1.0:
            self._fps = self._frames / (now - self._fps_mark)
            self._frames, self._fps_mark = 0, now
            self.status.set_info(self.status_info())

    def _t0(self) -> int:
        """Origin of the displayed stream time: the source's first event (recordings carry
        absolute timestamps, e.g. µs since 1970)."""
        tap = self.tap
        return tap.t_first if tap is not None and tap.t_first is not None else 0

    def status_info(self) -> StatusInfo:
        """The status fields now (engine statistics + display FPS)."""
        eng = self.engine
        if eng is None:
            return StatusInfo(state="stopped", fps=self._fps)
        st = eng.stats()
        if st.window_us:
            win = f"{st.window_us / 1e3:g} ms"
        else:
            win = f"{st.window_events} events"
        win += f" · T={st.T} · hop {st.hop_us / 1e3:g} ms · {st.mode} mode"
        p = self.predictor
        model = _model_text(p)
        if st.paused:
            state = "paused"
        elif st.running:
            state = "running"
        else:
            state = st.source_status or "ended"
        return StatusInfo(
            source=st.source,
            events_per_s=st.events_per_s,
            window=win,
            model=model or st.model,
            latency_p50_ms=st.latency_p50_ms,
            latency_p99_ms=st.latency_p99_ms,
            dropped=st.dropped,
            fps=self._fps,
            state=state,
            **self._recording_info(),
        )

    def _recording_info(self) -> dict:
        """The status bar's recording field: events written, or the backlog when behind."""
        eng = self.engine
        if eng is None or not eng.recording:
            return {}
        rs = eng.recording_stats()
        if rs is None:
            return {}
        n = rs.events_written
        text = f"REC {n / 1e6:.2f} M ev" if n >= 1e5 else f"REC {n} ev"
        if rs.events_dropped:
            text += f" · {rs.events_dropped} dropped"
        if rs.behind:
            text += f" · behind {rs.backlog_bytes / 2**20:.0f} MiB"
        return {"recording": text, "recording_alert": bool(rs.behind or rs.events_dropped)}

    # -- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the timer and the engine (bounded by ~1 s); idempotent."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self._stop_engine()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        hook, self.about_to_close = self.about_to_close, None
        if hook is not None:
            hook()
        self.shutdown()
        super().closeEvent(event)
