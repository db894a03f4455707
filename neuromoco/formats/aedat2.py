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

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.events import EVENT_DTYPE, EventFormatError, SensorSize
from neuromoco.formats.base import FileInfo, concat, fixed_records, iter_records, read_text_header

MAGIC = "!AER-DAT2.0"
RECORD = np.dtype([("a", ">u4"), ("t", ">u4")])
DEFAULT_SENSOR_SIZE: dict[str, SensorSize] = {"aedat2": (128, 128)}

DAVIS_SIZES: list[tuple[str, SensorSize]] = [
    ("davis240", (240, 180)),
    ("davis346", (346, 260)),
    ("davis640", (640, 480)),
    ("davis128", (128, 128)),
]


def probe(path: Path, fmt: str = "aedat2", sensor_size: SensorSize | None = None) -> FileInfo:
    lines, offset = read_text_header(path, b"#")
    if not lines or not lines[0].startswith(MAGIC):
        raise EventFormatError(path, "not an AEDAT 2.0 file (no #!AER-DAT2.0 first line)")
    chip = None
    for line in lines:
        if line.lower().startswith("aechip:"):
            chip = line.split(":", 1)[1].strip()
            break
    short = chip.rsplit(".", 1)[-1] if chip else None
    layout = "dvs128"
    size: SensorSize = (128, 128)
    if short and "davis" in short.lower():
        layout = "davis"
        size = next((s for k, s in DAVIS_SIZES if k in short.lower()), (240, 180))
    elif short and not any(k in short.lower() for k in ("dvs128", "tmpdiff128")):
        raise EventFormatError(
            path, f"AEDAT 2.0 chip {short!r} has an address layout this reader does not know"
        )
    n = fixed_records(path, offset, RECORD.itemsize, "AEDAT 2.0")
    extra = {"layout": layout, "n_records": n, "chip_class": chip}
    # The geometry of the address decoding is the chip's; a sensor_size override only changes
    # the range check (the y flip always uses the chip's height).
    return FileInfo(
        "aedat2", tuple(sensor_size or size), short, offset, extra | {"chip_size": size}
    )


def _unwrap(t32: np.ndarray, state: list[int]) -> np.ndarray:
    """uint32 timestamps -> int64, adding 2**32 at each wrap (a backward jump > 2**31).

    ``state`` = [wraps so far, previous raw timestamp or -1], carried across chunks.
    """
    t = t32.astype(np.int64)
    if t.size == 0:
        return t
    prev = state[1]
    if prev >= 0:
        first_wrap = int(prev - t[0] > (1 << 31))
    else:
        first_wrap = 0
    jumps = np.diff(t) < -(1 << 31)
    if first_wrap or state[0] or jumps.any():
        wraps = np.empty(t.shape[0], dtype=np.int64)
        wraps[0] = state[0] + first_wrap
        np.cumsum(jumps, out=wraps[1:])
        wraps[1:] += wraps[0]
        state[0] = int(wraps[-1])
        t += wraps << 32
    state[1] = int(t32[-1])
    return t


def decode(records: np.ndarray, layout: str, chip_size: SensorSize, state: list[int]) -> np.ndarray:
    """Decode raw records (``RECORD`` dtype) to events, dropping non-DVS records."""
    a = records["a"].astype(np.uint32)
    t = _unwrap(records["t"], state)
    if layout == "dvs128":
        keep = a < 0x8000
        if not keep.all():
            a, t = a[keep], t[keep]
        out = np.empty(a.shape[0], dtype=EVENT_DTYPE)
        out["t"] = t
        out["x"] = 127 - ((a >> 1) & 0x7F)
        out["y"] = 127 - ((a >> 8) & 0x7F)
        out["p"] = (a & 1) ^ 1
        return out
    keep = (a & 0x80000400) == 0  # DVS type (bit 31 clear), not an external-input event
    if not keep.all():
        a, t = a[keep], t[keep]
    out = np.empty(a.shape[0], dtype=EVENT_DTYPE)
    out["t"] = t
    out["x"] = (a >> 12) & 0x3FF
    row = ((a >> 22) & 0x1FF).astype(np.int32)
    h = chip_size[1]
    if row.size and int(row.max()) >= h:
        raise EventFormatError(None, f"DAVIS event row {int(row.max())} outside the {h}-row chip")
    out["y"] = (h - 1) - row
    out["p"] = (a >> 11) & 1
    return out


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    n = info.extra["n_records"]
    state = [0, -1]
    for block in iter_records(path, info.data_offset, RECORD, n, chunk_events):
        try:
            ev = decode(block, info.extra["layout"], info.extra["chip_size"], state)
        except EventFormatError as e:
            raise EventFormatError(path, e.reason) from None
        if ev.size:
            yield ev


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat(iter_chunks(path, info, 1 << 62))


def to_cifar10dvs_convention(events: np.ndarray) -> np.ndarray:
    """Events of a CIFAR10-DVS file as spikingjelly/events-tfds orient them (x and y swapped)."""
    out = events.copy()
    out["x"], out["y"] = events["y"], events["x"]
    return out
