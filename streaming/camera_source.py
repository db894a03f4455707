"""Live iniVation cameras (DVS128, DAVIS, DVXplorer) through dv-processing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from neuromoco.events import EVENT_DTYPE

from .source import SourceBase, SourceError


class CameraNotFoundError(SourceError):
    """No (matching) camera is connected; the message lists what was found."""


def list_cameras() -> list[dict]:
    """Connected iniVation cameras: ``[{"serial", "model", "name"}]`` (empty when none)."""
    import dv_processing as dv

    out = []
    for d in dv.io.camera.discover():
        out.append(
            {
                "serial": str(d.serialNumber),
                "model": str(getattr(d, "cameraModel", "")).split(".")[-1],
                "name": f"{str(getattr(d, 'cameraModel', 'camera')).split('.')[-1]}_{d.serialNumber}",
            }
        )
    return out


def _describe(found: list[dict]) -> str:
    if not found:
        return "no iniVation camera found (is it plugged in, and does this user have USB access?)"
    return "found: " + ", ".join(f"{c['model']} serial {c['serial']}" for c in found)


class CameraSource(SourceBase):
    """Events from a connected camera; ``serial=None`` opens the first one found.

    The stream is live: events keep arriving while paused (they are read and discarded by the
    engine). If the camera is unplugged the iteration ends with status
    ``"ended: camera disconnected"``.

    Raises:
        CameraNotFoundError: no camera, or none with ``serial`` (lists the cameras found).
        SourceError: the camera exists but cannot be opened (in use, permissions).
    """

    live = True

    def __init__(
        self, serial: str | None = None, poll_s: float = 0.002, idle_margin_us: int = 20_000
    ):
        import dv_processing as dv

        found = list_cameras()
        if not found:
            raise CameraNotFoundError(f"camera: {_describe(found)}")
        if serial is not None and serial not in {c["serial"] for c in found}:
            raise CameraNotFoundError(
                f"camera: no camera with serial {serial!r}; {_describe(found)}"
            )
        try:
            cam = dv.io.camera.open(serial) if serial is not None else dv.io.camera.open()
        except (IndexError, RuntimeError) as e:
            # dv-processing raises a bare IndexError (vector::_M_range_check) when the camera
            # vanished between discover() and open()
            raise SourceError(
                f"camera {serial or '(first)'}: cannot open ({e}); {_describe(found)}"
            ) from e
        if not cam.isEventStreamAvailable():
            raise SourceError(f"camera {cam.getCameraName()}: it has no event stream")
        res = cam.getEventResolution()
        super().__init__(cam.getCameraName(), (int(res[0]), int(res[1])), speed=0.0)
        self._cam = cam
        self.serial = serial
        self.poll_s = float(poll_s)
        self.idle_margin_us = int(idle_margin_us)

    def __iter__(self) -> Iterator[np.ndarray]:
        self._set_status("running")
        cam = self._cam
        last = None  # (timestamp of the newest event, perf_counter when it arrived)
        while not self._stop.is_set():
            try:
                running = cam.isRunning()
                batch = cam.getNextEventBatch() if running else None
            except RuntimeError as e:
                self._set_status(f"ended: camera error ({e})")
                return
            if not running:
                self._set_status("ended: camera disconnected")
                return
            if batch is None or batch.size() == 0:
                # a silent scene: advance the watermark on the host clock (minus a margin for
                # events still in USB transfer) so windows keep ticking without events
                if last is not None:
                    t_est = last[0] + int((time.perf_counter() - last[1]) * 1e6)
                    wm = t_est - self.idle_margin_us
                    if wm >= (self._watermark or 0) + 10_000:
                        self._watermark = wm
                        yield np.empty(0, EVENT_DTYPE)
                time.sleep(self.poll_s)
                continue
            ev = _from_store(batch)
            # events at the last timestamp may continue in the next batch
            self._watermark = max(self._watermark or 0, int(ev["t"][-1]))
            last = (int(ev["t"][-1]), time.perf_counter())
            yield ev
        self._set_status("ended: closed")

    def close(self) -> None:
        super().close()


def _from_store(store) -> np.ndarray:
    """dv.EventStore → EVENT_DTYPE (vectorised through its numpy views)."""
    ts = np.asarray(store.timestamps())
    xy = np.asarray(store.coordinates())
    pol = np.asarray(store.polarities())
    ev = np.empty(ts.shape[0], EVENT_DTYPE)
    ev["t"] = ts
    ev["x"] = xy[:, 0]
    ev["y"] = xy[:, 1]
    ev["p"] = pol
    return ev
