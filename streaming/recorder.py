"""Record the raw input events of a stream to a file while they arrive, off the source thread.

::

    rec = Recorder("run.aedat4", sensor_size=(128, 128), on_status=print)
    for chunk in source:          # any thread; add() only copies the chunk into a queue
        rec.add(chunk)
    rec.close()                   # drains the queue, finalises, renames to run.aedat4

How it works, and what it promises:

* **Streaming.** A writer thread (``neuromoco-recorder``) takes the queued chunks every
  ``tick_s`` (50 ms) and appends them with the streaming writer of
  :mod:`neuromoco.formats.writer`; it calls ``flush()`` (fsync) every ``flush_s`` (0.5 s). Memory
  holds the queue (bounded, below) and ``reorder_us`` of events, not the recording.
* **Surviving a kill.** Until a clean :meth:`Recorder.close` the data goes to
  ``<stem>.partial<suffix>`` beside the target (``run.partial.aedat4``). After every flush that
  file is readable as it is (``neuromoco info``, dv-processing, ``aedat``, any reader of the
  format), so a SIGKILL or a power cut loses at most the last ``flush_s`` + ``tick_s`` of input.
  A clean close finalises it (AEDAT 4.0: the packet index) and renames it over the target
  (``os.replace``: an older file of that name stays intact until the new recording is complete).
  :func:`find_partial_recordings` lists leftovers; :func:`leftover_message` says how to use one.
* **Order.** Live cameras deliver a few events out of order; a streaming file needs them
  sorted. The writer holds back the newest ``reorder_us`` (20 ms) of stream time, so events up to
  20 ms late are sorted into place (stable: equal timestamps keep their arrival order). An event
  later than that (older than what is already in the file) is still written, with its timestamp
  raised to the file's last one; such events are counted (``events_late``) and reported.
* **Backlog policy.** ``add`` never blocks and never writes. When the queue passes
  ``warn_bytes`` (64 MiB ≈ 5 M events) a status of kind ``"warning"`` says the recording is
  behind, with the backlog, every 2 s until it has caught up (then a ``"recording"`` status says
  so). A chunk that would take the queue past ``max_bytes`` (512 MiB ≈ 41 M events: 4 s of a
  10 M ev/s camera whose disk has stalled) is dropped whole, counted in ``events_dropped``, and
  reported with a status of kind ``"error"`` (the first drop at once, then every 2 s, and the
  total when the recording is written). Accounting is exact: when the recorder is closed,
  ``events_in == events_written + events_dropped``.
* **Formats.** :data:`RECORD_FORMATS` (every streaming format): AEDAT 4.0 (default, ``.aedat4``),
  AEDAT 3.1 (``.aedat``/``.aedat3``), EVT 2.0 / EVT 3.0 (``.raw`` + ``format=``), DAT (``.dat``).
  ``.npz`` is refused: an npz file can only be written whole at the end. In EVT 2.0/3.0 and DAT,
  a stream whose timestamps are large (µs since 1970 from an iniVation camera) is written
  relative to its first event (:data:`REBASE_ABOVE_US`; ``t_offset_us`` in the stats, said in a
  ``"warning"`` status); AEDAT keeps every timestamp as it is.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromoco.events import EVENT_DTYPE, SensorSize
from neuromoco.formats import registry
from neuromoco.types import concat_events

RECORD_FORMATS: tuple[str, ...] = registry.STREAM_WRITABLE
"""Formats a recording can be written in: every streaming format of the format registry."""
PARTIAL_TAG = ".partial"
_RECORD_SUFFIXES = registry.suffixes_of(RECORD_FORMATS)
_PARTIAL_NAME = re.compile(
    r"\.partial\d*(" + "|".join(map(re.escape, _RECORD_SUFFIXES)) + ")$", re.IGNORECASE
)

DEFAULT_REORDER_US = 20_000
DEFAULT_FLUSH_S = 0.5
DEFAULT_TICK_S = 0.05
DEFAULT_WARN_BYTES = 64 << 20
DEFAULT_MAX_BYTES = 512 << 20
_REPEAT_S = 2.0  # repeat period of backlog/drop statuses (seconds)
_BATCH_BYTES = 8 << 20  # most bytes of queued chunks the writer thread takes in one pass
_MIN_BATCH_BYTES = 1 << 20  # the writer thread waits (≤ tick_s) for this much: few big writes
REBASE_FORMATS = ("evt2", "evt3", "dat")
REBASE_ABOVE_US = 1 << 31
"""A recording in a Prophesee format whose first event is at or after this time (µs, ≈ 36 min)
is written with timestamps relative to its first event: those formats count µs from the camera's
start (DAT holds < 2**32, EVT 2.0 < 2**34; EVT 3.0 would spell out every 2**24 µs wrap since 0),
while an iniVation camera gives µs since 1970."""


def check_record_target(path: str | Path, format: str | None = None) -> str:
    """Check that a recording can go to ``path`` (format, folder) without creating anything;
    returns the format. Raises ``ValueError``/``OSError`` naming the path and the reason.

    The format is the one every writer picks (:func:`neuromoco.formats.registry.output_format`:
    ``format``, else the suffix's; ``.raw`` needs ``format``), with two recorder rules: never
    npz, and a given ``format`` must go with the suffix (the recording keeps its name)."""
    p = Path(path)
    if p.suffix.lower() == ".npz" or (format or "").lower() == "npz":
        raise ValueError(
            f"{p}: cannot record to .npz: an npz file is written whole at the end (its arrays' "
            "sizes come before their data), so the recording would sit in memory and a crash "
            "would lose it; record to .aedat4 (default), .aedat, .dat or .raw (EVT 2.0/3.0) and "
            f"convert afterwards (neuromoco convert {p.with_suffix('.aedat4').name} {p.name})"
        )
    fmt = registry.output_format(
        p, format, stream=True, action="record", option="--record-format", match_suffix=True
    )
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{p}: cannot record there, the folder {p.parent} does not exist")
    if p.is_dir():
        raise IsADirectoryError(f"{p}: cannot record to a folder")
    return fmt


def partial_path_for(path: str | Path) -> Path:
    """Where a recording to ``path`` is written until it is closed cleanly:
    ``<stem>.partial<suffix>`` (``<stem>.partial2<suffix>``, … when a leftover of an earlier run
    already has that name: leftovers are never overwritten)."""
    p = Path(path)
    for i in range(1, 10_000):
        tag = PARTIAL_TAG if i == 1 else f"{PARTIAL_TAG}{i}"
        cand = p.with_name(f"{p.stem}{tag}{p.suffix}")
        if not cand.exists():
            return cand
    raise FileExistsError(f"{p}: too many leftover {PARTIAL_TAG} files beside it")


def find_partial_recordings(folder: str | Path) -> list[Path]:
    """Recordings left by a run that did not stop cleanly (killed, crashed, power cut) in
    ``folder``: ``*.partial<suffix>`` files, oldest first. Each is readable as it is up to its
    last flush; see :func:`leftover_message`."""
    d = Path(folder)
    if not d.is_dir():
        return []
    found = [p for p in d.iterdir() if _PARTIAL_NAME.search(p.name) and p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def final_path_of(partial: str | Path) -> Path:
    """The name a partial recording was meant to get (``run.partial.aedat4`` → ``run.aedat4``)."""
    p = Path(partial)
    return p.with_name(_PARTIAL_NAME.sub(lambda m: m.group(1), p.name))


def leftover_message(partial: str | Path) -> str:
    """One line on a leftover partial recording: what it is and how to use it."""
    p = Path(partial)
    final = final_path_of(p)
    size = p.stat().st_size if p.exists() else 0
    return (
        f"found {p} ({size / 1e6:.1f} MB), a recording that did not stop cleanly: it is "
        f"readable as it is up to its last flush (neuromoco info {p}); to finalise it run "
        f"`neuromoco convert {p} {final}` (or rename it)"
    )


@dataclass(frozen=True)
class RecorderStats:
    """Counters of a :class:`Recorder` (events; bytes of the queued chunks)."""

    path: Path
    """The target file (the file exists under this name once the recorder is closed)."""
    partial_path: Path
    """The file written until then."""
    format: str
    events_in: int
    """Events given to :meth:`Recorder.add` (empty chunks aside)."""
    events_written: int
    """Events handed to the file writer (on disk after the next flush)."""
    events_dropped: int
    """Events dropped because the queue was full, or after a write error."""
    events_late: int
    """Events older than what was already written: written with the file's last timestamp."""
    t_offset_us: int
    """Subtracted from every timestamp in the file (0 but for :data:`REBASE_FORMATS`)."""
    backlog_bytes: int
    backlog_events: int
    behind: bool
    """The backlog is above the warning level."""
    closed: bool
    error: str | None


def _copy(events: np.ndarray) -> np.ndarray:
    """A contiguous ``EVENT_DTYPE`` copy; as bytes: numpy copies 13-byte structured records
    field by field, ~4x slower than the memcpy of their bytes."""
    if events.dtype == EVENT_DTYPE and events.flags.c_contiguous:
        return events.view(np.uint8).copy().view(EVENT_DTYPE)
    return np.ascontiguousarray(events, dtype=EVENT_DTYPE)


class _Reorder:
    """Holds back the newest ``hold_us`` of stream time so that slightly late events can be
    sorted into place; events older than what was released get the last released timestamp."""

    def __init__(self, hold_us: int):
        self.hold_us = int(hold_us)
        self.held = np.empty(0, EVENT_DTYPE)
        self.last_out: int | None = None
        self.late = 0

    def push(self, chunks: list[np.ndarray]) -> np.ndarray:
        """Take chunks (arrival order; arrays this object may modify) → the events now final,
        sorted by t."""
        parts = [self.held, *chunks] if self.held.size else chunks
        ev = concat_events(parts)
        t = ev["t"]
        if self.last_out is not None and t.size and int(t.min()) < self.last_out:
            late = t < self.last_out
            self.late += int(np.count_nonzero(late))
            t[late] = self.last_out
        if t.size > 1 and bool(np.any(t[1:] < t[:-1])):
            # equal t: arrival order; the records moved as opaque 13-byte items (2x faster)
            order = np.argsort(t, kind="stable")
            ev = ev.view(f"V{EVENT_DTYPE.itemsize}")[order].view(EVENT_DTYPE)
            t = ev["t"]
        if not t.size:
            return ev
        k = int(np.searchsorted(t, int(t[-1]) - self.hold_us, side="right"))
        out, self.held = ev[:k], ev[k:]
        if k:
            self.last_out = int(out["t"][-1])
        return out

    def release(self) -> np.ndarray:
        out, self.held = self.held, np.empty(0, EVENT_DTYPE)
        if out.size:
            self.last_out = int(out["t"][-1])
        return out


class Recorder:
    """Streams the chunks given to :meth:`add` to ``path`` from a writer thread (see the module
    docstring for the guarantees). Thread-safe: ``add`` from the source thread, ``stats`` and
    ``close`` from any thread.

    Args:
        path: the target file; the format follows the suffix (:func:`check_record_target`).
        sensor_size: ``(width, height)`` pixels of the recorded source.
        format: one of :data:`RECORD_FORMATS` (needed for ``.raw``: ``"evt2"``/``"evt3"``).
        on_status: called with ``(kind, message)`` from the adding or the writer thread:
            ``"recording"`` (started, caught up, written), ``"warning"`` (behind, late events),
            ``"error"`` (events dropped, write failure).
        flush_s: seconds between two flushes (fsync) of the file.
        reorder_us: stream time (µs) held back to sort late events into place.
        warn_bytes, max_bytes: queue sizes (bytes of queued events, 13 per event) at which the
            recorder says it is behind, and beyond which it drops chunks (counted).
        tick_s: seconds between two passes of the writer thread.
        writer_factory: ``open_writer``-like callable ``(path, sensor_size, format=...)`` (tests
            and benchmarks: a slow writer); ``None``: :func:`neuromoco.formats.writer.open_writer`.
        writer_options: passed to the writer (AEDAT 4.0: ``compression``, ``packet_events``).

    The file (``<stem>.partial<suffix>``) is created here, so a bad path fails at once.
    """

    def __init__(
        self,
        path: str | Path,
        sensor_size: SensorSize,
        format: str | None = None,
        *,
        on_status: Callable[[str, str], None] | None = None,
        flush_s: float = DEFAULT_FLUSH_S,
        reorder_us: int = DEFAULT_REORDER_US,
        warn_bytes: int = DEFAULT_WARN_BYTES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        tick_s: float = DEFAULT_TICK_S,
        writer_factory: Callable | None = None,
        writer_options: dict | None = None,
    ):
        self.path = Path(path)
        self.format = check_record_target(self.path, format)
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.on_status = on_status
        self.flush_s = float(flush_s)
        self.tick_s = float(tick_s)
        self.warn_bytes = int(warn_bytes)
        self.max_bytes = int(max_bytes)
        self.partial_path = partial_path_for(self.path)
        if writer_factory is None:
            from neuromoco.formats.writer import open_writer as writer_factory
        self._writer = writer_factory(
            self.partial_path,
            self.sensor_size,
            format=self.format,
            **(writer_options or {}),
        )
        self._reorder = _Reorder(reorder_us)
        self._cond = threading.Condition()
        self._queue: deque[np.ndarray] = deque()
        self._q_bytes = 0  # queued and not yet written (the batch being written included)
        self._queued_bytes = 0  # in the queue only
        self._q_events = 0
        self.events_in = 0
        self.events_dropped = 0
        self._written = 0
        self.closed = False  # no more add()
        self.finished = threading.Event()  # the file is final (or failed)
        self.error: str | None = None
        self.final_path: Path | None = None
        self._behind = False
        self._last_warn = -1e9
        self._last_drop_msg = -1e9
        self._late_reported = 0
        self.t_offset_us = 0
        self._t_first: int | None = None
        # a daemon thread plus an exit hook: a program that ends without close() still gets a
        # complete file (the hook runs before daemon threads are stopped), and never hangs at
        # exit waiting for a recorder nobody closes
        self._thread = threading.Thread(target=self._run, name="neuromoco-recorder", daemon=True)
        self._thread.start()
        _LIVE.add(self)

    # ---------------------------------------------------------------- producer side
    def add(self, events: np.ndarray) -> None:
        """Queue a copy of ``events`` (``EVENT_DTYPE``); never blocks on the disk."""
        n = int(events.shape[0])
        if n == 0:
            return
        nbytes = n * EVENT_DTYPE.itemsize
        msg = None
        with self._cond:
            if self.closed:
                return
            self.events_in += n
            if self.error is not None or self._q_bytes + nbytes > self.max_bytes:
                self.events_dropped += n
                now = time.monotonic()
                if self.error is None and now - self._last_drop_msg >= _REPEAT_S:
                    self._last_drop_msg = now
                    msg = (
                        "error",
                        f"recording {self.path}: the disk is too slow, dropped "
                        f"{self.events_dropped} events so far (backlog "
                        f"{self._q_bytes / 2**20:.0f} MiB reached its limit)",
                    )
            else:
                self._queue.append(_copy(events))
                self._q_bytes += nbytes
                self._queued_bytes += nbytes
                if self._queued_bytes >= _MIN_BATCH_BYTES > self._queued_bytes - nbytes:
                    self._cond.notify()  # a batch is ready: no need to wait for the tick
                self._q_events += n
                if self._q_bytes > self.warn_bytes:
                    now = time.monotonic()
                    self._behind = True
                    if now - self._last_warn >= _REPEAT_S:
                        self._last_warn = now
                        msg = ("warning", self._behind_message())
        if msg is not None:
            self._say(*msg)

    def _behind_message(self) -> str:
        return (
            f"recording {self.path} is behind: backlog {self._q_bytes / 2**20:.0f} MiB "
            f"({self._q_events} events) waiting for the disk; events are dropped beyond "
            f"{self.max_bytes / 2**20:.0f} MiB"
        )

    # ---------------------------------------------------------------- writer thread
    def _run(self) -> None:
        last_flush = time.monotonic()
        fresh = False  # events arrived since the last flush
        try:
            while True:
                with self._cond:
                    if self._queued_bytes < _MIN_BATCH_BYTES and not self.closed:
                        self._cond.wait(self.tick_s)
                    # at most _BATCH_BYTES a pass: a large backlog is not copied all at once
                    batch, size = [], 0
                    while self._queue and size < _BATCH_BYTES:
                        c = self._queue.popleft()
                        batch.append(c)
                        size += c.nbytes
                    self._queued_bytes -= size
                    done = self.closed and not self._queue
                if batch:
                    fresh = True
                    out = self._reorder.push(batch)
                    self._write(out)
                    n_b = sum(c.shape[0] for c in batch)
                    del batch, out
                    self._consumed(n_b)
                now = time.monotonic()
                if done:
                    break
                if now - last_flush >= self.flush_s:
                    if not fresh:  # the input paused: nothing to sort against, write it all
                        self._write(self._reorder.release())
                    self._writer.flush()
                    last_flush, fresh = now, False
                    self._report_late()
            self._write(self._reorder.release())
            self._writer.close()
            os.replace(self.partial_path, self.path)
            _fsync_dir(self.path.parent)
            self.final_path = self.path
            self._report_late()
            self._say("recording", self._written_message())
        except Exception as e:  # disk full, permissions, a writer bug: say it, keep the file
            self._fail(e)
        finally:
            self.finished.set()

    def _write(self, ev: np.ndarray) -> None:
        if not ev.size:
            return
        if self._t_first is None:
            self._t_first = t0 = int(ev["t"][0])
            if self.format in REBASE_FORMATS and t0 >= REBASE_ABOVE_US:
                self.t_offset_us = t0
                self._say(
                    "warning",
                    f"recording {self.path}: {self.format} counts µs from the camera's start; "
                    f"timestamps are written relative to the first event (t = {t0} µs)",
                )
        if self.t_offset_us:
            ev["t"] -= self.t_offset_us  # ev is the recorder's own copy
        self._writer.write(ev)
        self._written += int(ev.size)

    def _consumed(self, n: int) -> None:
        msg = None
        with self._cond:
            self._q_bytes -= n * EVENT_DTYPE.itemsize
            self._q_events -= n
            if self._behind and self._q_bytes <= self.warn_bytes // 2:
                self._behind = False
                msg = f"recording {self.path} has caught up (backlog {self._q_events} events)"
        if msg:
            self._say("recording", msg)

    def _report_late(self) -> None:
        late = self._reorder.late
        if late > self._late_reported:
            self._late_reported = late
            self._say(
                "warning",
                f"recording {self.path}: {late} events arrived more than "
                f"{self._reorder.hold_us / 1000:g} ms late (older than what was written); "
                "they were written with the last written timestamp",
            )

    def _written_message(self) -> str:
        extra = []
        if self.events_dropped:
            extra.append(f"{self.events_dropped} dropped: the disk was too slow")
        if self._reorder.late:
            extra.append(f"{self._reorder.late} late events retimed")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"wrote {self._written} events to {self.path}{tail}"

    def _fail(self, e: Exception) -> None:
        with self._cond:
            self.error = f"{type(e).__name__}: {e}" if not isinstance(e, OSError) else str(e)
            # whatever was added and not written (queued, in the batch, held back) is lost:
            # count it, so that events_in == events_written + events_dropped stays exact
            self._queue.clear()
            self._queued_bytes = 0
            self.events_dropped = self.events_in - self._written
            self._reorder.held = np.empty(0, EVENT_DTYPE)
            self._q_bytes = self._q_events = 0
        try:
            self._writer.close()  # the events written so far form a valid file
        except Exception:
            pass
        where = self.partial_path if self.partial_path.exists() else self.path
        self._say(
            "error",
            f"recording {self.path} failed: {self.error}; {self._written} events are in "
            f"{where} (readable up to its last flush), {self.events_dropped} were lost",
        )

    def _say(self, kind: str, message: str) -> None:
        cb = self.on_status
        if cb is not None:
            try:
                cb(kind, message)
            except Exception:  # a broken status callback must not stop the recording
                pass

    # ---------------------------------------------------------------- control
    @property
    def events_written(self) -> int:
        """Events handed to the file writer so far."""
        return self._written

    @property
    def events_late(self) -> int:
        return self._reorder.late

    def stats(self) -> RecorderStats:
        with self._cond:
            return RecorderStats(
                path=self.path,
                partial_path=self.partial_path,
                format=self.format,
                events_in=self.events_in,
                events_written=self._written,
                events_dropped=self.events_dropped,
                events_late=self._reorder.late,
                t_offset_us=self.t_offset_us,
                backlog_bytes=self._q_bytes,
                backlog_events=self._q_events,
                behind=self._behind,
                closed=self.finished.is_set(),
                error=self.error,
            )

    def close(self, timeout: float | None = None) -> Path | None:
        """Stop taking events, write what is queued, finalise and rename the file to ``path``.

        Waits up to ``timeout`` seconds (``None``: until done). Returns the final path once
        the file is complete, ``None`` if it failed (reported as an ``"error"`` status) or is
        still being written after ``timeout`` (the writer thread finishes it and reports
        ``"wrote … events"``; at interpreter exit an unclosed recorder is closed and waited
        for). Idempotent.
        """
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return self.final_path if self.finished.is_set() else None


_LIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    """Interpreter exit: finish every recorder still open (drain, finalise, rename)."""
    for rec in list(_LIVE):
        try:
            rec.close()
        except Exception:
            pass


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
