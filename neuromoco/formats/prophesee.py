"""Prophesee DAT, EVT 2.0 and EVT 3.0 through ``expelliarmus``.

expelliarmus insists on the suffix (DAT: ``.dat``, EVT2/EVT3: ``.raw``): a file named otherwise
is read through a hard link (or, across file systems, a copy) with the right suffix in a
temporary folder. Its result is checked: ``None``/non-zero status (corrupt input) becomes an
:class:`EventFormatError`, and coordinates are range-checked by ``neuromoco.events``.

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

from neuromoco.events import EVENT_DTYPE, EventFormatError, SensorSize
from neuromoco.formats.base import FileInfo, concat, file_size, read_text_header
from neuromoco.formats.writer import EventWriter

DEFAULT_SENSOR_SIZE: dict[str, SensorSize] = {
    "dat": (304, 240),
    "evt2": (640, 480),
    "evt3": (1280, 720),
}
SUFFIX = {"dat": ".dat", "evt2": ".raw", "evt3": ".raw"}
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
        # DAT: after the header, 1 byte event type and 1 byte event size (8), then 8-byte records
        with open(path, "rb") as f:
            f.seek(offset)
            ts = f.read(2)
        if len(ts) == 2:
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


@contextmanager
def _suffixed(path: Path, fmt: str):
    """``path`` itself when its suffix is what expelliarmus wants, else a hard link (or, across
    file systems, a copy) with that suffix in a temporary folder. (A symlink does not do:
    expelliarmus resolves links and checks the target's suffix.)"""
    want = SUFFIX[fmt]
    if path.suffix == want:
        yield path
        return
    tmpdir = None
    try:
        for parent in (None, path.parent):
            try:
                tmpdir = tempfile.mkdtemp(prefix=".neuromoco_prophesee_", dir=parent)
                link = Path(tmpdir) / f"events{want}"
                os.link(path, link)
                break
            except OSError:
                if tmpdir is not None:
                    shutil.rmtree(tmpdir, ignore_errors=True)
                    tmpdir = None
        if tmpdir is None:
            tmpdir = tempfile.mkdtemp(prefix="neuromoco_prophesee_")
            link = Path(tmpdir) / f"events{want}"
            shutil.copyfile(path, link)
        yield link
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _convert(arr, path: Path) -> np.ndarray:
    if arr is None:
        raise EventFormatError(path, "expelliarmus could not decode the file (corrupt data)")
    out = np.empty(arr.shape[0], dtype=EVENT_DTYPE)
    out["t"] = arr["t"]
    for k in ("x", "y"):
        col = arr[k]
        if col.size and (int(col.min()) < 0 or int(col.max()) > 0xFFFF):
            raise EventFormatError(path, f"decoded {k} outside 0..65535 (corrupt data)")
        out[k] = col
    p = arr["p"]
    if p.size and (int(p.min()) < 0 or int(p.max()) > 1):
        raise EventFormatError(path, "decoded polarity outside 0/1 (corrupt data)")
    out["p"] = p
    return out


def _wizard(fmt: str, path: Path, chunk_events: int | None = None):
    from expelliarmus import Wizard

    if chunk_events is None:
        return Wizard(encoding=fmt, fpath=path)
    return Wizard(encoding=fmt, fpath=path, chunk_size=max(16, int(chunk_events)))


def read(path: Path, info: FileInfo) -> np.ndarray:
    if info.extra["n_data_bytes"] == 0:
        return np.zeros(0, dtype=EVENT_DTYPE)
    if info.format == "evt3":
        return concat(iter_chunks(path, info, 1 << 62))
    with _suffixed(path, info.format) as p:
        try:
            arr = _wizard(info.format, p).read()
        except (RuntimeError, ValueError, OSError) as e:
            raise EventFormatError(path, f"corrupt {info.format.upper()} file: {e}") from e
        return _convert(arr, path)


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """Chunks from expelliarmus' ``read_chunk`` (which may exceed its chunk size by up to 12
    vectorised events, so they are re-cut to ``chunk_events``)."""
    if info.extra["n_data_bytes"] == 0:
        return
    if info.format == "evt3":
        from neuromoco.formats import evt3

        yield from evt3.iter_events(
            path, info.data_offset, info.extra["n_data_bytes"], chunk_events
        )
        return
    with _suffixed(path, info.format) as p:
        # expelliarmus asks for at most chunk_events - 12 so its overshoot stays within the bound
        wiz = _wizard(info.format, p, max(16, chunk_events - 12))
        pending: list[np.ndarray] = []
        n = 0
        try:
            for arr in wiz.read_chunk():
                ev = _convert(arr, path)
                while ev.shape[0]:
                    take = min(chunk_events - n, ev.shape[0])
                    pending.append(ev[:take])
                    n += take
                    ev = ev[take:]
                    if n == chunk_events:
                        yield concat(iter(pending))
                        pending, n = [], 0
        except (RuntimeError, ValueError) as e:
            if isinstance(e, EventFormatError):
                raise
            raise EventFormatError(path, f"corrupt {info.format.upper()} file: {e}") from e
        if n:
            yield concat(iter(pending))


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


DAT_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
"""DAT event types holding CD events in the 8-byte layout this project reads and writes."""


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
