"""A webcam as an event camera: OpenCV frames → events with ``neuromoco.emulator.EventEmulator``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from .source import SourceBase, SourceError


class WebcamSource(SourceBase):
    """Grayscale webcam frames converted to events (log-intensity contrast threshold, per-pixel
    reference), so the app can be tried without an event camera.

    Args:
        index: OpenCV camera index.
        size: ``(width, height)`` the frames are resized to before emulation (pixels); the
            emulated sensor has this size.
        emulator: an ``EventEmulator`` (default: its default configuration).

    Raises:
        SourceError: no webcam at ``index`` (or it delivers no frames).
    """

    live = True

    def __init__(self, index: int = 0, size=(128, 128), emulator=None, capture=None):
        import cv2

        from neuromoco.emulator import EventEmulator

        self._cv2 = cv2
        cap = capture if capture is not None else cv2.VideoCapture(int(index))
        if cap is None or not cap.isOpened():
            raise SourceError(f"webcam {index}: cannot open it (no webcam at this index?)")
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"webcam {index}: opened but delivers no frames")
        w, h = int(size[0]), int(size[1])
        super().__init__(f"webcam {index}", (w, h), speed=0.0)
        self._cap = cap
        self._first = frame
        self.emulator = emulator or EventEmulator(sensor_size=(w, h))
        self.frames = 0

    def _gray(self, frame) -> np.ndarray:
        cv2 = self._cv2
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if (frame.shape[1], frame.shape[0]) != self.sensor_size:
            frame = cv2.resize(frame, self.sensor_size, interpolation=cv2.INTER_AREA)
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        self._set_status("running")
        t_wall0 = time.perf_counter()
        frame = self._first
        try:
            while not self._stop.is_set():
                if frame is None:
                    ok, frame = self._cap.read()
                    if not ok or frame is None:
                        self._set_status("ended: webcam delivered no frame (unplugged?)")
                        return
                t_us = int((time.perf_counter() - t_wall0) * 1e6)
                ev = self.emulator.process(self._gray(frame), t_us)
                self.frames += 1
                frame = None
                self._watermark = t_us + 1  # the emulator returns every event up to t_us
                yield ev
        finally:
            self._cap.release()
        self._set_status("ended: closed")
