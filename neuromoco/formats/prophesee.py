"""Prophesee DAT, EVT 2.0 and EVT 3.0: readers and streaming writers.

Reading engines (chosen for correctness first, then speed; docs/formats.md has the comparison):

* EVT 2.0: expelliarmus' C decoder, chunked (the literal rule; faery 0.7.1 is faster but keeps
  timestamps from decreasing and takes a TIME_HIGH step back for a 2**34 µs overflow, moving
  such events by up to 63 µs or 4.8 h: docs/formats.md). expelliarmus wants a ``.raw`` name:
  other names are read through a temporary hard link; it prints a warning to stdout for
  files whose timestamps decrease;
* EVT 3.0: the ``evt3`` package's stateful Rust decoder fed our header's data; the numpy
  decoder of :mod:`neuromoco.formats.evt3` (same rule) when ``evt3`` is not installed;
* DAT: our numpy decoder (8-byte records). The type byte after the header must be 0x00
  (Event2D: ATIS, N-CARS/GEN1) or 0x0C (EventCD); both hold ``uint32 t, uint32 x | y << 14 |
  p << 28`` records. Other types (triggers, ...) and versions other than 2 are refused.

Corrupt input becomes an :class:`EventFormatError` naming the file; coordinates are range-checked
by ``neuromoco.events``. File names need no particular suffix.

Header (``%`` lines): the sensor size comes from ``% geometry WxH``, ``% format EVTn;width=..;
height=..`` or ``% Width``/``% Height`` lines; otherwise from the camera generation named by
``% plugin_name`` (gen3 → 640×480, gen4/imx636 → 1280×720, gen1/ATIS → 304×240); otherwise the
format default: DAT 304×240 (ATIS, as in N-CARS/GEN1), EVT2 640×480, EVT3 1280×720. The camera
is ``plugin_name`` (or the DAT ``Data file containing ...`` line's event type).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuromoco.formats.base import (
    FileInfo,
    concat,
    copy_records,
    decode_records,
    file_size,
    read_text_header,
    split,
    xy_view,
)
from neuromoco.formats.event_writer import EventWriter
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize

DEFAULT_SENSOR_SIZE: dict[str, SensorSize] = {
    "dat": (304, 240),
    "evt2": (640, 480),
    "evt3": (1280, 720),
}
DAT_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
"""DAT event types holding CD events in the 8-byte layout this project reads and writes."""
WORD_BYTES = {"dat": 8, "evt2": 4, "evt3": 2}
PLUGIN_SIZES: list[tuple[str, SensorSize]] = [
    ("gen41", (1280, 720)),
    ("gen4", (1280, 720)),
    ("imx636", (1280, 720)),
    ("imx646", (1280, 720)),
    ("gen31", (640, 480)),
    ("gen3", (640, 480)),
    ("imx8", (320, 320)),
    ("genx320", (320, 320)),
    ("gen1", (304, 240)),
    ("atis", (304, 240)),
]


def _header_size(lines: list[str]) -> SensorSize | None:
    kv: dict[str, str] = {}
    for line in lines:
        m = re.match(r"geometry\s+(\d+)\s*x\s*(\d+)", line, re.I)
        if m:
            return int(m.group(1)), int(m.group(2))
        if line.lower().startswith("format "):
            for part in line[7:].split(";")[1:]:
                if "=" in part:
                    k, v = part.split("=", 1)
                    kv[k.strip().lower()] = v.strip()
        m = re.match(r"(width|height)\s+(\d+)", line, re.I)
        if m:
            kv[m.group(1).lower()] = m.group(2)
    try:
        w, h = int(kv["width"]), int(kv["height"])
    except (KeyError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def probe(path: Path, fmt: str, sensor_size: SensorSize | None = None) -> FileInfo:
    lines, offset = read_text_header(path, b"%", end_marker="end")
    camera = None
    for line in lines:
        m = re.match(r"plugin_name\s+(\S+)", line)
        if m:
            camera = m.group(1)
        m = re.match(r"Data file containing (.+?) events", line)
        if m and camera is None:
            camera = m.group(1)
    size = _header_size(lines)
    if size is None and camera:
        size = next((s for k, s in PLUGIN_SIZES if k in camera.lower()), None)
    size = sensor_size or size or DEFAULT_SENSOR_SIZE[fmt]
    n_data = file_size(path) - offset
    if fmt == "dat":
        for line in lines:
            m = re.match(r"Version\s+(\S+)", line)
            if m and m.group(1) != "2":
                raise EventFormatError(path, f"DAT version {m.group(1)} is not supported (2)")
        # DAT: after the header, 1 byte event type and 1 byte event size (8), then 8-byte records
        with open(path, "rb") as f:
            f.seek(offset)
            ts = f.read(2)
        if len(ts) == 2:
            if ts[0] not in DAT_TYPES:
                raise EventFormatError(
                    path,
                    f"DAT event type 0x{ts[0]:02x} holds no CD events (readable: "
                    + ", ".join(f"0x{k:02x} {v}" for k, v in DAT_TYPES.items())
                    + ")",
                )
            if ts[1] != 8:
                raise EventFormatError(path, f"DAT event size {ts[1]} (expected 8)")
            n_data -= 2
        elif len(ts) == 1:
            raise EventFormatError(
                path, "truncated DAT file: header ends inside the type/size bytes"
            )
    if n_data % WORD_BYTES[fmt]:
        raise EventFormatError(
            path,
            f"truncated {fmt.upper()} file: {n_data} data bytes is not a multiple of "
            f"{WORD_BYTES[fmt]}",
        )
    extra = {"n_data_bytes": n_data}
    return FileInfo(fmt, tuple(size), camera, offset, extra)


# ---------------------------------------------------------------------------------------------
# Readers


def _rust_error(e: BaseException) -> bool:
    """True for the errors a Rust decoder (evt3) raises on corrupt input: RuntimeError /
    ValueError, or pyo3's PanicException (a BaseException subclass)."""
    return isinstance(e, (RuntimeError, OSError, ValueError)) or type(e).__name__ == (
        "PanicException"
    )


_EXP_LAYOUT = (16, (0, 8, 10, 12))


def _offsets(dt: np.dtype) -> tuple:
    return tuple(dt.fields[k][1] for k in "txyp") if dt.names == ("t", "x", "y", "p") else ()


EVT2_CHUNK = 1 << 16
"""Events per expelliarmus chunk (its chunked reader is fastest around this size)."""


@contextmanager
def _suffixed(path: Path, suffix: str):
    """``path`` itself when it has ``suffix`` (expelliarmus insists on ``.raw`` for EVT 2.0),
    else a hard link (or, across file systems, a copy) with that suffix in a temporary folder.
    (A symlink does not do: expelliarmus resolves links and checks the target's suffix.)"""
    if path.suffix == suffix:
        yield path
        return
    tmpdir = None
    try:
        for parent in (None, path.parent):
            try:
                tmpdir = tempfile.mkdtemp(prefix=".neuromoco_prophesee_", dir=parent)
                link = Path(tmpdir) / f"events{suffix}"
                os.link(path, link)
                break
            except OSError:
                if tmpdir is not None:
                    shutil.rmtree(tmpdir, ignore_errors=True)
                    tmpdir = None
        if tmpdir is None:
            tmpdir = tempfile.mkdtemp(prefix="neuromoco_prophesee_")
            link = Path(tmpdir) / f"events{suffix}"
            shutil.copyfile(path, link)
        yield link
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _evt2_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """EVT 2.0 through expelliarmus' C decoder (the literal rule t = TIME_HIGH << 6 | low bits,
    checked against the naive decoder in the tests). Its records (16-byte aligned: t i8, x i2,
    y i2, p u1) hold EVENT_DTYPE's 13 bytes first and are copied as such; coordinates and polarity are range-checked by
    ``neuromoco.events`` (corrupt input can decode to anything). ``read_chunk`` may overshoot
    its chunk size by up to 12 events, hence the margin."""
    from expelliarmus import Wizard

    size = max(16, min(EVT2_CHUNK, chunk_events - 12))
    with _suffixed(path, ".raw") as p:
        try:
            for arr in Wizard(encoding="evt2", fpath=p, chunk_size=size).read_chunk():
                if arr is None:
                    raise EventFormatError(path, "corrupt EVT 2.0 file (expelliarmus: no data)")
                n = arr.shape[0]
                if n == 0:
                    continue
                if _EXP_LAYOUT != (arr.dtype.itemsize, _offsets(arr.dtype)):
                    raise EventFormatError(path, f"unexpected expelliarmus dtype {arr.dtype}")
                out = np.empty(n, dtype=EVENT_DTYPE)
                copy_records(out, arr)  # x, y: int16 bits read as uint16 (range-checked later)
                yield out
        except (RuntimeError, ValueError, OSError) as e:
            if isinstance(e, EventFormatError):
                raise
            raise EventFormatError(path, f"corrupt EVT 2.0 file: {e}") from e


EVT3_FEED_BYTES = 1 << 20
"""Bytes fed to the EVT 3.0 decoder at a time (even; its output stays in the CPU cache)."""


def _evt3_blocks(path: Path, info: FileInfo) -> Iterator[np.ndarray]:
    """EVT 3.0 through the ``evt3`` package's stateful Rust decoder (the literal time-base rule,
    as :mod:`neuromoco.formats.evt3` documents; cross-checked in the tests), fed the words
    after our header in 1 MiB blocks. Without ``evt3`` installed, the numpy decoder."""
    try:
        import evt3 as evt3_pkg
    except ImportError:
        from neuromoco.formats import evt3

        yield from evt3.iter_events(path, info.data_offset, info.extra["n_data_bytes"], 1 << 62)
        return
    w, h = info.sensor_size
    dec = evt3_pkg._Decoder(sensor_width=w, sensor_height=h)
    left = info.extra["n_data_bytes"]
    with open(path, "rb") as f:
        f.seek(info.data_offset)
        while left > 0:
            data = f.read(min(left, EVT3_FEED_BYTES))
            if not data:
                raise EventFormatError(path, "file shrank while being read")
            left -= len(data)
            try:
                e = dec.feed(data)
            except BaseException as err:
                if not _rust_error(err):
                    raise
                raise EventFormatError(path, f"corrupt EVT 3.0 file: {err}") from None
            n = len(e.x)
            if n:
                out = np.empty(n, dtype=EVENT_DTYPE)
                out["t"] = e.t.view(np.int64)
                out["x"] = e.x
                out["y"] = e.y
                out["p"] = e.p
                if int(out["t"][-1]) < 0:
                    raise EventFormatError(path, "timestamp beyond 2**63 µs (corrupt data)")
                yield out


DAT_RECORD = 8


def _dat_decode_block(raw: np.ndarray, out: np.ndarray) -> int:
    """DAT records (uint32 t, uint32 x | y << 14 | p << 28) into ``out``."""
    words = raw.view("<u4").reshape(-1, 2)
    m = words.shape[0]
    out = out[:m]
    out["t"] = words[:, 0]
    d = words[:, 1]
    xy = d & 0x3FFF
    xy |= (d << 2) & 0x3FFF0000  # y (bits 14-27) to bits 16-29
    if int((d >> 28).max(initial=0)) > 1:
        raise EventFormatError(None, "DAT polarity other than 0/1 (corrupt data)")
    xy_view(out)[:] = xy
    out["p"] = d >> 28
    return m


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    if info.extra["n_data_bytes"] == 0:
        return
    if info.format == "dat":
        n = info.extra["n_data_bytes"] // DAT_RECORD
        try:
            yield from decode_records(
                path, info.data_offset + 2, n, DAT_RECORD, chunk_events, _dat_decode_block
            )
        except EventFormatError as e:
            if e.path is None:
                raise EventFormatError(path, e.reason) from None
            raise
        return
    # the decoders yield blocks of 64 k (expelliarmus) / ~0.5 M (evt3) events: passed on as
    # they are (cut where longer than chunk_events), not copied into exact-size chunks
    if info.format == "evt2":
        yield from split(_evt2_chunks(path, info, chunk_events), chunk_events)
    else:
        yield from split(_evt3_blocks(path, info), chunk_events)


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat(iter_chunks(path, info, 1 << 62))


# ---------------------------------------------------------------------------------------------
# Writers


class Evt2Writer(EventWriter):
    """Streaming Prophesee EVT 2.0 writer: a CD word per event (type 0/1 = OFF/ON, the 6 low
    timestamp bits, x, y) and an EVT_TIME_HIGH word (t >> 6) wherever that changes. EVT 2.0
    holds 34-bit timestamps (t < 2**34 µs, 4.8 h) and coordinates below 2048."""

    format = "evt2"
    max_t = (1 << 34) - 1
    max_coord = 2048

    def _start(self) -> None:
        from neuromoco.formats.evt3 import header_bytes

        self._f.write(header_bytes(self.sensor_size, "2.0"))
        self._high = -1

    def _emit(self, events: np.ndarray) -> None:
        t = events["t"]
        high = t >> 6
        new = np.empty(t.shape[0], dtype=bool)
        new[0] = int(high[0]) != self._high
        np.not_equal(high[1:], high[:-1], out=new[1:])
        pos = np.arange(t.shape[0]) + np.cumsum(new)
        words = np.empty(t.shape[0] + int(np.count_nonzero(new)), dtype="<u4")
        words[pos[new] - 1] = (np.uint32(8) << 28) | high[new].astype(np.uint32)
        words[pos] = (
            (events["p"].astype(np.uint32) << 28)
            | ((t & 0x3F).astype(np.uint32) << 22)
            | (events["x"].astype(np.uint32) << 11)
            | events["y"].astype(np.uint32)
        )
        self._high = int(high[-1])
        self._f.write(words.tobytes())


class DatWriter(EventWriter):
    """Streaming Prophesee DAT writer (version 2, EventCD, type byte 0x0C): 8-byte records,
    uint32 t (µs, so t < 2**32, 71.6 min) and uint32 x | y << 14 | p << 28 (coordinates
    below 16384)."""

    format = "dat"
    max_t = (1 << 32) - 1
    max_coord = 1 << 14

    def _start(self) -> None:
        w, h = self.sensor_size
        self._f.write(
            f"% Data file containing CD events.\n% Version 2\n% Width {w}\n% Height {h}\n"
            "% Generated by neuromoco\n".encode("ascii")
            + bytes([0x0C, 8])
        )

    def _emit(self, events: np.ndarray) -> None:
        rec = np.empty((events.shape[0], 2), dtype="<u4")
        rec[:, 0] = events["t"]
        rec[:, 1] = (
            events["x"].astype(np.uint32)
            | (events["y"].astype(np.uint32) << 14)
            | (events["p"].astype(np.uint32) << 28)
        )
        self._f.write(rec.tobytes())
