"""AEDAT 4.0 (iniVation DV): reading with the ``aedat`` package, writing with our own streaming
writer (:class:`Aedat4Writer`, numpy + LZ4).

Reading uses ``aedat`` (Rust): on corrupt files it raises clean errors, where dv-processing's
reader can hang or segfault (FACTS.md, "Reader robustness"), so dv-processing never reads files
here. Only the first event stream is decoded; frames, IMU and trigger packets are skipped. The
sensor size comes from the event stream's info (``sizeX``/``sizeY``), the camera from its
``source`` attribute in the XML header. The writer's files are read back by dv-processing and
``aedat`` in the tests.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuromoco.formats.base import FileInfo, copy_records
from neuromoco.formats.event_writer import EventWriter
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

MAGIC = b"#!AER-DAT4.0"
DEFAULT_SENSOR_SIZE: dict[str, SensorSize] = {"aedat4": (128, 128)}
# the XML header sits in the first kilobytes; never scan further
_HEADER_SCAN = 1 << 20


def _corrupt(e: BaseException) -> bool:
    """True for the errors ``aedat`` raises on corrupt input. Besides RuntimeError it can raise
    pyo3's ``PanicException`` (a BaseException subclass) from a Rust panic, e.g. in its XML
    header parser."""
    return isinstance(e, (RuntimeError, OSError, ValueError)) or type(e).__name__ == (
        "PanicException"
    )


_COMPRESSION_NAMES = ("none", "lz4", "lz4-high", "zstd", "zstd-high")


def check_io_header(path: Path) -> tuple[int, int, str]:
    """Parse and check the IOHeader flatbuffer ourselves: (compression code, dataTablePosition,
    the info XML). ``aedat`` panics on some corrupt headers in a way that aborts the process
    (a description that is not UTF-8: pyo3 "PyObject pointer is null", then a panic during
    unwinding), so nothing reaches it before this passes: every offset inside the header,
    the compression a known code, the description valid UTF-8 XML text."""
    import struct

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
    if not 0 <= compression < len(_COMPRESSION_NAMES):
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
    return compression, table_pos, xml


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


def _camera(path: Path, stream_id: int) -> str | None:
    with open(path, "rb") as f:
        head = f.read(_HEADER_SCAN)
    m = re.search(
        rb'<node name="%d" path="[^"]*">(.*?)</node>\s*</node>' % stream_id, head, re.DOTALL
    )
    block = m.group(1) if m else head
    s = re.search(rb'<attr key="source" type="string">([^<]{1,200})</attr>', block)
    return s.group(1).decode("utf-8", "replace") if s else None


def probe(path: Path, fmt: str = "aedat4", sensor_size: SensorSize | None = None) -> FileInfo:
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise EventFormatError(path, "not an AEDAT 4.0 file (no #!AER-DAT4.0 magic)")
    _dec, streams = _decoder(path)
    ev_ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
    if not ev_ids:
        # a valid recording with frames/IMU only: zero events
        size = sensor_size or DEFAULT_SENSOR_SIZE["aedat4"]
        return FileInfo("aedat4", tuple(size), None, 0, {"stream_id": None})
    sid = ev_ids[0]
    w, h = int(streams[sid].get("width", 0)), int(streams[sid].get("height", 0))
    if sensor_size is None:
        if w <= 0 or h <= 0:
            raise EventFormatError(path, f"AEDAT 4.0 event stream has no valid size ({w}x{h})")
        sensor_size = (w, h)
    extra = {"stream_id": sid, "streams": {int(i): s.get("type") for i, s in streams.items()}}
    return FileInfo("aedat4", tuple(sensor_size), _camera(path, sid), 0, extra)


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


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """Chunks of ``chunk_events`` events of the first event stream (file order).

    Real DV files hold packets of a few hundred events: the per-packet work is kept to a list
    append (packets are joined once per chunk); a per-packet conversion cost more than the
    decoding (5 M events/s before, ~15 M now: docs/benchmarks.md)."""
    sid = info.extra.get("stream_id")
    if sid is None:
        return
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


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 20))


# ---------------------------------------------------------------------------------------------
# Streaming AEDAT 4.0 writer (numpy + LZ4; dv-processing's per-event push_back managed ~1 M ev/s)
#
# Layout (iniVation "AEDAT 4.0" docs; checked byte for byte against a dv-processing file):
# ``#!AER-DAT4.0\r\n``, int32 size + IOHeader flatbuffer (compression, dataTablePosition,
# infoNode XML), then packets: int32 stream id, int32 size, the (LZ4-frame compressed)
# size-prefixed ``EVTS`` EventPacket flatbuffer (a vector of 16-byte Event structs: int64 t,
# int16 x, int16 y, bool polarity, 3 padding bytes). close() appends the ``FTAB`` file data
# table (one entry per packet, compressed like the packets) and patches dataTablePosition,
# which stays -1 until then: readers then scan the packets, so a flushed file is readable.

EVENT_STRUCT = np.dtype(
    {
        "names": ["t", "x", "y", "p"],
        "formats": ["<i8", "<i2", "<i2", "u1"],
        "offsets": [0, 8, 10, 12],
        "itemsize": 16,
    }
)
_EVTS_HEAD = 32  # bytes before the first Event in a size-prefixed EVTS buffer
_COMPRESSION = {"none": 0, "lz4": 1}
_TABLE_POS_OFFSET = len(MAGIC) + 2 + 4 + 36  # file offset of IOHeader.dataTablePosition (int64)


def _info_xml(sensor_size: SensorSize, camera: str, compression: str) -> bytes:
    w, h = sensor_size
    cam = camera.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<dv version="2.0">\n'
        '    <node name="outInfo" path="/outInfo/">\n'
        '        <node name="0" path="/outInfo/0/">\n'
        f'            <attr key="compression" type="string">{compression.upper()}</attr>\n'
        '            <attr key="originalModuleName" type="string">neuromoco</attr>\n'
        '            <attr key="originalOutputName" type="string">events</attr>\n'
        '            <attr key="typeDescription" type="string">Array of events.</attr>\n'
        '            <attr key="typeIdentifier" type="string">EVTS</attr>\n'
        '            <node name="info" path="/outInfo/0/info/">\n'
        f'                <attr key="sizeX" type="int">{w}</attr>\n'
        f'                <attr key="sizeY" type="int">{h}</attr>\n'
        f'                <attr key="source" type="string">{cam}</attr>\n'
        "            </node>\n"
        "        </node>\n"
        "    </node>\n"
        "</dv>\n"
    ).encode()


def io_header(sensor_size: SensorSize, camera: str, compression: str) -> bytes:
    """Magic line + size-prefixed IOHeader flatbuffer (dataTablePosition = -1)."""
    import struct

    xml = _info_xml(sensor_size, camera, compression)
    body = bytearray()
    body += struct.pack("<I", 24) + b"IOHE" + bytes(6)
    body += struct.pack("<5H", 10, 24, 4, 12, 8)  # vtable: 3 fields
    # table at 24: soffset to vtable, compression, offset to the XML string, dataTablePosition
    body += struct.pack("<iiIq", 10, _COMPRESSION[compression], 16, -1) + bytes(4)
    body += struct.pack("<I", len(xml)) + xml + b"\0"
    body += bytes(-len(body) % 4)
    return MAGIC + b"\r\n" + struct.pack("<I", len(body)) + bytes(body)


def _evts_buffer(events: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The size-prefixed EVTS EventPacket flatbuffer of ``events`` (uint8 array).

    ``out``: a reused uint8 buffer of at least ``32 + 16 n`` bytes whose padding bytes are zero
    (they are never written here: only the header and each record's first 13 bytes are), so a
    writer allocates (and the kernel zero-fills) its packet buffer once, not per packet."""
    n = events.shape[0]
    size = _EVTS_HEAD + 16 * n
    buf = np.zeros(size, dtype=np.uint8) if out is None else out[:size]
    head = buf[:_EVTS_HEAD].view("<u4")
    head[0] = size - 4  # size prefix
    head[1] = 16  # root: table at 4 + 16
    head[2] = 0x53545645  # "EVTS"
    head[3] = 0
    buf[14:20] = (6, 0, 8, 0, 4, 0)  # vtable: 1 field at +4, table size 8
    head[5] = 6  # table -> vtable
    head[6] = 4  # -> vector at 28
    head[7] = n
    # the Event struct's first 13 bytes are EVENT_DTYPE's layout (x, y < 32768 checked by the
    # writer, so the int16 fields read back the same); the 3 padding bytes stay zero
    copy_records(buf[_EVTS_HEAD:].view(EVENT_STRUCT), np.ascontiguousarray(events))
    return buf


_LZ4_BLOCK = 4 << 20  # LZ4 frame block maximum size (BD = 7)
_LZ4_ACCELERATION = 1
"""LZ4 ``acceleration`` (1 = LZ4's default): measured on real DVS events, higher values buy
little speed for larger files (docs/benchmarks.md, "Recording and long runs")."""
_lz4_header: bytes | None = None


def _lz4_frame_header() -> bytes:
    """The 7-byte LZ4 frame header we write: magic, FLG 0x60 (version 1, independent blocks, no
    checksums, no content size), BD 0x70 (4 MiB blocks), and the header checksum (xxh32 of FLG
    and BD), taken from a frame python-lz4 makes with the same settings (computed once)."""
    global _lz4_header
    if _lz4_header is None:
        import lz4.frame

        ref = lz4.frame.compress(
            bytes(_LZ4_BLOCK),  # a source of 4 MiB: LZ4F keeps the 4 MiB block size
            block_size=lz4.frame.BLOCKSIZE_MAX4MB,
            block_linked=False,
            content_checksum=False,
            store_size=False,
        )
        if ref[4:6] != b"\x60\x70":
            raise RuntimeError(f"unexpected LZ4 frame descriptor {ref[4:6].hex()}")
        _lz4_header = bytes(ref[:7])
    return _lz4_header


def lz4_frame(raw: np.ndarray, acceleration: int = _LZ4_ACCELERATION) -> list:
    """``raw`` (uint8, contiguous) as one LZ4 frame, in parts to write one after the other.

    The frame is made here from LZ4 *blocks* (``lz4.block.compress``: one call per 4 MiB
    block, no per-64 KiB block overhead, and an ``acceleration`` setting python-lz4's frame API
    does not expose): header, per block a uint32 size (high bit set: stored uncompressed, when
    LZ4 does not shrink it) and the data, then the zero end mark. Any LZ4 frame decoder reads
    it (dv-processing and ``aedat`` in the tests)."""
    import struct

    import lz4.block

    parts: list = [_lz4_frame_header()]
    for i in range(0, raw.shape[0], _LZ4_BLOCK):
        blk = raw[i : i + _LZ4_BLOCK]
        c = lz4.block.compress(blk, mode="fast", acceleration=acceleration, store_size=False)
        if len(c) < blk.shape[0]:
            parts += [struct.pack("<I", len(c)), c]
        else:
            parts += [struct.pack("<I", blk.shape[0] | 0x80000000), blk]
    parts.append(b"\0\0\0\0")
    return parts


_FDD_VTABLE = np.array([14, 44, 12, 4, 20, 28, 36], dtype="<u2")  # FileDataDefinition
_FDD_STRIDE = 48  # 44-byte table + 4 bytes so every table's int64 fields stay 8-aligned
_TABLE_ROW = np.dtype("<i8")  # spooled index rows: byte offset, size, events, t first, t last


def _ftab_blocks(rows_file, n: int, block: int = 1 << 16):
    """The size-prefixed ``FTAB`` FileDataTable flatbuffer for ``n`` packets, as byte blocks
    (bounded memory: the rows are read back from the spool file ``block`` at a time).

    Layout: size, root offset, "FTAB", table vtable, table (one vector field), the vector of
    ``n`` offsets, one FileDataDefinition vtable shared by all entries, then the entries:
    soffset, PacketHeader struct (stream id, size), ByteOffset, NumElements, TimestampStart,
    TimestampEnd."""
    import struct

    vt = 32 + 4 * n  # shared entry vtable
    t0 = vt + 14
    t0 += (4 - t0) % 8  # entry tables start at 4 mod 8: their int64 fields at +12 are aligned
    total = t0 + _FDD_STRIDE * n
    head = struct.pack("<II4s", total - 4, 16, b"FTAB") + bytes(2)
    head += struct.pack("<3H", 6, 8, 4) + struct.pack("<iII", 6, 4, n)
    yield head
    for i in range(0, n, block):
        k = np.arange(i, min(n, i + block), dtype=np.int64)
        yield (t0 + _FDD_STRIDE * k - (32 + 4 * k)).astype("<u4").tobytes()
    yield _FDD_VTABLE.tobytes() + bytes(t0 - vt - 14)
    rows_file.seek(0)
    for i in range(0, n, block):
        m = min(block, n - i)
        rows = np.fromfile(rows_file, dtype=_TABLE_ROW, count=5 * m).reshape(m, 5)
        k = np.arange(i, i + m, dtype=np.int64)
        out = np.zeros((m, _FDD_STRIDE), dtype=np.uint8)
        i32 = out.view("<i4")
        i32[:, 0] = (t0 + _FDD_STRIDE * k) - vt  # soffset: table - vtable
        i32[:, 1] = 0  # stream id
        i32[:, 2] = rows[:, 1]
        i64 = out[:, 12:44].copy().view("<i8")  # ByteOffset, NumElements, t first, t last
        i64[:, 0] = rows[:, 0]
        i64[:, 1:4] = rows[:, 2:5]
        out[:, 12:44] = i64.view(np.uint8)
        yield out.tobytes()


class Aedat4Writer(EventWriter):
    """Streaming AEDAT 4.0 writer (see :mod:`neuromoco.formats.writer` for the interface).

    ``compression``: ``"lz4"`` (default, LZ4 frames as DV writes them) or ``"none"``.
    ``packet_events``: events per packet (a flush writes a shorter one); memory holds at most
    one packet. ``camera``: the ``source`` name in the header.
    """

    format = "aedat4"
    max_coord = 1 << 15  # int16 coordinates

    def __init__(
        self,
        path,
        sensor_size: SensorSize,
        overwrite: bool = False,
        compression: str = "lz4",
        packet_events: int = 1 << 15,
        camera: str = "neuromoco",
        label=None,
    ):
        if compression not in _COMPRESSION:
            raise ValueError(f"{path}: AEDAT 4.0 compression must be 'lz4' or 'none'")
        if compression == "lz4":
            import lz4.frame  # noqa: F401  (fail before creating the file)
        self.compression = compression
        self.packet_events = max(1, int(packet_events))
        self.camera = camera
        self._n_packets = 0
        self._raw: np.ndarray | None = None  # the packet's flatbuffer, reused
        super().__init__(path, sensor_size, overwrite=overwrite, label=label)

    def _start(self) -> None:
        import tempfile

        self._f.write(io_header(self.sensor_size, self.camera, self.compression))
        self._pos = self._f.tell()
        # the packet index grows with the file: it is spooled to an anonymous temporary file
        self._rows = tempfile.TemporaryFile()

    def _emit(self, ev: np.ndarray) -> None:
        import struct

        if self._raw is None:  # zeroed once: the records' padding bytes are never written
            self._raw = np.zeros(_EVTS_HEAD + 16 * self.packet_events, dtype=np.uint8)
        raw = _evts_buffer(ev, self._raw)
        # one write() per packet after its 8-byte head (which the buffered file holds until
        # then): a process killed between writes leaves whole packets, never a cut one
        if self.compression == "lz4":
            parts = lz4_frame(raw)
            size = sum(len(p) for p in parts)
            self._f.write(struct.pack("<ii", 0, size))
            self._f.write(b"".join(parts))
        else:
            size = raw.shape[0]
            self._f.write(struct.pack("<ii", 0, size))
            self._f.write(raw)
        t = ev["t"]
        self._rows.write(struct.pack("<5q", self._pos + 8, size, ev.shape[0], t[0], t[-1]))
        self._pos += 8 + size
        self._n_packets += 1

    def _finish(self) -> None:
        import struct

        self._rows.flush()
        if self.compression == "lz4":
            import lz4.frame

            comp = lz4.frame.LZ4FrameCompressor(block_size=lz4.frame.BLOCKSIZE_MAX64KB)
            self._f.write(comp.begin())
            for part in _ftab_blocks(self._rows, self._n_packets):
                self._f.write(comp.compress(part))
            self._f.write(comp.flush())
        else:
            for part in _ftab_blocks(self._rows, self._n_packets):
                self._f.write(part)
        # the index is on disk before the header points at it
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.seek(_TABLE_POS_OFFSET)
        self._f.write(struct.pack("<q", self._pos))
        self._f.seek(0, os.SEEK_END)
        self._rows.close()
