"""Prophesee DAT, EVT 2.0 and EVT 3.0: readers and streaming writers.

Reading engines (chosen for correctness first, then speed; docs/formats.md has the comparison):

* EVT 2.0: our numpy decoder (the literal rule t = TIME_HIGH << 6 | low bits; faery 0.7.1
  keeps timestamps from decreasing and takes a TIME_HIGH step back for a 2**34 µs overflow,
  moving such events by up to 63 µs or 4.8 h; expelliarmus 1.1.12 stopped silently at an
  undefined word type: docs/formats.md);
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

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.formats import registry
from neuromoco.formats.base import (
    Checked,
    FileInfo,
    Head,
    count_decreasing,
    decode_records,
    events_of,
    file_size,
    iter_records,
    measure,
    open_data,
    read_text_header,
    split_checked,
    xy_view,
)
from neuromoco.formats.event_writer import EventWriter
from neuromoco.formats.sensor_size import camera_size
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

DAT_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
"""DAT event types holding CD events in the 8-byte layout this project reads and writes."""
WORD_BYTES = {"dat": 8, "evt2": 4, "evt3": 2}

# header line patterns (compiled once: a probe matches every header line against them)
_GEOMETRY = re.compile(r"geometry\s+(\d+)\s*x\s*(\d+)", re.I)
_WIDTH_HEIGHT = re.compile(r"(width|height)\s+(\d+)", re.I)
_PLUGIN = re.compile(r"plugin_name\s+(\S+)")
_DATA_FILE = re.compile(r"Data file containing (.+?) events")
_VERSION = re.compile(r"Version\s+(\S+)")


def _header_size(lines: list[str]) -> SensorSize | None:
    kv: dict[str, str] = {}
    for line in lines:
        m = _GEOMETRY.match(line)
        if m:
            return int(m.group(1)), int(m.group(2))
        if line.lower().startswith("format "):
            for part in line[7:].split(";")[1:]:
                if "=" in part:
                    k, v = part.split("=", 1)
                    kv[k.strip().lower()] = v.strip()
        m = _WIDTH_HEIGHT.match(line)
        if m:
            kv[m.group(1).lower()] = m.group(2)
    try:
        w, h = int(kv["width"]), int(kv["height"])
    except (KeyError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def probe(
    path: Path, fmt: str, sensor_size: SensorSize | None = None, head: Head | None = None
) -> FileInfo:
    """The header of a DAT / EVT 2.0 / EVT 3.0 file; ``head``: its first bytes, when read."""
    lines, offset = read_text_header(path, b"%", end_marker="end", head=head)
    camera = None
    for line in lines:
        m = _PLUGIN.match(line)
        if m:
            camera = m.group(1)
        m = _DATA_FILE.match(line)
        if m and camera is None:
            camera = m.group(1)
    spec = registry.get(fmt, path)
    size = sensor_size or _header_size(lines) or camera_size(camera, spec.cameras)
    size = size or spec.default_sensor
    n_data = file_size(path, head) - offset
    if fmt == "dat":
        for line in lines:
            m = _VERSION.match(line)
            if m and m.group(1) != "2":
                raise EventFormatError(path, f"DAT version {m.group(1)} is not supported (2)")
        # DAT: after the header, 1 byte event type and 1 byte event size (8), then 8-byte records
        if head is not None and offset + 2 <= len(head.data):
            ts = head.data[offset : offset + 2]
        else:
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
    return FileInfo(fmt, tuple(size), camera, offset, extra, head)


# ---------------------------------------------------------------------------------------------
# Readers


def _rust_error(e: BaseException) -> bool:
    """True for the errors a Rust decoder (evt3) raises on corrupt input: RuntimeError /
    ValueError, or pyo3's PanicException (a BaseException subclass)."""
    return isinstance(e, (RuntimeError, OSError, ValueError)) or type(e).__name__ == (
        "PanicException"
    )


EVT2_BLOCK_WORDS = 1 << 16
"""EVT 2.0 words decoded at a time (256 KiB: the decoder's temporaries stay in the CPU cache)."""


def _evt2_decode(w: np.ndarray, state: list[int]) -> Checked:
    """Decode one block of EVT 2.0 words (uint32) into events (``EVENT_DTYPE``, file order),
    checked on the contiguous columns made here.

    ``state[0]`` carries the time high (``TIME_HIGH << 6``, µs; -1 before the first TIME_HIGH)
    from block to block. CD words (type 0/1) are events with t = time high | their 6 low bits;
    TIME_HIGH words (type 8) set the time high; every other word (EXT_TRIGGER, OTHERS,
    CONTINUED, undefined types) is skipped, as OpenEB does. CD words before the first TIME_HIGH
    have no defined time and are dropped.

    Vectorised without a pass per event over the time: the time high of each event is a
    ``np.repeat`` of the TIME_HIGH values by the number of CD words between them (TIME_HIGH
    words are ~1 % of a file)."""
    is_ev = w < 0x20000000  # type 0 or 1
    ev = w[is_ev]
    n_ev = ev.shape[0]
    # TIME_HIGH (type 8) among the rare words that are not CD events
    not_ev = np.flatnonzero(~is_ev)
    is_th = (w[not_ev] >> 28) == 8
    th_pos = not_ev[is_th]
    n_th = th_pos.shape[0]
    highs = np.empty(n_th + 1, dtype=np.int64)
    highs[0] = state[0]
    counts = np.empty(n_th + 1, dtype=np.int64)
    if n_th:
        highs[1:] = w[th_pos] & 0x0FFFFFFF
        highs[1:] <<= 6
        # CD words before each TIME_HIGH: its position minus the TIME_HIGH and other words there
        before = th_pos - np.arange(n_th)
        if not_ev.shape[0] > n_th:  # other words (triggers, undefined types) too
            before -= np.searchsorted(not_ev[~is_th], th_pos)
        counts[0] = before[0]
        counts[1:-1] = np.diff(before)
        counts[-1] = n_ev - before[-1]
        state[0] = int(highs[-1])
    else:
        counts[0] = n_ev
    if highs[0] < 0 and counts[0]:  # before the first TIME_HIGH of the file: dropped
        ev = ev[int(counts[0]) :]
        counts[0] = 0
    low = ev >> 22
    low &= 0x3F
    if int(highs.max()) >> 32 == 0:  # (highs may step back: the largest must fit)
        # t < 2**32 µs (the first 71 min of a recording, i.e. nearly every file): the time is
        # built, and its order counted, on uint32 columns (half the memory traffic of int64;
        # 6 % of the decoding) and widened by the store into ``out``
        t = np.repeat(highs.astype(np.uint32), counts)
        t |= low
    else:
        t = np.repeat(highs, counts)
        # cast first: an int64 |= uint32 ufunc casts through a buffer, 5x slower than astype + |=
        t |= low.astype(np.int64)
    n = ev.shape[0]
    out = np.empty(n, dtype=EVENT_DTYPE)
    if n == 0:
        return Checked(out, 0, 0, 0, 0)
    out["t"] = t
    xy = ev >> 11  # x: bits 11-21
    xy &= 0x7FF
    max_x = int(xy.max())
    xy |= ev << 16  # y: bits 0-10, to 16-26
    xy &= 0x07FF07FF
    max_y = int(xy.max()) >> 16  # the largest x | y << 16 holds the largest y
    xy_view(out)[:] = xy
    out["p"] = ev >> 28
    # p is the word type, 0 or 1 (CD words only): 1 is its bound
    return Checked(out, count_decreasing(t), max_x, max_y, 1)


def _evt2_chunks(path: Path, info: FileInfo) -> Iterator[Checked]:
    """EVT 2.0 with our numpy decoder (:func:`_evt2_decode`), in blocks of
    :data:`EVT2_BLOCK_WORDS` words (``formats.base.iter_records``).

    One decoder for whole and chunked reads, so both give the same events on any input.
    (expelliarmus 1.1.12, the engine before, stopped without an error at the first word of an
    undefined type, at a different place for whole and chunked reads, and printed to the
    terminal: docs/formats.md.)"""
    n_words = info.extra["n_data_bytes"] // 4
    state = [-1]
    words = iter_records(path, info.data_offset, "<u4", n_words, EVT2_BLOCK_WORDS, info.head)
    for w in words:
        c = _evt2_decode(w, state)
        if c.events.shape[0]:
            yield c


EVT3_FEED_BYTES = 1 << 17
"""Bytes fed to the EVT 3.0 decoder at a time (even; its ~64 k events stay in the CPU cache:
measured 47 M events/s at 128 KiB, 40 at 1 MiB)."""


def _evt3_blocks(path: Path, info: FileInfo) -> Iterator[Checked]:
    """EVT 3.0 through the ``evt3`` package's stateful Rust decoder (the literal time-base rule,
    as :mod:`neuromoco.formats.evt3` documents; cross-checked in the tests), fed the words
    after our header in 1 MiB blocks. Without ``evt3`` installed, the numpy decoder."""
    try:
        import evt3 as evt3_pkg
    except ImportError:
        from neuromoco.formats import evt3

        ev_iter = evt3.iter_data(path, info.data_offset, info.extra["n_data_bytes"], 1 << 62)
        yield from (measure(ev) for ev in ev_iter)
        return
    w, h = info.sensor_size
    dec = evt3_pkg._Decoder(sensor_width=w, sensor_height=h)
    left = info.extra["n_data_bytes"]
    with open_data(path, info.head) as f:
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
            x, y, p = e.x, e.y, e.p  # each attribute access converts: once
            n = len(x)
            if n:
                t = e.t.view(np.int64)
                n_bad = count_decreasing(t)
                if int(t.min() if n_bad else t[0]) < 0:  # uint64 at or beyond 2**63
                    raise EventFormatError(path, "timestamp beyond 2**63 µs (corrupt data)")
                out = np.empty(n, dtype=EVENT_DTYPE)
                out["t"] = t
                # x | y << 16 built on contiguous columns, stored in one strided pass
                xy = y.astype(np.uint32)
                xy <<= 16
                xy |= x
                xy_view(out)[:] = xy
                out["p"] = p
                # checked on the decoder's own contiguous columns
                yield Checked(out, n_bad, int(x.max()), int(xy.max()) >> 16, int(p.max()))


DAT_RECORD = 8


def _dat_decode_block(raw: np.ndarray, out: np.ndarray) -> tuple[int, int, int, int, int]:
    """DAT records (uint32 t, uint32 x | y << 14 | p << 28) into ``out``; returns the count
    and the checks of :func:`~neuromoco.formats.base.decode_records`, made on these columns."""
    words = raw.view("<u4").reshape(-1, 2)
    m = words.shape[0]
    out = out[:m]
    # contiguous copies first: every later operation on a column with an 8-byte stride costs
    # 3-6x more than the copy
    t = words[:, 0].copy()
    out["t"] = t
    d = words[:, 1].copy()
    p = d >> 28
    max_p = int(p.max())
    if max_p > 1:
        raise EventFormatError(None, "DAT polarity other than 0/1 (corrupt data)")
    xy = d & 0x3FFF
    max_x = int(xy.max())
    xy |= (d << 2) & 0x3FFF0000  # y (bits 14-27) to bits 16-29
    max_y = int(xy.max()) >> 16  # the largest x | y << 16 holds the largest y
    xy_view(out)[:] = xy
    out["p"] = p
    return m, count_decreasing(t), max_x, max_y, max_p


def iter_checked(path: Path, info: FileInfo, chunk_events: int) -> Iterator[Checked]:
    if info.extra["n_data_bytes"] == 0:
        return
    if info.format == "dat":
        n = info.extra["n_data_bytes"] // DAT_RECORD
        try:
            yield from decode_records(
                path,
                info.data_offset + 2,
                n,
                DAT_RECORD,
                chunk_events,
                _dat_decode_block,
                info.head,
            )
        except EventFormatError as e:
            if e.path is None:
                raise EventFormatError(path, e.reason) from None
            raise
        return
    # the decoders yield blocks of <= 64 k (EVT 2.0) / ~0.5 M (evt3) events: passed on as
    # they are (cut where longer than chunk_events), not copied into exact-size chunks
    if info.format == "evt2":
        yield from split_checked(_evt2_chunks(path, info), chunk_events)
    else:
        yield from split_checked(_evt3_blocks(path, info), chunk_events)


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    return events_of(iter_checked(path, info, chunk_events))


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 62))


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
