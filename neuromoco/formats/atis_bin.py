"""ATIS ``.bin`` (N-MNIST, N-Caltech101): headerless 5-byte records.

Each record is 40 bits, big-endian: bits 39-32 x, bits 31-24 y, bit 23 polarity (1 = ON),
bits 22-0 timestamp (µs). Timestamp overflow (the dataset authors' ``Read_Ndataset.m``, followed
by tonic): a record with y == 240 is not an event but marks a 2**13 µs overflow; every later
timestamp is increased by 2**13 per overflow record seen so far, and the overflow records are
dropped.

The format stores no sensor size. Default (documented inference): 34×34 (N-MNIST) when every
event has x < 34 and y < 34, else 240×180 (N-Caltech101); pass ``sensor_size`` to override
(e.g. ``sensor_size=(34, 34)`` for N-MNIST samples, so a corrupt one cannot be taken as 240×180).
The inference scans the file once in chunks (bounded memory); it is skipped when ``sensor_size``
is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.formats.base import (
    Checked,
    FileInfo,
    Head,
    decode_records,
    events_of,
    fixed_records,
    iter_records,
    scratch,
    xy_view,
)
from neuromoco.types import SensorSize, concat_events

RECORD = np.dtype((np.uint8, 5))
OVERFLOW_Y = 240
OVERFLOW_US = 1 << 13
NMNIST_SIZE: SensorSize = (34, 34)
NCALTECH101_SIZE: SensorSize = (240, 180)
_SCAN_RECORDS = 1 << 22


def probe(
    path: Path,
    fmt: str = "atis_bin",
    sensor_size: SensorSize | None = None,
    head: Head | None = None,
) -> FileInfo:
    """Record count and sensor size of an ATIS ``.bin`` file (no header: without
    ``sensor_size``, inferred from a scan of the coordinates); ``head``: its first bytes."""
    n = fixed_records(path, 0, 5, "ATIS .bin", head)
    extra: dict = {"n_records": n}
    if sensor_size is None:
        xmax = ymax = -1
        for block in iter_records(path, 0, RECORD, n, _SCAN_RECORDS, head):
            y = block[:, 1]
            ev = y != OVERFLOW_Y
            if ev.any():
                xmax = max(xmax, int(block[ev, 0].max()))
                ymax = max(ymax, int(y[ev].max()))
        sensor_size = NMNIST_SIZE if (xmax < 34 and ymax < 34) else NCALTECH101_SIZE
        extra["sensor_size_inferred"] = True
    camera = "ATIS"
    return FileInfo("atis_bin", tuple(sensor_size), camera, 0, extra, head)


def decode_block(raw: np.ndarray, out: np.ndarray, state: list[int], tmp) -> int:
    """Decode one block of records (``raw``: uint8, 5 bytes a record) into ``out``; return the
    number of events written (overflow records are dropped).

    ``state`` = [overflow records seen so far]. Bytes 1-4 of each record are read as one
    big-endian uint32 ``v`` (y << 24 | p << 23 | t), so y, p and t come from one strided load.
    """
    m = raw.shape[0] // 5
    if m == 0:
        return 0
    v, t1 = tmp[0][:m], tmp[1][:m]
    np.copyto(v, np.ndarray((m,), dtype=">u4", buffer=raw, offset=1, strides=(5,)))
    np.right_shift(v, 24, out=t1)
    is_ovf = t1 == OVERFLOW_Y
    any_ovf = bool(is_ovf.any())
    if any_ovf or state[0]:
        return _decode_with_overflow(raw.reshape(m, 5), v, is_ovf, any_ovf, out, state)
    t1 <<= 16
    t1 |= raw[0::5]
    xy_view(out[:m])[:] = t1
    np.right_shift(v, 23, out=t1)
    t1 &= 1
    out["p"][:m] = t1
    np.bitwise_and(v, 0x7FFFFF, out=t1)
    out["t"][:m] = t1
    return m


def _decode_with_overflow(block, v, is_ovf, any_ovf, out, state) -> int:
    # Each overflow record adds 2**13 µs to every later record; the records are dropped.
    m = v.shape[0]
    count = np.cumsum(is_ovf, dtype=np.int64) if any_ovf else np.zeros(m, np.int64)
    count += state[0]
    state[0] = int(count[-1])
    ts = (v & 0x7FFFFF).astype(np.int64) + count * OVERFLOW_US
    keep = ~is_ovf
    v, ts, x = v[keep], ts[keep], block[keep, 0]
    k = v.shape[0]
    out = out[:k]
    out["t"] = ts
    out["x"] = x
    out["y"] = v >> 24
    out["p"] = (v >> 23) & 1
    return k


def iter_checked(path: Path, info: FileInfo, chunk_events: int) -> Iterator[Checked]:
    state = [0]
    tmp = scratch(k=2)

    def block(raw: np.ndarray, out: np.ndarray) -> int:
        return decode_block(raw, out, state, tmp)

    yield from decode_records(path, 0, info.extra["n_records"], 5, chunk_events, block, info.head)


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    return events_of(iter_checked(path, info, chunk_events))


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 62))


def encode(events: np.ndarray) -> np.ndarray:
    """Records ([N', 5] uint8) for ``events`` (x, y < 240, t ≥ 0), inserting overflow records
    so that timestamps of any size are representable. Used by tests and the benchmark."""
    t = events["t"].astype(np.int64)
    if t.size and (int(t.min()) < 0 or np.any(np.diff(t) < 0)):
        raise ValueError("ATIS .bin needs sorted, non-negative timestamps")
    if events.size and (int(events["x"].max()) > 255 or int(events["y"].max()) >= OVERFLOW_Y):
        raise ValueError("ATIS .bin holds x < 256 and y < 240")
    # overflow records needed before each event: as few as possible, only once t no longer
    # fits the 23-bit field (recordings shorter than 8.4 s, like N-MNIST/N-Caltech101, have none)
    n_ovf = np.maximum(0, -(-(t - 0x7FFFFF) // OVERFLOW_US))
    n_ovf = np.maximum.accumulate(n_ovf) if n_ovf.size else n_ovf
    rem = t - n_ovf * OVERFLOW_US
    total = t.size + int(n_ovf[-1] if t.size else 0)
    out = np.zeros((total, 5), dtype=np.uint8)
    # event i sits after all overflow records up to it
    pos = np.arange(t.size) + n_ovf
    is_ev = np.zeros(total, dtype=bool)
    is_ev[pos] = True
    out[~is_ev, 1] = OVERFLOW_Y
    out[pos, 0] = events["x"]
    out[pos, 1] = events["y"]
    out[pos, 2] = (events["p"].astype(np.uint8) << 7) | (rem >> 16).astype(np.uint8)
    out[pos, 3] = (rem >> 8) & 0xFF
    out[pos, 4] = rem & 0xFF
    return out
