"""The event-source protocol every live or replayed stream implements, and its shared base.

A source is an iterable of event chunks (``neuromoco.events.EVENT_DTYPE`` arrays sorted by ``t``,
µs; chunks may be empty) plus:

* ``sensor_size`` ``(width, height)`` pixels, known before iteration starts;
* ``watermark_us``: after each chunk, the stream time before which every event has been
  delivered (a silent scene still advances it, so windows keep ticking);
* ``name`` (what it is, for the status bar) and ``status`` (``"ready"``, ``"running"``,
  ``"paused"``, ``"ended: <why>"``, ``"error: <why>"``);
* ``live``: True for cameras (events keep coming while paused; they are discarded);
* ``truth_label(t_start_us, t_end_us)``: the ground-truth class index of a stretch of stream
  when the source knows it (the synthetic stream), else None; ``class_names`` goes with it;
* ``close()``: thread-safe; ends a running iteration promptly (within ~50 ms);
* ``pause()``/``resume()`` and a ``speed`` attribute for replayed sources.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from neuromoco.events import EVENT_DTYPE, SensorSize

from .pacer import Pacer


class SourceError(OSError):
    """A source that cannot be opened or read (names the source and the reason)."""


@runtime_checkable
class EventSource(Protocol):
    name: str
    sensor_size: SensorSize
    live: bool
    class_names: tuple[str, ...] | None

    @property
    def status(self) -> str: ...

    @property
    def watermark_us(self) -> int | None: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...

    def truth_label(self, t_start_us: int, t_end_us: int) -> int | None: ...

    @property
    def speed(self) -> float: ...

    @speed.setter
    def speed(self, v: float) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class SourceBase:
    """Shared plumbing: status, stop flag, pacing, watermark and the replay slicer."""

    live = False
    class_names: tuple[str, ...] | None = None

    def __init__(self, name: str, sensor_size: SensorSize, speed: float = 0.0):
        self.name = name
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self._stop = threading.Event()
        self.pacer = Pacer(speed, self._stop)
        self._status = "ready"
        self._watermark: int | None = None

    # status -----------------------------------------------------------------
    @property
    def status(self) -> str:
        return self._status

    def _set_status(self, s: str) -> None:
        self._status = s

    @property
    def watermark_us(self) -> int | None:
        return self._watermark

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    # control ----------------------------------------------------------------
    @property
    def speed(self) -> float:
        """Replay speed (1.0 = real time, 0 = as fast as possible)."""
        return self.pacer.speed

    @speed.setter
    def speed(self, v: float) -> None:
        self.pacer.speed = v

    def pause(self) -> None:
        self.pacer.pause()
        if self._status == "running":
            self._status = "paused"

    def resume(self) -> None:
        self.pacer.resume()
        if self._status == "paused":
            self._status = "running"

    def close(self) -> None:
        self._stop.set()
        if not self._status.startswith(("ended", "error")):
            self._status = "ended: closed"

    def truth_label(self, t_start_us: int, t_end_us: int) -> int | None:
        return None

    def __iter__(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.sensor_size}, {self._status!r})"

    # replay -----------------------------------------------------------------
    def _replay(self, chunks: Iterable[np.ndarray], slice_us: int) -> Iterator[np.ndarray]:
        """Yield ``chunks`` (sorted, monotonic across chunks) paced by ``self.pacer``.

        Paced: cut into slices of ``slice_us`` of stream time on a grid from the first event,
        each released when due with the slice end as watermark (empty slices too, so silent
        stretches keep the clock moving). Unpaced (speed ≤ 0): whole chunks with their last
        timestamp as watermark. The stream ends with an empty chunk at watermark last t + 1.
        """
        edge = None  # end of the next slice to release
        carry = None  # events of a slice that may continue in the next chunk
        last_t = None
        for c in chunks:
            if self._stop.is_set():
                return
            if c.shape[0] == 0:
                continue
            if edge is None:
                edge = int(c["t"][0]) + slice_us
            last_t = int(c["t"][-1])
            if self.pacer.speed <= 0:
                if carry is not None:
                    c, carry = np.concatenate([carry, c]), None
                if not self.pacer.wait_until(last_t):  # honours pause and stop
                    return
                self._watermark = last_t
                edge = max(edge, last_t + 1)
                yield c
                continue
            if carry is not None:
                c, carry = np.concatenate([carry, c]), None
            t = c["t"]
            a = 0
            while edge <= last_t:  # slices ending at or before the last event are complete
                b = int(np.searchsorted(t, edge, side="left"))
                if not self.pacer.wait_until(edge):
                    return
                self._watermark = edge
                yield c[a:b]
                a = b
                edge += slice_us
            carry = c[a:] if a < c.shape[0] else None
        if last_t is None or self._stop.is_set():
            return
        end = last_t + 1
        if not self.pacer.wait_until(end):
            return
        self._watermark = end
        yield carry if carry is not None else np.empty(0, EVENT_DTYPE)
