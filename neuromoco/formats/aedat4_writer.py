"""AEDAT 4.0 (iniVation DV): our streaming writer (numpy + LZ4; dv-processing's per-event
push_back managed ~1 M ev/s). The reader, and the format's constants both use, are in
:mod:`neuromoco.formats.aedat4`.

Layout (iniVation "AEDAT 4.0" docs; checked byte for byte against a dv-processing file):
``#!AER-DAT4.0\r\n``, int32 size + IOHeader flatbuffer (compression, dataTablePosition,
infoNode XML), then packets: int32 stream id, int32 size, the (LZ4-frame compressed)
size-prefixed ``EVTS`` EventPacket flatbuffer (a vector of 16-byte Event structs: int64 t,
int16 x, int16 y, bool polarity, 3 padding bytes). close() appends the ``FTAB`` file data
table (one entry per packet, compressed like the packets) and patches dataTablePosition,
which stays -1 until then: readers then scan the packets, so a flushed file is readable.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from neuromoco.formats.aedat4 import (
    COMPRESSION_NAMES,
    EVENT_STRUCT,
    EVTS_HEAD,
    EVTS_LAYOUT,
    MAGIC,
)
from neuromoco.formats.base import copy_records
from neuromoco.formats.event_writer import EventWriter
from neuromoco.types import SensorSize

_COMPRESSION = {name: COMPRESSION_NAMES.index(name) for name in ("none", "lz4")}
"""The IOHeader compression codes this writer writes."""
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
    size = EVTS_HEAD + 16 * n
    buf = np.zeros(size, dtype=np.uint8) if out is None else out[:size]
    head = buf[:EVTS_HEAD].view("<u4")
    head[0] = size - 4  # size prefix
    buf[4:28] = EVTS_LAYOUT  # root offset, "EVTS", vtable, table: DV's bytes
    head[7] = n
    # the Event struct's first 13 bytes are EVENT_DTYPE's layout (x, y < 32768 checked by the
    # writer, so the int16 fields read back the same); the 3 padding bytes stay zero
    copy_records(buf[EVTS_HEAD:].view(EVENT_STRUCT), np.ascontiguousarray(events))
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
        if self._raw is None:  # zeroed once: the records' padding bytes are never written
            self._raw = np.zeros(EVTS_HEAD + 16 * self.packet_events, dtype=np.uint8)
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
