"""The control toolbar: sources, pause/resume, replay speed, mode, model, record, screenshot.

The toolbar only turns user actions into signals; :class:`~neuromoco.app.window.MainWindow`
acts on them. File dialogs open here (never in tests, which call the window's slots directly).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from neuromoco.app.engine_adapter import FILE_SUFFIXES, MODES

EVENT_FILE_FILTER = f"Event recordings ({' '.join('*' + s for s in FILE_SUFFIXES)});;All files (*)"
"""Every format the readers read (``.csv``/``.txt`` and ``.aedat2`` too), from the one format
registry."""
MODEL_FILE_FILTER = "Models (*.pt *.pth *.onnx);;All files (*)"

SPEEDS: tuple[tuple[str, float | None], ...] = (
    ("0.25×", 0.25),
    ("0.5×", 0.5),
    ("1×", 1.0),
    ("2×", 2.0),
    ("4×", 4.0),
    ("max", None),
)
"""Replay speeds for file sources (``None``: as fast as inference allows)."""


class Controls(QtWidgets.QToolBar):
    """Toolbar whose signals the main window connects to.

    Signals:
        open_file(str): a recording was chosen.
        open_camera(object): ``None`` (first camera) or a serial string.
        open_webcam(int): OpenCV device index.
        open_demo(): the procedural-gesture demo.
        pause_toggled(bool): ``True`` = pause.
        speed_changed(object): a float factor or ``None`` (max).
        mode_changed(str): ``"window"`` or ``"stream"``.
        model_chosen(str): a checkpoint or ``.onnx`` path.
        record_toggled(str): a target ``.aedat4`` path to start, ``""`` to stop.
        screenshot(str): a ``.png`` path.
        refresh_cameras(): the camera list should be rediscovered.
    """

    open_file = QtCore.Signal(str)
    open_camera = QtCore.Signal(object)
    open_webcam = QtCore.Signal(int)
    open_demo = QtCore.Signal()
    pause_toggled = QtCore.Signal(bool)
    speed_changed = QtCore.Signal(object)
    mode_changed = QtCore.Signal(str)
    model_chosen = QtCore.Signal(str)
    record_toggled = QtCore.Signal(str)
    screenshot = QtCore.Signal(str)
    refresh_cameras = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("controls", parent)
        self.setMovable(False)
        self.act_file = self.addAction("Open file…", self._choose_file)
        self.act_file.setToolTip("Replay an event recording (AEDAT4/3.1/2, Prophesee, ATIS, npz)")

        self.camera_box = QtWidgets.QComboBox()
        self.camera_box.setToolTip("Discovered iniVation cameras")
        self.camera_box.setMinimumContentsLength(14)
        self.addWidget(self.camera_box)
        self.act_camera = self.addAction("Camera", self._choose_camera)
        self.act_refresh = self.addAction("⟳", self.refresh_cameras.emit)
        self.act_refresh.setToolTip("Rediscover cameras")

        self.webcam_spin = QtWidgets.QSpinBox()
        self.webcam_spin.setRange(0, 16)
        self.webcam_spin.setToolTip("OpenCV webcam index")
        self.addWidget(self.webcam_spin)
        self.act_webcam = self.addAction(
            "Webcam", lambda: self.open_webcam.emit(self.webcam_spin.value())
        )
        self.act_webcam.setToolTip("Emulate events from a webcam (frame → event emulator)")
        self.act_demo = self.addAction("Demo", self.open_demo.emit)
        self.act_demo.setToolTip("Procedural gestures with ground truth")
        self.addSeparator()

        self.act_pause = self.addAction("Pause")
        self.act_pause.setCheckable(True)
        self.act_pause.toggled.connect(self._pause)
        self.addWidget(QtWidgets.QLabel(" speed "))
        self.speed_box = QtWidgets.QComboBox()
        for text, val in SPEEDS:
            self.speed_box.addItem(text, val)
        self.speed_box.setCurrentIndex(2)
        self.speed_box.setToolTip("Replay speed of recordings")
        self.speed_box.currentIndexChanged.connect(
            lambda i: self.speed_changed.emit(self.speed_box.itemData(i))
        )
        self.addWidget(self.speed_box)
        self.addWidget(QtWidgets.QLabel(" mode "))
        self.mode_box = QtWidgets.QComboBox()
        self.mode_box.addItems(list(MODES))
        self.mode_box.setToolTip(
            "window: reset and run the whole T-bin window every hop (training semantics); "
            "stream: advance the network one bin at a time (~1/T of the cost)"
        )
        self.mode_box.currentTextChanged.connect(self.mode_changed.emit)
        self.addWidget(self.mode_box)
        self.addSeparator()
        self.act_model = self.addAction("Model…", self._choose_model)
        self.act_model.setToolTip("Load a checkpoint (.pt) or ONNX model")
        self.act_record = self.addAction("Record", self._record)
        self.act_record.setCheckable(True)
        self.act_record.setToolTip("Record the raw input events to an AEDAT4 file")
        self.act_shot = self.addAction("Screenshot", self._screenshot)

    # -- state setters used by the window (no signals emitted) --------------------------------
    def set_cameras(self, cameras: list[str]) -> None:
        """Fill the camera list (``[]``: "no camera found")."""
        self.camera_box.clear()
        if cameras:
            self.camera_box.addItems(cameras)
        else:
            self.camera_box.addItem("no camera found")
        self.camera_box.setEnabled(bool(cameras))
        self.act_camera.setEnabled(bool(cameras))
        self._cameras = list(cameras)

    def set_paused(self, paused: bool) -> None:
        with QtCore.QSignalBlocker(self.act_pause):
            self.act_pause.setChecked(paused)
            self.act_pause.setText("Resume" if paused else "Pause")

    def set_mode(self, mode: str) -> None:
        with QtCore.QSignalBlocker(self.mode_box):
            self.mode_box.setCurrentText(mode)

    def set_speed(self, speed: float | None) -> None:
        with QtCore.QSignalBlocker(self.speed_box):
            for i in range(self.speed_box.count()):
                if self.speed_box.itemData(i) == speed:
                    self.speed_box.setCurrentIndex(i)

    def set_recording(self, on: bool) -> None:
        with QtCore.QSignalBlocker(self.act_record):
            self.act_record.setChecked(on)
            self.act_record.setText("Stop recording" if on else "Record")

    # -- dialogs -----------------------------------------------------------------------------
    def _pause(self, on: bool) -> None:
        self.act_pause.setText("Resume" if on else "Pause")
        self.pause_toggled.emit(on)

    def _choose_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open event recording", "", EVENT_FILE_FILTER
        )
        if path:
            self.open_file.emit(path)

    def _choose_camera(self) -> None:
        cams = getattr(self, "_cameras", [])
        if cams:
            self.open_camera.emit(cams[self.camera_box.currentIndex()])

    def _choose_model(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load model", "", MODEL_FILE_FILTER)
        if path:
            self.model_chosen.emit(path)

    def _record(self) -> None:
        if self.act_record.isChecked():
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Record events to", "recording.aedat4", "AEDAT4 (*.aedat4)"
            )
            if not path:
                self.set_recording(False)
                return
            self.record_toggled.emit(path)
        else:
            self.record_toggled.emit("")

    def _screenshot(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save screenshot", "neuromoco.png", "PNG (*.png)"
        )
        if path:
            self.screenshot.emit(path)
