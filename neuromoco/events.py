"""The one event representation of the project, and the public reading/writing API.

Events are a numpy structured array with fields

* ``t`` int64, microseconds (as stored in the file; not shifted to start at 0),
* ``x``, ``y`` uint16, pixels (0 ≤ x < width, 0 ≤ y < height),
* ``p`` uint8, polarity 0/1 (1 = ON, brightness increase),

sorted by non-decreasing ``t``. The sensor size travels beside the array as ``(width, height)``.
The base types (``EVENT_DTYPE``, ``SensorSize``, ``EventFormatError``, ``make_events``,
``empty_events``) live in the leaf module :mod:`neuromoco.types` and are re-exported here.
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from neuromoco.formats import registry as _registry
from neuromoco.types import (  # noqa: F401  (re-exported: neuromoco.events is the public face)
    EVENT_DTYPE,
    EventFormatError,
    SensorSize,
    empty_events,
    make_events,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from neuromoco.formats.base import Checked, FileInfo


@dataclass(frozen=True)
class Recording:
    """Events read from one file, with what the file says about them."""

    events: np.ndarray
    sensor_size: SensorSize
    format: str
    path: str | None = None
    camera: str | None = None
    n_reordered: int = 0
    """How many events were out of timestamp order in the file (stable-sorted on read)."""
    extra: dict = field(default_factory=dict)


def sort_events(events: np.ndarray) -> tuple[np.ndarray, int]:
    """Stable-sort events by ``t``; return ``(sorted, n_out_of_order)``.

    ``n_out_of_order`` counts events whose timestamp is smaller than their predecessor's in the
    input (real recordings hold a few); the array is returned unchanged (no copy) when it is 0.
    """
    t = events["t"]
    if t.size < 2:
        return events, 0
    n_bad = int(np.count_nonzero(t[1:] < t[:-1]))
    if n_bad == 0:
        return events, 0
    order = np.argsort(t, kind="stable")
    return events[order], n_bad


def check_coordinates(events: np.ndarray, sensor_size: SensorSize, path=None) -> None:
    """Raise :class:`EventFormatError` if any event lies outside ``sensor_size`` (width, height)."""
    if events.size == 0:
        return
    check_range(
        int(events["x"].max()), int(events["y"].max()), int(events["p"].max()), sensor_size, path
    )


def check_range(max_x: int, max_y: int, max_p: int, sensor_size: SensorSize, path=None) -> None:
    """Raise :class:`EventFormatError` unless the largest x, y (pixels) lie inside
    ``sensor_size`` (width, height) and the largest polarity is at most 1."""
    w, h = sensor_size
    if max_x >= w or max_y >= h:
        raise EventFormatError(
            path,
            f"event coordinates outside the {w}x{h} sensor (max x={max_x}, max y={max_y}); "
            "the file is corrupt or the sensor size is wrong (pass sensor_size=...)",
        )
    if max_p > 1:
        raise EventFormatError(path, "polarity values other than 0/1")


# --------------------------------------------------------------------------------------------
# Reading and writing files. The format modules (neuromoco.formats.*) are imported lazily, by
# name from the format registry (itself light), so `import neuromoco.events` stays light.

FORMATS: tuple[str, ...] = _registry.NAMES
"""Readable formats (names accepted by ``format=``; one record each in
:data:`neuromoco.formats.registry.FORMATS`). Sensor size and camera per format (details in each
``neuromoco.formats`` module; the shared rules in :mod:`neuromoco.formats.sensor_size`):

========  =================================  ==============================================
format    reader                             sensor size (width, height) when not overridden
========  =================================  ==============================================
aedat4    ``aedat`` (events only)            event stream info (sizeX, sizeY); camera: source
aedat3    own numpy (polarity packets)       from the ``#Source`` camera name, else 128×128
aedat2    own numpy (jAER DVS128 / DAVIS)    from ``# AEChip``: DVS128 128×128, DAVIS240
                                             240×180, DAVIS346 346×260; no chip: 128×128
atis_bin  own numpy (5-byte records)         34×34 (N-MNIST) if all events fit, else 240×180
                                             (N-Caltech101); pass sensor_size to be sure
dat       own numpy (8-byte records)         header Width/Height, else 304×240 (ATIS/N-CARS)
evt2      own numpy (32-bit words)           header geometry / plugin, else 640×480
evt3      ``evt3`` (Rust; numpy fallback)     header geometry / plugin, else 1280×720
npz       own (zip streamed)                 stored ``sensor_size``, else inferred from the
                                             events (below)
text      own numpy (CSV / TXT lines)        inferred from the events: the first of
                                             128×128, 240×180, 346×260, 640×480, 1280×720
                                             that holds every event, else max + 1
========  =================================  ==============================================

Coordinates are image coordinates (origin top-left, y down); jAER's y-up AEDAT 2.0 rows are
flipped. A zero-byte file of a known suffix reads as zero events with the format's default size.
"""

WRITABLE_FORMATS: tuple[str, ...] = _registry.WRITABLE
"""Formats :func:`write_events` can write (losslessly for events; see each writer's notes)."""


@functools.cache
def _opening():
    """The helpers every open uses, imported (and the allocator tuned) once."""
    from neuromoco.formats.base import read_head
    from neuromoco.formats.detect import detect
    from neuromoco.malloc_tuning import tune_malloc

    tune_malloc()
    return read_head, detect


def stat_file(path: str | Path) -> tuple[Path, int]:
    """``path`` as a Path and its size in bytes (one ``stat``); ``FileNotFoundError`` for a
    missing file, :class:`EventFormatError` for one that is not a regular file."""
    p = path if isinstance(path, Path) else Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such file") from None
    if not stat.S_ISREG(st.st_mode):
        raise EventFormatError(p, "not a regular file")
    return p, st.st_size


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its content (magic bytes / header); the suffix is a hint only.

    Returns one of :data:`FORMATS`. Raises :class:`EventFormatError` when the content matches
    no known format.
    """
    from neuromoco.formats.detect import detect

    return detect(stat_file(path)[0])


@dataclass(frozen=True)
class OpenedFile:
    """An event file whose format is known and whose header has been read (:func:`open_file`)."""

    path: Path
    format: str
    module: ModuleType
    """The format's reader module (:func:`neuromoco.formats.registry.reader_module`)."""
    info: FileInfo
    """What the header says: sensor size (already overridden by ``sensor_size=``), camera, ..."""

    def checked_chunks(self, chunk_events: int) -> Iterator[Checked]:
        """The non-empty chunks of the file, in file order, of at most ``chunk_events`` events,
        as :class:`~neuromoco.formats.base.Checked`, each range-checked against
        ``info.sensor_size``; decoder errors become :class:`EventFormatError` naming the file.

        Order and range are measured by the decoder on its own columns where the format module
        has ``iter_checked``, else on the raw chunks here."""
        from neuromoco.formats.base import measure

        p, fmt, mod, info = self.path, self.format, self.module, self.info
        fn = getattr(mod, "iter_checked", None)
        if fn is not None:
            chunks = _guarded(p, fmt, lambda: fn(p, info, chunk_events))
        else:
            raw = _guarded(p, fmt, lambda: mod.iter_chunks(p, info, chunk_events))
            chunks = (measure(ev) for ev in raw)
        step = functools.partial(next, chunks, None)
        while True:
            c = _guarded(p, fmt, step)
            if c is None:
                return
            if c.events.size:
                check_range(c.max_x, c.max_y, c.max_p, info.sensor_size, p)
                yield c


def open_file(
    path: str | Path,
    sensor_size: SensorSize | None = None,
    format: str | None = None,
    **options,
) -> OpenedFile:
    """Detect the format of ``path`` (unless ``format`` names it) and read its header.

    What :func:`read_recording` and :func:`iter_events` start with (same arguments); the events
    are then read with :meth:`OpenedFile.checked_chunks`. Raises :class:`EventFormatError` for an
    unknown format or option, a bad ``sensor_size`` and a bad header."""
    # One stat and one read of the file's first 64 KiB serve detection, the header probe and,
    # for a file that small, the decoding: a dataset of thousands of small files pays this per
    # file (docs/benchmarks.md, "Event-file I/O vs faery").
    read_head, detect = _opening()
    p, n_bytes = stat_file(path)
    head = read_head(p, n_bytes)
    fmt = format or detect(p, head.data)
    spec = _registry.get(fmt, p)
    mod = _registry.reader_module(fmt, p)
    if sensor_size is not None:
        sensor_size = _check_sensor_size(sensor_size, p)
    if n_bytes == 0:
        # A zero-byte file of a known format holds zero events (not an error).
        from neuromoco.formats.base import EMPTY, FileInfo

        size = tuple(sensor_size or spec.default_sensor)
        return OpenedFile(p, fmt, EMPTY, FileInfo(fmt, size, None, 0, {"empty_file": True}))
    unknown = sorted(set(options) - set(spec.options))
    if unknown:  # format-specific reading options (text files: columns=, time_unit=, ...)
        raise EventFormatError(p, f"reading option(s) {', '.join(unknown)} do not apply to {fmt}")
    info = _guarded(p, fmt, lambda: mod.probe(p, fmt, sensor_size, head, **options))
    return OpenedFile(p, fmt, mod, info)


def _check_sensor_size(sensor_size, path=None) -> SensorSize:
    try:
        w, h = (int(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise EventFormatError(
            path, f"sensor_size must be (width, height), got {sensor_size!r}"
        ) from None
    if not (0 < w <= 65536 and 0 < h <= 65536):
        raise EventFormatError(path, f"sensor_size {w}x{h} is out of range 1..65536")
    return w, h


def _guarded(path, fmt, fn):
    """Run a decoder step; turn the low-level errors a corrupt file can cause into
    :class:`EventFormatError` naming the file (decoders raise it themselves where they can)."""
    try:
        return fn()
    except EventFormatError as e:
        if e.path is None:  # raised deep in a decoder that did not know the path
            raise EventFormatError(path, e.reason) from None
        raise
    except FileNotFoundError:
        raise
    except Exception as e:
        # imported here, not per call: this wraps every chunk of every read
        import struct
        import zipfile

        corrupt = (
            struct.error,
            IndexError,
            KeyError,
            ValueError,
            RuntimeError,
            OverflowError,
            EOFError,
            zipfile.BadZipFile,
            UnicodeDecodeError,
            MemoryError,
        )
        if not isinstance(e, corrupt):
            raise
        raise EventFormatError(
            path, f"corrupt or unreadable {fmt} file ({type(e).__name__}: {e})"
        ) from e


READ_CHUNK_EVENTS = 1 << 20
"""Whole-file reads decode and check chunks of this many events (13 MB: in the CPU cache)."""


def _read_checked(f: OpenedFile) -> tuple[np.ndarray, int]:
    """All events of a file, stable-sorted by t, and the number out of order in the file.

    The range and order checks are made on each chunk as it is decoded, by the decoder on its
    own contiguous columns where it can (``iter_checked``), then the chunks are joined (a
    whole-file array checked afterwards costs a pass over memory per check)."""
    from neuromoco.types import concat_events

    parts = []
    n_bad = 0
    last = None
    for c in f.checked_chunks(READ_CHUNK_EVENTS):
        t = c.events["t"]
        n_bad += c.n_bad + int(last is not None and t[0] < last)
        last = int(t[-1])
        parts.append(c.events)
    events = concat_events(iter(parts))
    if n_bad:
        events = events[np.argsort(events["t"], kind="stable")]
    return events, n_bad


def read_recording(
    path: str | Path,
    sensor_size: SensorSize | None = None,
    format: str | None = None,
    **options,
) -> Recording:
    """Read every event of an event file, with what the file says about them.

    ``format``: one of :data:`FORMATS`, or ``None`` to detect it from the content.
    ``sensor_size`` (width, height) overrides the file's (or the format default's) size.
    Events come back stable-sorted by ``t`` (µs, as stored); ``Recording.n_reordered`` counts the
    events that were out of order in the file. Raises :class:`EventFormatError` (path + reason)
    for truncated/corrupt files, unknown formats and events outside the sensor; a file with a
    valid header and no events reads as zero events.
    """
    f = open_file(path, sensor_size, format, **options)
    events, n_bad = _read_checked(f)
    return Recording(
        events=events,
        sensor_size=tuple(f.info.sensor_size),
        format=f.format,
        path=str(f.path),
        camera=f.info.camera,
        n_reordered=n_bad,
        extra=dict(f.info.extra),
    )


def read_events(
    path: str | Path,
    sensor_size: SensorSize | None = None,
    format: str | None = None,
    **options,
) -> np.ndarray:
    """The events of an event file (``read_recording(...).events``): sorted by ``t`` (µs)."""
    return read_recording(path, sensor_size=sensor_size, format=format, **options).events


class EventChunks:
    """Events of a file in chunks of at most ``chunk_events`` events, with bounded memory.

    Use as an iterable (optionally as a context manager)::

        with iter_events("rec.aedat4", chunk_events=1_000_000) as chunks:
            print(chunks.sensor_size)
            for ev in chunks:
                ...

    Each chunk is stable-sorted by ``t`` and range-checked against ``sensor_size``. An event that
    is older than the previous chunk's last event cannot be moved back across the boundary: it
    stays in its chunk (sorted within it) and is counted in ``n_reordered``. For a file whose
    events are in order, the chunks concatenate to exactly :func:`read_events`' result.
    ``n_reordered`` is complete once iteration has finished.
    """

    def __init__(
        self, path, chunk_events: int = 1_000_000, sensor_size=None, format=None, **options
    ):
        if int(chunk_events) < 1:
            raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
        self.chunk_events = int(chunk_events)
        self._file = open_file(path, sensor_size, format, **options)
        self.path, self.format = self._file.path, self._file.format
        self.sensor_size: SensorSize = tuple(self._file.info.sensor_size)
        self.camera: str | None = self._file.info.camera
        self.extra: dict = dict(self._file.info.extra)
        self.n_reordered = 0
        self._gen = None

    def __iter__(self):
        self.close()
        self.n_reordered = 0
        self._gen = self._generate()
        return self._gen

    def _generate(self):
        last_t = None
        for c in self._file.checked_chunks(self.chunk_events):
            ev = c.events
            n_bad = c.n_bad
            if n_bad:
                ev = ev[np.argsort(ev["t"], kind="stable")]
            t = ev["t"]
            first, last = int(t[0]), int(t[-1])
            if last_t is not None:
                n_bad += first < last_t
                last = max(last, last_t)
            self.n_reordered += n_bad
            last_t = last
            yield ev

    def close(self) -> None:
        """Release the file (stops a running iteration)."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def iter_events(
    path: str | Path,
    chunk_events: int = 1_000_000,
    sensor_size: SensorSize | None = None,
    format: str | None = None,
    **options,
) -> EventChunks:
    """Chunked reading: see :class:`EventChunks`. The header is read (and checked) right away."""
    return EventChunks(
        path, chunk_events=chunk_events, sensor_size=sensor_size, format=format, **options
    )


def write_events(
    path: str | Path, events: np.ndarray, sensor_size: SensorSize, format: str | None = None
) -> None:
    """Write ``events`` (``EVENT_DTYPE``, sorted by ``t``) to ``path``, atomically.

    ``format``: ``"aedat4"`` (LZ4 packets), ``"aedat3"`` (AEDAT 3.1 polarity packets, DVS128
    Gesture style), ``"evt2"``, ``"evt3"``, ``"dat"`` (Prophesee), ``"npz"`` (this project's);
    ``None`` picks it from the suffix (``.aedat4``, ``.aedat``/``.aedat3`` → aedat3, ``.dat``,
    ``.npz``; a ``.raw`` file needs ``format="evt2"``/``"evt3"``; the rule of every writer:
    :func:`neuromoco.formats.registry.output_format`). All but npz go through the streaming
    writers of :mod:`neuromoco.formats.writer`. The file appears complete or not at all.
    """
    p = Path(path)
    fmt = _registry.output_format(p, format)
    events = np.asarray(events)
    if events.dtype != EVENT_DTYPE:
        if events.dtype.names is None or not set("txyp") <= set(events.dtype.names):
            raise ValueError(f"{p}: events must be a structured array with fields t, x, y, p")
        events = make_events(events["t"], events["x"], events["y"], events["p"])
    w, h = _check_sensor_size(sensor_size, p)
    if events.size:
        if int(np.count_nonzero(np.diff(events["t"]) < 0)):
            raise ValueError(f"{p}: events must be sorted by t before writing (use sort_events)")
        check_coordinates(events, (w, h), p)
    if not _registry.get(fmt).stream_writable:  # npz: written whole
        _registry.reader_module(fmt, p).write(p, events, (w, h))
        return
    from neuromoco.atomic import atomic_path
    from neuromoco.formats.writer import open_writer

    with atomic_path(p) as tmp, open_writer(tmp, (w, h), format=fmt, overwrite=True, label=p) as wr:
        for i in range(0, events.shape[0], 1 << 20):
            wr.write(events[i : i + (1 << 20)])


def to_frames(
    events: np.ndarray,
    T: int,
    sensor_size: SensorSize,
    split_by: str = "number",
    **kwargs,
) -> np.ndarray:
    """Events → float32 ``[T, 2, H, W]`` per-polarity counts; see :func:`neuromoco.framing.to_frames`.

    Part of the public events API next to :func:`read_events`; the implementation lives in
    :mod:`neuromoco.framing` (imported here lazily, since framing itself builds on this module).
    """
    from neuromoco.framing import to_frames as _to_frames

    return _to_frames(events, T, sensor_size, split_by=split_by, **kwargs)
