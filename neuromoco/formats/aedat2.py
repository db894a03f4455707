"""AEDAT 2.0 (jAER ``.aedat``): DVS128 and DAVIS address layouts.

A ``#!AER-DAT2.0`` text header (lines starting with ``#``; ``# AEChip: <java class>`` names the
chip), then 8-byte big-endian records ``int32 address, int32 timestamp`` (µs). 32-bit timestamps
that wrap around (jAER's counter overflows after ~71 min) are unwrapped.

Address layouts (jAER ``DVS128.Extractor`` and ``DavisBaseCamera`` extractors):

* **DVS128** (chip ``...DVS128`` / ``Tmpdiff128``, or no chip line; CIFAR10-DVS files): bit 0
  is the event type, 0 = ON (jAER: ``type = 1 - addr & 1``, ON when type is 1); bits 1-7 the
  column, bits 8-14 the row; addresses with bit 15 or above set are sync/special events and are
  skipped. jAER flips x (``x = 127 - column``) and counts y upwards from the bottom row; this
  reader returns image coordinates (origin top-left, y down): ``x = 127 - column``,
  ``y = 127 - row``. 128×128.
  *CIFAR10-DVS convention*: spikingjelly (after events-tfds) uses ``x = 127 - row``,
  ``y = 127 - column``, ``p = 1 - bit0`` for CIFAR10-DVS, i.e. this reader's x and y swapped
  (the recordings are transposed); :func:`to_cifar10dvs_convention` converts.
* **DAVIS** (chip class containing ``davis``, e.g. ``DAVIS240C``, ``Davis346red``): bit 31 = 0
  marks a DVS event (bit 31 = 1: APS sample or IMU record, skipped; bit 10 set: external
  input event, skipped); bits 12-21 x, bits 22-30 y (jAER: y up), bit 11 polarity (1 = ON).
  Returned as ``x``, ``y = height - 1 - row``. Sizes: DAVIS240 240×180, DAVIS346 346×260,
  DAVIS640 640×480, DAVIS128 128×128 (unknown DAVIS: 240×180).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.formats import registry
from neuromoco.formats.base import (
    Checked,
    FileInfo,
    Head,
    decode_records,
    events_of,
    fixed_records,
    read_text_header,
    scratch,
    xy_view,
)
from neuromoco.formats.sensor_size import camera_size
from neuromoco.types import EventFormatError, SensorSize, concat_events

MAGIC = "!AER-DAT2.0"
RECORD = np.dtype([("a", ">u4"), ("t", ">u4")])
# records are read as native uint32 pairs and byte-swapped in place (faster than '>u4' fields)
_SWAP = sys.byteorder == "little"
UNKNOWN_DAVIS_SIZE: SensorSize = (240, 180)
"""A DAVIS chip class whose size is not among the registry's known cameras (``aedat2``)."""


def probe(
    path: Path,
    fmt: str = "aedat2",
    sensor_size: SensorSize | None = None,
    head: Head | None = None,
) -> FileInfo:
    """The ``#`` header of an AEDAT 2.0 file; ``head``: its first bytes, when read."""
    lines, offset = read_text_header(path, b"#", end_marker="End Of ASCII Header", head=head)
    if not lines or not lines[0].startswith(MAGIC):
        raise EventFormatError(path, "not an AEDAT 2.0 file (no #!AER-DAT2.0 first line)")
    chip = None
    for line in lines:
        if line.lower().startswith("aechip:"):
            chip = line.split(":", 1)[1].strip()
            break
    short = chip.rsplit(".", 1)[-1] if chip else None
    spec = registry.get("aedat2")
    size = camera_size(short, spec.cameras)
    davis = bool(short) and "davis" in short.lower()
    if short and size is None and not davis:
        raise EventFormatError(
            path, f"AEDAT 2.0 chip {short!r} has an address layout this reader does not know"
        )
    layout = "davis" if davis else "dvs128"
    size = size or (UNKNOWN_DAVIS_SIZE if davis else spec.default_sensor)
    n = fixed_records(path, offset, RECORD.itemsize, "AEDAT 2.0", head)
    extra = {"layout": layout, "n_records": n, "chip_class": chip}
    # The geometry of the address decoding is the chip's; a sensor_size override only changes
    # the range check (the y flip always uses the chip's height).
    return FileInfo(
        "aedat2", tuple(sensor_size or size), short, offset, extra | {"chip_size": size}, head
    )


def _unwrap(t32: np.ndarray, state: list[int]) -> np.ndarray:
    """uint32 timestamps -> int64, adding 2**32 at each wrap (a backward jump > 2**31).

    ``state`` = [wraps so far, previous raw timestamp or -1], carried across chunks.
    """
    t = t32.astype(np.int64)
    prev = state[1]
    first_wrap = int(prev >= 0 and prev - int(t[0]) > (1 << 31))
    jumps = np.diff(t) < -(1 << 31)
    if first_wrap or state[0] or jumps.any():
        wraps = np.empty(t.shape[0], dtype=np.int64)
        wraps[0] = state[0] + first_wrap
        np.cumsum(jumps, out=wraps[1:])
        wraps[1:] += wraps[0]
        state[0] = int(wraps[-1])
        t += wraps << 32
    return t


def decode_block(
    raw: np.ndarray, out: np.ndarray, layout: str, chip_h: int, state: list[int], tmp
) -> int:
    """Decode one block of records (``raw``: uint8, 8 bytes a record) into ``out``; return the
    number of events written (non-DVS records are dropped). ``state`` carries the timestamp
    unwrapping across blocks; ``tmp``: uint32 scratch arrays at least as long as the block.
    """
    words = raw.view(np.uint32).reshape(-1, 2)
    if _SWAP:
        words.byteswap(inplace=True)
    a = words[:, 0]
    t32 = words[:, 1]
    if layout == "dvs128":
        if a.size and int(a.max()) >= 0x8000:
            keep = a < 0x8000  # sync/special events
            a, t32 = a[keep], t32[keep]
    elif a.size and (int(a.max()) & 0x80000000 or np.bitwise_and(a, 0x400).any()):
        keep = (a & 0x80000400) == 0  # DVS type (bit 31 clear), not an external-input event
        a, t32 = a[keep], t32[keep]
    m = a.shape[0]
    if m == 0:
        return 0
    out = out[:m]
    t1, t2 = tmp[0][:m], tmp[1][:m]
    if layout == "dvs128":
        # x = 127 - column = column ^ 127 (bits 1-7), y = 127 - row (bits 8-14), ON = bit 0 clear
        np.right_shift(a, 1, out=t1)
        t1 &= 0x7F
        np.left_shift(a, 8, out=t2)
        t2 &= 0x7F0000
        t1 |= t2
        t1 ^= 0x7F007F
        xy_view(out)[:] = t1
        np.bitwise_and(a, 1, out=t2)
        t2 ^= 1
        out["p"] = t2
    else:
        np.right_shift(a, 22, out=t2)
        t2 &= 0x1FF
        if int(t2.max()) >= chip_h:
            raise EventFormatError(
                None, f"DAVIS event row {int(t2.max())} outside the {chip_h}-row chip"
            )
        np.subtract(chip_h - 1, t2, out=t2)  # y = h - 1 - row (jAER counts rows upwards)
        t2 <<= 16
        np.right_shift(a, 12, out=t1)
        t1 &= 0x3FF
        t1 |= t2
        xy_view(out)[:] = t1
        np.right_shift(a, 11, out=t2)
        t2 &= 1
        out["p"] = t2
    # timestamps: the common case (no decrease at all) needs no unwrapping
    prev = state[1]
    decreasing = (prev >= 0 and int(t32[0]) < prev) or bool(np.any(t32[1:] < t32[:-1]))
    if decreasing or state[0]:
        out["t"] = _unwrap(t32, state)
    else:
        out["t"] = t32
    state[1] = int(t32[-1])
    return m


def iter_checked(path: Path, info: FileInfo, chunk_events: int) -> Iterator[Checked]:
    state = [0, -1]
    tmp = scratch(k=2)
    layout, chip_h = info.extra["layout"], info.extra["chip_size"][1]

    def block(raw: np.ndarray, out: np.ndarray) -> int:
        return decode_block(raw, out, layout, chip_h, state, tmp)

    try:
        yield from decode_records(
            path, info.data_offset, info.extra["n_records"], 8, chunk_events, block, info.head
        )
    except EventFormatError as e:
        if e.path is None:
            raise EventFormatError(path, e.reason) from None
        raise


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    return events_of(iter_checked(path, info, chunk_events))


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 62))


def to_cifar10dvs_convention(events: np.ndarray) -> np.ndarray:
    """Events of a CIFAR10-DVS file as spikingjelly/events-tfds orient them (x and y swapped)."""
    out = events.copy()
    out["x"], out["y"] = events["y"], events["x"]
    return out
