"""AEDAT 4.0 (iniVation DV): our own packet reader (numpy + LZ4), and the format's constants
the writer (:mod:`neuromoco.formats.aedat4_writer`) shares.

Reading: the IOHeader flatbuffer and its info XML are parsed and checked here
(:func:`check_io_header`), then the packets are walked: the 8-byte packet header (stream id,
size), the LZ4 frame decompressed (:mod:`neuromoco.formats.aedat4_lz4`: one ``lz4.block``
call for DV's one-block frames, liblz4's frame decoder for others), the ``EVTS`` EventPacket
flatbuffer's offsets checked, and its 16-byte Event structs cut out and checked per 2 MiB of
file (in the CPU cache), these pieces joined into chunks; for big files by two worker threads
while the calling thread walks the packets (:func:`_pooled`). Only the first event stream is
decoded; frame, IMU and trigger packets are skipped without being decompressed. Files compressed with Zstandard (DV's other choice) are read
through the ``aedat`` package (Rust). dv-processing never reads files here: on corrupt files
it can hang or segfault (FACTS.md, "Reader robustness"). The sensor size comes from the event
stream's info (``sizeX``/``sizeY``), the camera from its ``source``. The tests check the reader
against dv-processing and ``aedat`` on every real file.

Why our own reader: DV writes packets of a few hundred events, and ``aedat`` hands each one
over as a Python dict holding a numpy array; that per-packet cost held chunked reads at
~17 M events/s (docs/benchmarks.md, "Event-file I/O vs faery").
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import queue
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuromoco.formats import registry
from neuromoco.formats.aedat4_lz4 import FrameDecoder, decompress_plain, plain_block_sizes
from neuromoco.formats.base import (
    VOID13,
    Checked,
    FileInfo,
    Head,
    copy_records,
    count_decreasing,
    events_of,
    file_size,
    measure,
    xy_view,
)
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

MAGIC = b"#!AER-DAT4.0"
# the XML header sits in the first kilobytes; never scan further
_HEADER_SCAN = 1 << 20


def _corrupt(e: BaseException) -> bool:
    """True for the errors ``aedat`` raises on corrupt input. Besides RuntimeError it can raise
    pyo3's ``PanicException`` (a BaseException subclass) from a Rust panic, e.g. in its XML
    header parser."""
    return isinstance(e, (RuntimeError, OSError, ValueError)) or type(e).__name__ == (
        "PanicException"
    )


COMPRESSION_NAMES = ("none", "lz4", "lz4-high", "zstd", "zstd-high")
"""The IOHeader ``compression`` codes 0..4, by name."""


def check_io_header(path: Path) -> tuple[int, int, str, int]:
    """Parse and check the IOHeader flatbuffer ourselves: (compression code, dataTablePosition,
    the info XML, the byte offset of the first packet after the header). ``aedat`` panics on some corrupt headers in a way that aborts the process
    (a description that is not UTF-8: pyo3 "PyObject pointer is null", then a panic during
    unwinding), so nothing reaches it before this passes: every offset inside the header,
    the compression a known code, the description valid UTF-8 XML text."""

    def bad(why: str) -> EventFormatError:
        return EventFormatError(path, f"corrupt AEDAT 4.0 header: {why}")

    start = len(MAGIC) + 2
    with open(path, "rb") as f:
        head = f.read(start + 4)
        if len(head) < start + 4 or head[:start] != MAGIC + b"\r\n":
            raise bad("no #!AER-DAT4.0 magic line or no header size")
        (size,) = struct.unpack_from("<I", head, start)
        if not 8 <= size <= _HEADER_SCAN:
            raise bad(f"header size {size} bytes (8..{_HEADER_SCAN})")
        buf = f.read(size)
    if len(buf) < size:
        raise bad(f"file ends inside the {size}-byte header")

    def u32(off: int, what: str) -> int:
        if not 0 <= off <= size - 4:
            raise bad(f"{what} offset {off} outside the {size}-byte header")
        return struct.unpack_from("<I", buf, off)[0]

    table = u32(0, "root")
    vt = table - struct.unpack("<i", struct.pack("<I", u32(table, "table")))[0]
    if not 0 <= vt <= size - 4:
        raise bad(f"vtable offset {vt} outside the header")
    vt_size, t_size = struct.unpack_from("<HH", buf, vt)
    if vt_size < 4 or vt_size % 2 or vt + vt_size > size or table + t_size > size:
        raise bad(f"vtable of {vt_size} bytes / table of {t_size} bytes do not fit")
    fields = struct.unpack_from(f"<{(vt_size - 4) // 2}H", buf, vt + 4)
    field = [(fields[i] if i < len(fields) else 0) for i in range(3)]
    for i, off in enumerate(field):
        width = (4, 8, 4)[i]
        if off and (off < 4 or off + width > t_size):
            raise bad(f"field {i} at +{off} outside its {t_size}-byte table")
    compression = struct.unpack_from("<i", buf, table + field[0])[0] if field[0] else 0
    if not 0 <= compression < len(COMPRESSION_NAMES):
        raise bad(f"unknown compression code {compression}")
    table_pos = struct.unpack_from("<q", buf, table + field[1])[0] if field[1] else -1
    xml = ""
    if field[2]:
        at = table + field[2]
        s = at + u32(at, "info string")
        n = u32(s, "info string")
        if s + 4 + n > size:
            raise bad(f"info string of {n} bytes runs past the header")
        try:
            xml = buf[s + 4 : s + 4 + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise bad(f"info string is not UTF-8 ({e.reason} at byte {e.start})") from None
        if "\0" in xml:
            raise bad("NUL byte inside the info string")
    return compression, table_pos, xml, start + 4 + size


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved = -1
_quiet_file = None


@contextmanager
def quiet_native_output() -> Iterator[None]:
    """Send what native code (Rust panic messages) writes to file descriptor 2 into a scratch
    file while the block runs; replay it afterwards unless it
    is a Rust panic report (the panic itself reaches us as an exception, and becomes an
    ``EventFormatError``). Nested and concurrent blocks share one redirection (reference
    counted under a lock): text another thread writes meanwhile is replayed, not lost. Costs
    two ``dup2`` calls per outermost block: callers hold it around a whole chunk, not per
    packet."""
    global _quiet_depth, _quiet_saved, _quiet_file
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            if _quiet_file is None:
                _quiet_file = tempfile.TemporaryFile()  # noqa: SIM115 (kept for the process)
            _quiet_saved = os.dup(2)
            os.dup2(_quiet_file.fileno(), 2)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                try:
                    sys.stderr.flush()
                except (AttributeError, ValueError, OSError):
                    pass
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                f = _quiet_file
                n = os.lseek(f.fileno(), 0, os.SEEK_CUR)
                if n:
                    f.seek(0)
                    text = f.read(min(n, 1 << 16))
                    f.seek(0)
                    f.truncate()
                    if b"panicked at" not in text:
                        os.write(2, text)


def _decoder(path: Path):
    import aedat

    check_io_header(path)
    try:
        with quiet_native_output():
            dec = aedat.Decoder(str(path))
            streams = dec.id_to_stream()
    except BaseException as e:
        if _corrupt(e):
            raise EventFormatError(path, f"corrupt AEDAT 4.0 file: {_short(e)}") from None
        raise
    return dec, streams


def _short(e: BaseException) -> str:
    """The first line of an exception's message (a Rust panic's text can be long)."""
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


_STREAM_TYPES = {"EVTS": "events", "FRME": "frame", "IMUS": "imus", "TRIG": "triggers"}
_ZSTD = (3, 4)  # IOHeader compression codes read through ``aedat``


def _xml_streams(path: Path, xml: str) -> dict[int, dict]:
    """The output streams the info XML declares: id → {type, width, height, source} (``type``
    as ``aedat`` names it: events, frame, imus, triggers; else the type identifier)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise EventFormatError(path, f"corrupt AEDAT 4.0 header: info XML ({e})") from None
    streams: dict[int, dict] = {}
    for top in root.findall("node"):
        if top.get("name") != "outInfo":
            continue
        for node in top.findall("node"):
            name = node.get("name", "")
            if not (name.isascii() and name.isdigit()):
                continue
            attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
            info = node.find("node[@name='info']")
            inner = {} if info is None else {a.get("key"): (a.text or "") for a in info}
            ident = attrs.get("typeIdentifier", "")
            s: dict = {"type": _STREAM_TYPES.get(ident, ident.lower())}
            for key, out in (("sizeX", "width"), ("sizeY", "height")):
                try:
                    s[out] = int(inner[key])
                except (KeyError, ValueError):
                    pass
            if inner.get("source"):
                s["source"] = inner["source"][:200]
            streams[int(name)] = s
    return streams


def probe(
    path: Path,
    fmt: str = "aedat4",
    sensor_size: SensorSize | None = None,
    head: Head | None = None,
) -> FileInfo:
    """The IOHeader of an AEDAT 4.0 file and its first event stream's info (size, camera);
    ``head`` is not used (the header is parsed from the file, with its own bounds)."""
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise EventFormatError(path, "not an AEDAT 4.0 file (no #!AER-DAT4.0 magic)")
    compression, table_pos, xml, data_offset = check_io_header(path)
    streams = _xml_streams(path, xml)
    if compression in _ZSTD:  # its packets go through aedat: let it check the file too
        _decoder(path)
    ev_ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
    if not ev_ids:
        # a valid recording with frames/IMU only: zero events
        size = sensor_size or registry.get("aedat4").default_sensor
        return FileInfo("aedat4", tuple(size), None, 0, {"stream_id": None})
    sid = ev_ids[0]
    w, h = streams[sid].get("width", 0), streams[sid].get("height", 0)
    if sensor_size is None:
        if w <= 0 or h <= 0:
            raise EventFormatError(path, f"AEDAT 4.0 event stream has no valid size ({w}x{h})")
        sensor_size = (w, h)
    extra = {
        "stream_id": sid,
        "streams": {i: s["type"] for i, s in streams.items()},
        "compression": COMPRESSION_NAMES[compression],
        "data_table_position": table_pos,
    }
    return FileInfo("aedat4", tuple(sensor_size), streams[sid].get("source"), data_offset, extra)


def _join(parts: list[np.ndarray], path: Path) -> np.ndarray:
    """Packets of ``aedat``'s event dtype (t u8, x u2, y u2, on bool; packed, 13 bytes: the
    layout of EVENT_DTYPE) joined as raw bytes and viewed as EVENT_DTYPE (bytearray.join: one
    copy, no per-packet numpy call, a writable result)."""
    dt = parts[0].dtype
    if dt.itemsize != EVENT_DTYPE.itemsize or dt.names[:3] != ("t", "x", "y"):
        raise EventFormatError(path, f"unexpected aedat event dtype {dt}")
    if len(parts) == 1:
        out = parts[0].view(EVENT_DTYPE)
    else:
        out = np.frombuffer(bytearray().join(parts), dtype=EVENT_DTYPE)
    if int(out["t"].min()) < 0:  # uint64 beyond int64
        raise EventFormatError(path, "timestamp beyond 2**63 µs (corrupt data)")
    return out


def _aedat_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """Chunks of at most ``chunk_events`` events of the first event stream (file order),
    through the ``aedat`` package (Zstandard-compressed files). The per-packet work is kept to
    a list append: packets are joined once per chunk."""
    sid = info.extra["stream_id"]
    dec, _streams = _decoder(path)
    packets = iter(dec)
    parts: list[np.ndarray] = []
    n = 0
    done = False
    while not done:
        # pull packets until a chunk is full, with fd 2 redirected (Rust panic text) for the
        # whole run of packets, never across a yield
        try:
            with quiet_native_output():
                while n < chunk_events:
                    packet = next(packets, None)
                    if packet is None:
                        done = True
                        break
                    if packet.get("stream_id") != sid:
                        continue
                    ev = packet.get("events")
                    if ev is None:
                        continue
                    parts.append(ev)
                    n += len(ev)
        except BaseException as e:
            if _corrupt(e) and not isinstance(e, EventFormatError):
                raise EventFormatError(path, f"corrupt AEDAT 4.0 file: {_short(e)}") from None
            raise
        if n >= chunk_events:
            joined = _join(parts, path)
            k = n - n % chunk_events
            dt = parts[0].dtype
            for i in range(0, k, chunk_events):
                yield joined[i : i + chunk_events]
            parts = [joined[k:].view(dt)] if k < n else []
            n -= k
    if n:
        yield _join(parts, path)


_READ_BYTES = 1 << 21
"""File bytes read at a time (the rest of the file when under twice this): its packets are
parsed out of this buffer, then decompressed, cut into events and checked together, a piece of
~4.5 MB of packets (~280 k events) that stays in the CPU cache through those steps. Measured
on 15 M-event files (CPU time, vs faery): 4 MiB pieces were 10-15 % slower, 1 MiB no faster;
the whole 16 MiB blocks before, 20-30 % slower on faery's layout."""
_PACKET_HEAD = struct.Struct("<ii")  # stream id, packet bytes


EVENT_STRUCT = np.dtype(
    {
        "names": ["t", "x", "y", "p"],
        "formats": ["<i8", "<i2", "<i2", "u1"],
        "offsets": [0, 8, 10, 12],
        "itemsize": 16,
    }
)
"""The EVTS packet's Event struct: int64 t, int16 x, int16 y, bool polarity, 3 padding bytes
(its first 13 bytes are ``EVENT_DTYPE``'s layout)."""
EVTS_HEAD = 32
"""Bytes before the first Event in a size-prefixed EVTS flatbuffer as DV (and our writer)
lays it out; the event count is the uint32 at byte 28."""
EVTS_LAYOUT = np.frombuffer(
    bytes.fromhex("100000004556545300000600080004000600000004000000"), dtype=np.uint8
)
"""Bytes 4-27 of every EVTS packet DV writes (root offset, identifier, vtable, table, vector
offset): the events then start at :data:`EVTS_HEAD`, their count at 28."""


def _evts_events(buf, path: Path) -> memoryview:
    """The Event structs (16 bytes each) of an ``EVTS`` EventPacket flatbuffer (size-prefixed,
    as DV writes it, or not), every offset checked against the buffer: the general parser, for
    batches :func:`_packet_events` cannot cut all at once."""
    mv = memoryview(buf)
    n_buf = len(mv)

    def u32(off: int, signed: bool = False) -> int:
        if not 0 <= off <= n_buf - 4:
            raise EventFormatError(
                path, f"corrupt AEDAT 4.0 event packet: offset {off} outside its {n_buf} bytes"
            )
        return int.from_bytes(mv[off : off + 4], "little", signed=signed)

    base = 4 if n_buf >= 12 and mv[8:12] == b"EVTS" else 0  # 4: size-prefixed
    if base == 0 and (n_buf < 8 or mv[4:8] != b"EVTS"):
        raise EventFormatError(path, "corrupt AEDAT 4.0 event packet: no EVTS identifier")
    table = base + u32(base)
    vt = table - u32(table, signed=True)
    if not 0 <= vt <= n_buf - 4:
        raise EventFormatError(path, "corrupt AEDAT 4.0 event packet: vtable outside the packet")
    vt_size = int.from_bytes(mv[vt : vt + 2], "little")
    field = int.from_bytes(mv[vt + 4 : vt + 6], "little") if vt_size >= 6 else 0
    if field == 0:
        return mv[0:0]  # no elements vector: an empty packet
    vec = table + field + u32(table + field)
    k = u32(vec)
    if vec + 4 + 16 * k > n_buf:
        raise EventFormatError(
            path, f"corrupt AEDAT 4.0 event packet: {k} events do not fit in {n_buf} bytes"
        )
    return mv[vec + 4 : vec + 4 + 16 * k]


def _packet_events(
    data: np.ndarray, lens: np.ndarray, path: Path
) -> tuple[np.ndarray, Exception | None]:
    """The events (``EVENT_DTYPE``) of decompressed EVTS packets lying back to back in ``data``
    (uint8; ``lens``: their sizes in bytes, int64), in order, and the error of the first corrupt
    packet (None: none; the events stop before it).

    DV's packets (the size-prefixed standard layout, the events filling the rest) are checked
    and cut all at once, the events copied straight from their 16-byte structs into 13-byte
    records; any other packet makes the batch go through :func:`_evts_events`."""
    off = np.zeros(lens.shape[0], dtype=np.int64)
    np.cumsum(lens[:-1], out=off[1:])
    if lens.size and lens.min() >= EVTS_HEAD and not (lens % 16).any():
        head = data[off[:, None] + np.arange(4, EVTS_HEAD)]
        k = head[:, 24:28].copy().view("<u4")[:, 0].astype(np.int64)
        if (head[:, :24] == EVTS_LAYOUT).all() and (EVTS_HEAD + 16 * k == lens).all():
            keep = np.ones(data.shape[0] // 16, dtype=bool)
            keep[off // 16] = False  # the two 16-byte header rows of each packet
            keep[off // 16 + 1] = False
            # each struct's first 13 bytes are EVENT_DTYPE's layout: one 1-D boolean take of
            # 13-byte items, 16 bytes apart
            structs = np.ndarray((keep.shape[0],), dtype=VOID13, buffer=data, strides=(16,))
            return structs[keep].view(EVENT_DTYPE), None
    structs = []
    err = None
    mv = memoryview(data)
    for a, n in zip(off.tolist(), lens.tolist(), strict=True):
        try:
            structs.append(_evts_events(mv[a : a + n], path))
        except EventFormatError as e:
            err = e
            break
    raw = np.frombuffer(b"".join(structs), dtype=EVENT_STRUCT)
    out = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
    copy_records(out, raw)
    return out, err


def _packets_end(info: FileInfo, file_end: int) -> int:
    """Where the packets end: the file data table, or the end of the file when the header has
    none (a recording still being written) or names a place past it."""
    end = info.extra["data_table_position"]
    return file_end if end < 0 else min(end, file_end)


def _packet_frames(path: Path, info: FileInfo, end: int) -> Iterator[tuple[bytes, list, list, int]]:
    """The EVTS packets of the first event stream, in file order, as they lie in the file: per
    block of ``_READ_BYTES`` of file, (the bytes read, the packets' offsets in them, their sizes,
    the file offset of those bytes). Packets of other streams are skipped unread. The scan ends
    at ``end`` (:func:`_packets_end`). At damage (a packet running past the end, a cut header) the packets
    before it are yielded first, then the ``EventFormatError`` is raised."""
    sid = info.extra["stream_id"]
    head = _PACKET_HEAD.unpack_from
    pos = info.data_offset
    err: Exception | None = None
    with open(path, "rb") as f:
        f.seek(pos)
        buf = b""
        while pos < end and err is None:
            # the packets that lie whole in this block of the file (all the rest when it is
            # under two blocks: no short last piece, a small file in one piece)
            base = pos
            block = end - pos if end - pos < 2 * _READ_BYTES else _READ_BYTES
            buf = buf + f.read(max(block, len(buf)) - len(buf))
            off = 0
            n_buf = len(buf)
            stop = end - base  # buf's bytes up to the end of the packets
            starts: list[int] = []
            sizes: list[int] = []
            # per packet Python work (a DV file has ~4,000 packets per million events): kept to
            # a few comparisons, positions relative to buf
            while off < stop:
                if off + 8 > n_buf:
                    if off == 0:
                        err = EventFormatError(
                            path, f"truncated AEDAT 4.0 file: a packet header cut at byte {base}"
                        )
                    break
                stream, size = head(buf, off)
                nxt = off + 8 + size
                if size < 0 or nxt > stop:
                    err = EventFormatError(
                        path,
                        f"corrupt or truncated AEDAT 4.0 file: the {size}-byte packet at byte "
                        f"{base + off} runs past the end of the packets ({end})",
                    )
                    break
                if nxt > n_buf:
                    if off == 0:  # one packet longer than the block: read all of it
                        buf = buf + f.read(nxt - n_buf)
                        n_buf = len(buf)
                        if n_buf < nxt:
                            err = EventFormatError(path, "file shrank while being read")
                            break
                        continue
                    break
                if stream == sid:
                    starts.append(off + 8)
                    sizes.append(size)
                off = nxt
            pos = base + off
            if starts:
                yield buf, starts, sizes, base
            buf = buf[off:]
    if err is not None:
        raise err


Decoded = tuple[np.ndarray, list[int], Exception | None, np.ndarray | None]
"""A piece of packets decompressed: the packets back to back (uint8), their sizes in bytes, the
error that stopped the piece early (None: none), and the buffer they lie in when it is one to
reuse once they are cut into events (else None)."""


def _decode(
    item: tuple[bytes, list, list, int], frames: FrameDecoder, lz4: bool, spares: list
) -> Decoded:
    """One piece of :func:`_packet_frames` decompressed: plain LZ4 frames one by one and
    joined, other frames by ``frames`` straight into a buffer taken from ``spares`` (or made,
    when none is there or it is too small; handed back with the result)."""
    buf, starts, sizes, base = item
    path = frames.path
    plain = plain_block_sizes(buf, starts, sizes) if lz4 else None
    if plain is None:  # uncompressed packets
        mv = memoryview(buf)
        data = b"".join([mv[a : a + n] for a, n in zip(starts, sizes, strict=True)])
        return np.frombuffer(data, dtype=np.uint8), sizes, None, None
    if plain.all():
        bodies, err = decompress_plain(buf, starts, sizes, plain, path, base)
        data = b"".join(bodies)
        return np.frombuffer(data, dtype=np.uint8), list(map(len, bodies)), err, None
    # another kind of frame among them: the whole piece through liblz4
    bounds, err = frames.bounds(buf, starts, sizes, base)
    need = sum(bounds)
    try:
        out = spares.pop()
    except IndexError:
        out = np.empty(need, dtype=np.uint8)
    if out.shape[0] < need:
        out = np.empty(need, dtype=np.uint8)
    k = len(bounds)
    lens, bad = frames.decompress_into(out, buf, starts[:k], sizes[:k], base)
    err = bad or err  # a corrupt frame comes before a malformed later one
    return out[: sum(lens)], lens, err, out


def _checked(ev: np.ndarray, path: Path) -> Checked:
    """:class:`Checked` of events read from EVTS structs (x, y are int16 there: a negative one
    reads as >= 32768, outside any sensor)."""
    t = ev["t"]
    n_bad = count_decreasing(t)
    if int(t.min() if n_bad else t[0]) < 0:
        raise EventFormatError(path, "negative timestamp, or beyond 2**63 µs (corrupt data)")
    xy = xy_view(ev).copy()  # x | y << 16 (a copy: changed below): both maxima from one read
    my = int(xy.max()) >> 16  # the largest x | y << 16 holds the largest y
    xy &= 0xFFFF
    return Checked(ev, n_bad, int(xy.max()), my, int(ev["p"].max()))


Piece = tuple[np.ndarray, "Checked | EventFormatError | None", "Exception | None"]
"""A piece of the file's events (``EVENT_DTYPE``, file order); its :class:`Checked` when it is
shorter than a chunk (else None: it is cut into chunks, each checked then), or the
``EventFormatError`` the check raised (raised where the check would be made); and the error
that stopped the piece early (None: none; the events stop before it)."""


def _piece(
    item: tuple[bytes, list, list, int],
    frames: FrameDecoder,
    lz4: bool,
    spares: list,
    chunk_events: int,
) -> Piece:
    """One piece of :func:`_packet_frames` decompressed (:func:`_decode`), cut into events and,
    when shorter than a chunk, checked: all the work per piece, in whichever thread runs it,
    while its bytes are in that core's cache."""
    data, lens, err, used = _decode(item, frames, lz4, spares)
    ev, bad = _packet_events(data, np.array(lens, dtype=np.int64), frames.path)
    if used is not None:
        spares.append(used)  # the events are a copy: the buffer is free again
    err = bad or err  # a corrupt packet among these comes before a later damage
    checked: Checked | EventFormatError | None = None
    if 0 < ev.shape[0] < chunk_events:
        try:
            checked = _checked(ev, frames.path)
        except EventFormatError as e:
            checked = e
    return ev, checked, err


def _serial(path: Path, info: FileInfo, end: int, work) -> Iterator[Piece]:
    """``work(item, frames)`` (:func:`_piece`) of each piece, in this thread."""
    with FrameDecoder(path) as frames:
        yield from (work(item, frames) for item in _packet_frames(path, info, end))


_PIPELINE_BYTES = 16 << 20
"""Files with at least this many bytes of packets are decompressed, cut and checked by two
worker threads (:func:`_pooled`) while the calling thread walks the packets and joins the
pieces into chunks, where they pay (:func:`_threads_pay`); smaller files, where the
threads do not pay, in the calling thread (:func:`_serial`). Chunked reads of 15 M-event files
(wall time vs faery, which uses one thread): 1.18-1.28x on faery's layout (0.80-0.83x in one
thread), 1.19-1.27x on DV's (1.02-1.11x); the CPU time is 10-27 % above one thread's, and when
the other core is busy the wall time is one thread's (docs/benchmarks.md, "AEDAT 4.0 as faery
writes it"). On ~8 MB files (1 M events) the threads gave 1.3x (faery's layout) and 1.1x (DV's)
in wall time for 4 % and 20 % more CPU time; under 4 MiB a file is one piece, nothing to
overlap. 16 MiB: at least 8 pieces, and small files keep to one thread."""
_AHEAD = 3
"""Pieces :func:`_pooled` submits before it waits for the oldest: both workers busy, one piece
waiting. Memory: ~(this + 2) x (2 MiB read + ~5 MB decompressed + ~3.6 MB of events)."""


def _pooled(path: Path, info: FileInfo, end: int, work) -> Iterator[Piece]:
    """``work(item, frames)`` (:func:`_piece`) of each piece by two worker threads (each with
    its own :class:`FrameDecoder`), in file order, at most :data:`_AHEAD` pieces ahead of the
    consumer. liblz4, ``lz4.block`` and numpy release the GIL while they work, so the workers
    overlap on two cores. Damage found while walking the packets is raised after the pieces
    before it; closing this generator (the consumer stopped early, or at an error) cancels the
    pieces not started and waits for the running ones."""
    from concurrent.futures import ThreadPoolExecutor

    decoders: queue.SimpleQueue = queue.SimpleQueue()

    def task(item: tuple) -> Piece:
        frames = decoders.get()
        try:
            return work(item, frames)
        finally:
            decoders.put(frames)

    pending: collections.deque = collections.deque()
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            decoders.put(stack.enter_context(FrameDecoder(path)))
        # entered last, so left first: no task runs once the decoders are freed
        pool = stack.enter_context(ThreadPoolExecutor(2, thread_name_prefix="aedat4-lz4"))
        try:
            walk_err: EventFormatError | None = None
            try:
                for item in _packet_frames(path, info, end):
                    pending.append(pool.submit(task, item))
                    if len(pending) > _AHEAD:
                        yield pending.popleft().result()
            except EventFormatError as e:
                walk_err = e
            while pending:
                yield pending.popleft().result()
            if walk_err is not None:
                raise walk_err
        finally:
            for f in pending:
                f.cancel()


THREADS_ENV = "NEUROMOCO_READ_THREADS"
"""Set to ``0`` to read every AEDAT 4.0 file in the calling thread (no worker threads)."""


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one): with one, the
    worker threads would only take turns with the calling thread."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _threads_pay() -> bool:
    """Whether big files get the two worker threads: the process may use two CPUs or more, it
    is not a worker process of a pool (a ``multiprocessing`` child, e.g. a DataLoader worker:
    its siblings already read in parallel, one file each), and :data:`THREADS_ENV` is not
    ``0``."""
    import multiprocessing

    if os.environ.get(THREADS_ENV, "").strip() == "0":
        return False
    return multiprocessing.parent_process() is None and _cpus() >= 2


def _event_pieces(
    path: Path, info: FileInfo, chunk_events: int
) -> Iterator[tuple[np.ndarray, Checked | EventFormatError | None]]:
    """The events (``EVENT_DTYPE``) of the first event stream, in file order, with their check
    (see :data:`Piece`): one piece per block of ``_READ_BYTES`` of file, made by
    :func:`_pooled` (files of :data:`_PIPELINE_BYTES` and more) or :func:`_serial`. At damage,
    the events before it come first, then the ``EventFormatError``."""
    lz4 = info.extra["compression"] != "none"
    spares: list[np.ndarray] = []  # decompression buffers to reuse (list.pop/append: atomic)

    def work(item: tuple, frames: FrameDecoder) -> Piece:
        return _piece(item, frames, lz4, spares, chunk_events)

    end = _packets_end(info, file_size(path))
    big = end - info.data_offset >= _PIPELINE_BYTES
    make = _pooled if big and _threads_pay() else _serial
    pieces = make(path, info, end, work)
    err: Exception | None = None
    try:
        for ev, checked, err in pieces:
            if ev.shape[0]:
                yield ev, checked
            if err is not None:
                break
    except EventFormatError as e:
        err = e
    finally:
        pieces.close()
    if err is not None:
        raise err


def _joined(pieces: list[Checked]) -> Checked:
    """The pieces, checked one by one, as one chunk (one piece: itself, no copy); the order
    check counts the seams between them too."""
    if len(pieces) == 1:
        return pieces[0]
    seams = sum(int(b.events["t"][0] < a.events["t"][-1]) for a, b in itertools.pairwise(pieces))
    return Checked(
        concat_events(c.events for c in pieces),
        sum(c.n_bad for c in pieces) + seams,
        max(c.max_x for c in pieces),
        max(c.max_y for c in pieces),
        max(c.max_p for c in pieces),
    )


def iter_checked(path: Path, info: FileInfo, chunk_events: int) -> Iterator[Checked]:
    """Checked chunks of at most ``chunk_events`` events of the first event stream. Pieces of
    :func:`_event_pieces` shorter than a chunk come checked (while they were in the CPU cache)
    and are joined into chunks (whole pieces: a chunk ends where the next piece would not
    fit); longer ones are cut into chunks (views, no copy), checked here."""
    if info.extra.get("stream_id") is None:
        return
    if info.extra["compression"] not in ("none", "lz4", "lz4-high"):
        yield from (measure(ev) for ev in _aedat_chunks(path, info, chunk_events))
        return
    pieces: list[Checked] = []
    n = 0
    for ev, checked in _event_pieces(path, info, chunk_events):
        m = ev.shape[0]
        if pieces and (m >= chunk_events or n + m > chunk_events):
            yield _joined(pieces)
            pieces, n = [], 0
        if m >= chunk_events:
            for i in range(0, m, chunk_events):
                yield _checked(ev[i : i + chunk_events], path)
        elif isinstance(checked, EventFormatError):
            raise checked
        else:
            pieces.append(checked)
            n += m
    if pieces:
        yield _joined(pieces)


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    return events_of(iter_checked(path, info, chunk_events))


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 20))
