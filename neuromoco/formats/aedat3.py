"""AEDAT 3.1 (libcaer / cAER; the DVS128 Gesture ``user*_*.aedat`` files): reader and writer.

Layout (inivation.gitlab.io/dv/dv-docs, "AEDAT 3.1"): ASCII header lines starting with ``#``,
the first ``#!AER-DAT3.1``, the last ``#!END-HEADER``; then packets, each a 28-byte little-endian
header

    int16 eventType, int16 eventSource, int32 eventSize, int32 eventTSOffset,
    int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid

followed by ``eventCapacity * eventSize`` bytes of events. Polarity events (type 1) are 8 bytes:
``uint32 data`` (bit 0 valid, bit 1 polarity 1=ON, bits 2-16 y, bits 17-31 x) and ``int32``
timestamp (µs); the full timestamp is ``eventTSOverflow << 31 | timestamp``. Other packet types
(special, frame, IMU) are skipped; events whose valid bit is 0 are dropped (the spec marks them
as deleted). Coordinates are taken as stored (spikingjelly's ``load_aedat_v3`` does the same,
so DVS128 Gesture frames match spikingjelly's). Sensor size: from the ``#Source`` line's camera
name when known (DVS128 → 128×128, DAVIS240 → 240×180, DAVIS346 → 346×260, ...), else 128×128.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.formats import registry
from neuromoco.formats.base import (
    BLOCK_EVENTS,
    FileInfo,
    Head,
    file_size,
    scratch,
    shrink,
    xy_view,
)
from neuromoco.formats.event_writer import EventWriter
from neuromoco.formats.sensor_size import camera_size
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

MAGIC = b"#!AER-DAT3.1"
END_HEADER = b"#!END-HEADER"
PACKET_HEADER = struct.Struct("<hhiiiiii")
POLARITY_EVENT = 1
# Packets written per file by write(); cAER files hold a few thousand events per packet.
WRITE_PACKET_EVENTS = 8192

_CAMERA_NAMES = {"dvs128": "DVS128", "davis240": "DAVIS240C", "davis346": "DAVIS346"}
"""The ``#Source`` name the writer gives a known camera (registry fragment -> name)."""


def source_size(name: str | None) -> SensorSize | None:
    """The size a ``#Source`` camera name says: ``WxH`` in the name (written by this module for
    sizes without a known camera), else the registry's known cameras of ``aedat3``."""
    if not name:
        return None
    m = re.search(r"(\d+)x(\d+)", name)
    if m:
        return int(m.group(1)), int(m.group(2))
    return camera_size(name, registry.get("aedat3").cameras)


def probe(
    path: Path,
    fmt: str = "aedat3",
    sensor_size: SensorSize | None = None,
    head: Head | None = None,
) -> FileInfo:
    """The ``#`` header of an AEDAT 3.1 file (read line by line; ``head`` is not used)."""
    camera = None
    offset = 0
    with open(path, "rb") as f:
        first = f.readline(256)
        if not first.startswith(MAGIC):
            raise EventFormatError(path, f"not an AEDAT 3.1 file (first line {first[:40]!r})")
        offset = len(first)
        while True:
            line = f.readline(1 << 16)
            if not line:
                raise EventFormatError(path, "AEDAT 3.1 header has no #!END-HEADER line")
            if not line.startswith(b"#"):
                raise EventFormatError(path, "AEDAT 3.1 header ends without #!END-HEADER")
            offset += len(line)
            if offset > (16 << 20):
                raise EventFormatError(path, "AEDAT 3.1 header longer than 16 MiB")
            if line.startswith(END_HEADER):
                break
            m = re.match(rb"#Source\s+\d+:\s*(.+)", line.strip())
            if m and camera is None:
                camera = m.group(1).decode("latin-1").strip()
    size = sensor_size or source_size(camera) or registry.get("aedat3").default_sensor
    return FileInfo("aedat3", tuple(size), camera, offset)


def _packets(path: Path, info: FileInfo) -> Iterator[tuple[int, int, int, int]]:
    """Walk the packet headers; yield ``(payload offset, eventNumber, eventTSOverflow, type)``
    for each packet (payload bytes not read here), after checking it lies inside the file."""
    size = file_size(path)
    with open(path, "rb") as f:
        f.seek(info.data_offset)
        pos = info.data_offset
        while pos < size:
            head = f.read(PACKET_HEADER.size)
            if len(head) < PACKET_HEADER.size:
                raise EventFormatError(
                    path, f"truncated AEDAT 3.1 file: packet header cut at byte {pos}"
                )
            etype, _src, esize, tsoff, overflow, capacity, number, _valid = PACKET_HEADER.unpack(
                head
            )
            if esize <= 0 or capacity < 0 or number < 0 or number > capacity or overflow < 0:
                raise EventFormatError(
                    path,
                    f"corrupt AEDAT 3.1 packet header at byte {pos} "
                    f"(type={etype}, size={esize}, capacity={capacity}, number={number})",
                )
            pos += PACKET_HEADER.size
            n_bytes = capacity * esize
            if pos + n_bytes > size:
                raise EventFormatError(
                    path,
                    f"truncated AEDAT 3.1 file: packet at byte {pos - PACKET_HEADER.size} needs "
                    f"{n_bytes} bytes, {size - pos} left",
                )
            if etype == POLARITY_EVENT and (esize != 8 or tsoff != 4):
                raise EventFormatError(
                    path, f"AEDAT 3.1 polarity packet with event size {esize}, ts offset {tsoff}"
                )
            yield pos, number, overflow, etype
            pos += n_bytes
            f.seek(pos)


def decode(words: np.ndarray, overflow, out: np.ndarray, tmp) -> int:
    """Decode polarity events (``words``: native uint32 ``[M, 2]``: data, timestamp) into
    ``out``; return the number written (events whose valid bit is 0 are dropped).

    ``overflow``: the packets' ``eventTSOverflow``, a scalar or one value per event.
    ``tmp``: uint32 scratch arrays at least M long. x and y are written as one uint32.
    """
    m = words.shape[0]
    d = words[:, 0]
    t1, t2 = tmp[0][:m], tmp[1][:m]
    np.bitwise_and(d, 1, out=t1)
    if m and not t1.all():
        valid = t1.astype(bool)
        words = words[valid]
        if not np.isscalar(overflow):
            overflow = overflow[valid]
        m = words.shape[0]
        d = words[:, 0]
        t1, t2 = t1[:m], t2[:m]
    if m == 0:
        return 0
    out = out[:m]
    # x = bits 17-31, y = bits 2-16 -> x | y << 16
    np.right_shift(d, 17, out=t1)
    np.left_shift(d, 14, out=t2)
    t2 &= 0x7FFF0000
    t1 |= t2
    xy_view(out)[:] = t1
    np.right_shift(d, 1, out=t1)
    t1 &= 1
    out["p"] = t1
    np.bitwise_and(words[:, 1], 0x7FFFFFFF, out=t1)
    out["t"] = t1
    if np.isscalar(overflow):
        if overflow:
            out["t"] += np.int64(overflow) << 31
    else:
        out["t"] += overflow.astype(np.int64) << 31
    return m


def _read_group(
    path: Path, f, group: list[tuple[int, int, int, int]], chunk_events: int, words, tmp
) -> Iterator[np.ndarray]:
    """Decode the polarity packets of ``group`` into event arrays of at most ``chunk_events``.

    Payloads are read with ``readinto`` into the reused block buffer ``words``
    ([BLOCK_EVENTS, 2] uint32); each block is decoded straight into the current output array,
    so memory stays O(chunk_events) whatever the packet sizes.
    """
    left_in_group = sum(g[1] for g in group)
    buf = memoryview(words).cast("B")
    out = np.empty(min(chunk_events, left_in_group), dtype=EVENT_DTYPE)
    k = 0  # events written to out
    taken = 0  # events read for out (k + dropped invalid ones)
    fill = 0  # events in the block buffer
    segs: list[tuple[int, int]] = []  # (events, overflow) in the block

    def flush() -> None:
        nonlocal fill, k, segs
        w = words[:fill]
        if sys.byteorder != "little":
            w.byteswap(inplace=True)
        if len({o for _, o in segs}) == 1:
            ov = segs[0][1]
        else:
            ov = np.repeat([o for _, o in segs], [c for c, _ in segs])
        k += decode(w, ov, out[k : k + fill], tmp)
        fill, segs = 0, []

    for pos, number, overflow, _etype in group:
        f.seek(pos)
        left = number
        while left:
            take = min(left, words.shape[0] - fill, out.shape[0] - taken)
            nb = take * 8
            if f.readinto(buf[fill * 8 : fill * 8 + nb]) != nb:
                raise EventFormatError(path, "file shrank while being read")
            segs.append((take, overflow))
            fill += take
            taken += take
            left -= take
            left_in_group -= take
            if fill == words.shape[0] or taken == out.shape[0]:
                flush()
            if taken == out.shape[0]:
                if k:
                    yield shrink(out, k)
                if left_in_group:
                    out = np.empty(min(chunk_events, left_in_group), dtype=EVENT_DTYPE)
                    k = taken = 0


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """Decode polarity packets in groups of about ``chunk_events`` events."""
    group: list[tuple[int, int, int, int]] = []
    n = 0
    words = np.empty((BLOCK_EVENTS, 2), dtype="<u4")
    tmp = scratch(k=2)
    with open(path, "rb") as f:
        for pkt in _packets(path, info):
            if pkt[3] != POLARITY_EVENT or pkt[1] == 0:
                continue
            group.append(pkt)
            n += pkt[1]
            if n >= chunk_events:
                yield from _read_group(path, f, group, chunk_events, words, tmp)
                group, n = [], 0
        if n:
            yield from _read_group(path, f, group, chunk_events, words, tmp)


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 62))


def header_bytes(camera: str = "DVS128") -> bytes:
    return (
        b"#!AER-DAT3.1\r\n"
        b"#Format: RAW\r\n"
        + f"#Source 1: {camera}\r\n".encode()
        + b"#Start-Time: written by neuromoco\r\n"
        b"#!END-HEADER\r\n"
    )


def encode(events: np.ndarray) -> np.ndarray:
    """Polarity event words [N, 2] uint32 (data with valid bit set, 31-bit timestamp)."""
    words = np.empty((events.shape[0], 2), dtype="<u4")
    words[:, 0] = (
        (events["x"].astype(np.uint32) << 17)
        | (events["y"].astype(np.uint32) << 2)
        | (events["p"].astype(np.uint32) << 1)
        | 1
    )
    words[:, 1] = (events["t"] & 0x7FFFFFFF).astype(np.uint32)
    return words


class Aedat3Writer(EventWriter):
    """Streaming AEDAT 3.1 writer: polarity packets of up to ``WRITE_PACKET_EVENTS`` events
    (t ≥ 0 µs; a packet is cut where ``t >> 31``, its ``eventTSOverflow``, changes).

    The ``#Source`` line names ``camera`` (default ``DVS128`` for 128×128, else
    ``neuromoco_<W>x<H>``; a reader takes the size from a known camera name or that pattern).
    """

    format = "aedat3"
    max_coord = 0x8000  # 15-bit x and y
    packet_events = WRITE_PACKET_EVENTS

    def __init__(
        self,
        path,
        sensor_size: SensorSize,
        overwrite: bool = False,
        camera: str | None = None,
        label=None,
    ):
        self.camera = camera or camera_name_for(tuple(int(v) for v in sensor_size))
        super().__init__(path, sensor_size, overwrite=overwrite, label=label)

    def _start(self) -> None:
        self._f.write(header_bytes(self.camera))

    def _emit(self, events: np.ndarray) -> None:
        words = encode(events)
        overflow = events["t"] >> 31
        n = events.shape[0]
        start = 0
        while start < n:
            ov = int(overflow[start])
            stop = n
            if int(overflow[n - 1]) != ov:  # a packet holds one overflow value
                stop = start + int(np.searchsorted(overflow[start:], ov, side="right"))
            k = stop - start
            self._f.write(PACKET_HEADER.pack(POLARITY_EVENT, 1, 8, 4, ov, k, k, k))
            self._f.write(words[start:stop].tobytes())
            start = stop


def camera_name_for(sensor_size: SensorSize) -> str:
    """The ``#Source`` camera name written for ``sensor_size`` (the first known camera of that
    size, else ``neuromoco_<W>x<H>``, which :func:`source_size` reads back)."""
    for key, size in registry.get("aedat3").cameras:
        if tuple(size) == tuple(sensor_size):
            return _CAMERA_NAMES.get(key, f"neuromoco_{size[0]}x{size[1]}")
    return f"neuromoco_{sensor_size[0]}x{sensor_size[1]}"
