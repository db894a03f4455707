"""The base class of the streaming event writers (one per format module): chunk checks, the
event count, flush and close, the context manager. :func:`neuromoco.formats.writer.open_writer`
picks the format's writer; the format modules subclass :class:`EventWriter` from here, so the
factory and the formats do not import each other in a circle.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from neuromoco.formats.base import xy_view
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, make_events

WRITEBACK_BYTES = 16 << 20
"""Start the kernel's writeback every this many bytes written (see ``_start_writeback``)."""
_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", None)


class EventWriter(ABC):
    """Base of the streaming writers: checks every chunk, counts events, owns the file.

    Subclasses implement ``_start()`` (write the header), ``_emit(events)`` (encode and write
    one packet of checked events; at most ``packet_events`` of them) and may implement
    ``_finish()`` (trailer/index; called once by ``close``). The base buffers events until a
    packet is full, so memory holds at most one packet whatever the chunk sizes; ``flush()``
    writes a shorter packet.
    """

    format: str = ""
    max_t: int = (1 << 63) - 1
    """Largest timestamp (µs) the format can hold."""
    max_coord: int = 1 << 16
    """Coordinates must be below this (pixels)."""
    packet_events: int = 1 << 15
    """Events per packet (per encoded block for formats without packets)."""

    def __init__(
        self,
        path: str | Path,
        sensor_size: SensorSize,
        overwrite: bool = False,
        label: str | Path | None = None,
    ):
        self.path = Path(path)
        self.label = str(label if label is not None else path)
        """The name error messages use (the final path when writing to a temporary file)."""
        w, h = (int(v) for v in sensor_size)
        if not (0 < w <= self.max_coord and 0 < h <= self.max_coord):
            raise ValueError(
                f"{self.label}: sensor size {w}x{h} does not fit {self.format} "
                f"(1..{self.max_coord} pixels a side)"
            )
        self.sensor_size: SensorSize = (w, h)
        self.events_written = 0
        self.last_t: int | None = None
        self.closed = False
        self._wb_pos = 0 if _DONTNEED is not None else -1  # writeback started up to here
        self._buf: np.ndarray | None = None  # the pending packet (allocated on first use)
        self._n_pending = 0
        parent = self.path.parent
        if not parent.is_dir():
            raise FileNotFoundError(f"{self.label}: output folder {parent} does not exist")
        self._f = open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115 (closed in close)
        try:
            self._start()
        except BaseException:
            self._f.close()
            self.path.unlink(missing_ok=True)
            raise

    # -- public API ---------------------------------------------------------------------------

    def write(self, events: np.ndarray) -> None:
        """Append ``events`` (sorted by t µs, not older than what was written before)."""
        if self.closed:
            raise ValueError(f"{self.label}: writer is closed")
        ev = self._check(events)
        if ev.size:
            self._write(ev)
            self.events_written += int(ev.size)
            self.last_t = int(ev["t"][-1])
            if self._wb_pos >= 0 and self._f.tell() - self._wb_pos >= WRITEBACK_BYTES:
                self._start_writeback()

    def _start_writeback(self) -> None:
        """Ask the kernel to start writing the bytes written since the last call to disk, without
        waiting (Linux: ``posix_fadvise(DONTNEED)`` starts writeback of dirty pages, then drops
        the clean ones). The disk then works while we encode, and ``flush()``/``close()`` wait
        only for the tail: the final fsync of a 20 M-event AEDAT 4.0 file took 17 % of the
        writer's time before. Not durability: that is what flush() is for."""
        pos = self._f.tell()
        self._f.flush()
        try:
            os.posix_fadvise(self._f.fileno(), self._wb_pos, pos - self._wb_pos, _DONTNEED)
        except (OSError, AttributeError):  # not Linux/POSIX, or a file system without it
            self._wb_pos = -1
            return
        self._wb_pos = pos

    def flush(self) -> None:
        """Write everything buffered and fsync: the file is readable up to here after a crash."""
        if self.closed:
            return
        self._flush()
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        """Finalise the file (index/trailer) and close it. Idempotent."""
        if self.closed:
            return
        try:
            self._flush()
            self._finish()
            self._f.flush()
            os.fsync(self._f.fileno())
        finally:
            self.closed = True
            self._f.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __del__(self):  # a writer dropped without close(): leave a valid file behind
        try:
            if not self.closed and not self._f.closed:
                self.close()
        except Exception:
            pass

    # -- checks -------------------------------------------------------------------------------

    def _check(self, events: np.ndarray) -> np.ndarray:
        ev = np.asarray(events)
        if ev.dtype != EVENT_DTYPE:
            if ev.dtype.names is None or not set("txyp") <= set(ev.dtype.names):
                raise ValueError(f"{self.label}: events must be a structured array with t, x, y, p")
            ev = make_events(ev["t"], ev["x"], ev["y"], ev["p"])
        if ev.ndim != 1:
            raise ValueError(f"{self.label}: events must be 1-D, got shape {ev.shape}")
        if ev.size == 0:
            return ev
        ev = np.ascontiguousarray(ev)
        # the checks run on contiguous columns (one strided copy each, then fast reductions):
        # comparisons straight on the 13-byte records' fields are ~3x slower
        t = ev["t"].copy()
        if t.size > 1 and bool((t[1:] < t[:-1]).any()):
            raise ValueError(f"{self.label}: events must be sorted by t (use sort_events)")
        t0, t1 = int(t[0]), int(t[-1])
        if self.last_t is not None and t0 < self.last_t:
            raise ValueError(
                f"{self.label}: chunk starts at t={t0} µs, before the previous chunk's last event "
                f"(t={self.last_t} µs): chunks must come in time order"
            )
        if t0 < 0 or t1 > self.max_t:
            raise ValueError(
                f"{self.label}: {self.format} holds timestamps 0..{self.max_t} µs, got {t0}..{t1}"
            )
        w, h = self.sensor_size
        xy = xy_view(ev).copy()  # x | y << 16: y < h exactly when xy < h << 16
        xmax = int(xy.view(np.uint16)[0::2].max())
        ymax = int(xy.max()) >> 16
        if xmax >= w or ymax >= h:
            raise EventFormatError(
                self.label,
                f"event coordinates outside the {w}x{h} sensor (max x={xmax}, max y={ymax})",
            )
        if int(ev["p"].max()) > 1:
            raise ValueError(f"{self.label}: polarity values other than 0/1")
        return ev

    # -- format hooks -------------------------------------------------------------------------

    @abstractmethod
    def _start(self) -> None:
        """Write the file header."""

    @abstractmethod
    def _emit(self, events: np.ndarray) -> None:
        """Encode and write one packet of checked events."""

    def _write(self, ev: np.ndarray) -> None:
        k = self.packet_events
        if self._n_pending:
            # complete the pending packet with the head of this chunk (copied as bytes into the
            # packet buffer: the caller may reuse its array once write() returns, and numpy
            # copies the packed 13-byte records field by field ~4x slower than their bytes)
            take = min(k - self._n_pending, ev.shape[0])
            self._put(ev[:take])
            ev = ev[take:]
            if self._n_pending < k:
                return
            self._n_pending = 0
            self._emit(self._buf)
        n_full = ev.shape[0] - ev.shape[0] % k
        for i in range(0, n_full, k):
            self._emit(ev[i : i + k])
        if n_full < ev.shape[0]:
            self._put(ev[n_full:])

    def _put(self, ev: np.ndarray) -> None:
        """Append ``ev`` (contiguous) to the pending packet buffer."""
        if self._buf is None:
            self._buf = np.empty(self.packet_events, dtype=EVENT_DTYPE)
        n = ev.shape[0]
        dst = self._buf.view(np.uint8)
        b = EVENT_DTYPE.itemsize
        dst[self._n_pending * b : (self._n_pending + n) * b] = ev.view(np.uint8)
        self._n_pending += n

    def _flush(self) -> None:
        if self._n_pending:
            n, self._n_pending = self._n_pending, 0
            self._emit(self._buf[:n])

    def _finish(self) -> None:  # noqa: B027 (optional hook: most formats have no trailer)
        """Write the trailer/index, if the format has one (called once by ``close``)."""
