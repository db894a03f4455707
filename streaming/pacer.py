"""Real-time pacing of a replayed stream: release stream time ``t`` at wall time ``t / speed``."""

from __future__ import annotations

import threading
import time


class Pacer:
    """Maps stream time (µs) to wall time for replay at ``speed``× (``speed <= 0``: no pacing).

    Thread-safe: :meth:`pause`, :meth:`resume` and the ``speed`` setter may be called from any
    thread while another thread waits in :meth:`wait_until`; pausing freezes stream time (the
    replay resumes where it stopped, with no burst of backlog), changing speed re-anchors the
    clock at the current stream position. ``stop_event`` (a ``threading.Event``) interrupts waits.
    """

    def __init__(self, speed: float = 1.0, stop_event: threading.Event | None = None):
        self._lock = threading.Condition()
        self._speed = float(speed)
        self._anchor_t: int | None = None  # stream µs at the anchor
        self._anchor_wall = 0.0  # perf_counter seconds at the anchor
        self._paused_at: float | None = None
        self.stop_event = stop_event or threading.Event()

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        with self._lock:
            now = time.perf_counter()
            if self._anchor_t is not None and self._speed > 0:
                self._anchor_t = self._stream_time(now)
                self._anchor_wall = now
            else:
                self._anchor_t = None  # re-anchor at the next wait
            self._speed = float(value)
            self._lock.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def _stream_time(self, now: float) -> int:
        if self._paused_at is not None:
            now = self._paused_at
        return self._anchor_t + int((now - self._anchor_wall) * 1e6 * self._speed)

    def pause(self) -> None:
        with self._lock:
            if self._paused_at is None:
                self._paused_at = time.perf_counter()

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._anchor_wall += time.perf_counter() - self._paused_at
                self._paused_at = None
                self._lock.notify_all()

    def reset(self) -> None:
        """Forget the anchor: the next :meth:`wait_until` starts the clock."""
        with self._lock:
            self._anchor_t = None

    def wait_until(self, t_us: int) -> bool:
        """Block until stream time ``t_us`` is due; False if ``stop_event`` was set meanwhile."""
        with self._lock:
            while True:
                if self.stop_event.is_set():
                    return False
                if self._paused_at is None:
                    if self._speed <= 0:
                        return True
                    now = time.perf_counter()
                    if self._anchor_t is None:
                        self._anchor_t, self._anchor_wall = int(t_us), now
                        return True
                    due = self._anchor_wall + (int(t_us) - self._anchor_t) / (1e6 * self._speed)
                    if due <= now:
                        return True
                    # short waits so a stop request is seen within ~50 ms
                    self._lock.wait(min(due - now, 0.05))
                else:
                    self._lock.wait(0.05)
