"""AEDAT 4.0 (iniVation DV): reading with the ``aedat`` package, writing with dv-processing.

Reading uses ``aedat`` (Rust): on corrupt files it raises clean errors, where dv-processing's
reader can hang or segfault (FACTS.md, "Reader robustness"), so dv-processing never reads files
here. Only the first event stream is decoded; frames, IMU and trigger packets are skipped. The
sensor size comes from the event stream's info (``sizeX``/``sizeY``), the camera from its
``source`` attribute in the XML header. Writing goes through dv-processing's
``MonoCameraWriter`` (LZ4), the reference AEDAT 4.0 writer; it needs ``t`` ≥ 0 and has no bulk
numpy input (about 2 M events/s).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.atomic import atomic_write
from neuromoco.events import EVENT_DTYPE, EventFormatError, SensorSize
from neuromoco.formats.base import FileInfo, concat

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


def _decoder(path: Path):
    import aedat

    try:
        dec = aedat.Decoder(str(path))
        streams = dec.id_to_stream()
    except BaseException as e:
        if _corrupt(e):
            raise EventFormatError(path, f"corrupt AEDAT 4.0 file: {e}") from None
        raise
    return dec, streams


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


def _convert(ev: np.ndarray) -> np.ndarray:
    out = np.empty(ev.shape[0], dtype=EVENT_DTYPE)
    t = ev["t"]
    if t.size and int(t.max()) > np.iinfo(np.int64).max:
        raise EventFormatError(None, "timestamp beyond int64")
    out["t"] = t
    out["x"] = ev["x"]
    out["y"] = ev["y"]
    out["p"] = ev["on"]
    return out


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    sid = info.extra.get("stream_id")
    if sid is None:
        return
    dec, _streams = _decoder(path)
    pending: list[np.ndarray] = []
    n = 0
    try:
        for packet in dec:
            if packet.get("stream_id") != sid or "events" not in packet:
                continue
            ev = packet["events"]
            while ev.shape[0]:
                take = min(chunk_events - n, ev.shape[0])
                pending.append(_convert(ev[:take]))
                n += take
                ev = ev[take:]
                if n == chunk_events:
                    yield concat(iter(pending))
                    pending, n = [], 0
    except BaseException as e:
        if _corrupt(e) and not isinstance(e, EventFormatError):
            raise EventFormatError(path, f"corrupt AEDAT 4.0 file: {e}") from None
        raise
    if n:
        yield concat(iter(pending))


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat(iter_chunks(path, info, 1 << 62))


def write(path, events: np.ndarray, sensor_size: SensorSize, camera: str = "neuromoco") -> None:
    """Write events as an AEDAT 4.0 file (one LZ4 event stream) through dv-processing."""
    import dv_processing as dv

    if events.size and int(events["t"].min()) < 0:
        raise ValueError(f"{path}: AEDAT 4.0 cannot store negative timestamps")
    w, h = (int(v) for v in sensor_size)

    def _write(tmp: Path) -> None:
        writer = dv.io.MonoCameraWriter(
            str(tmp), dv.io.MonoCameraWriter.EventOnlyConfig(camera, (w, h))
        )
        t = events["t"].tolist()
        x = events["x"].tolist()
        y = events["y"].tolist()
        p = events["p"].astype(bool).tolist()
        step = 1 << 16
        for i in range(0, len(t), step):
            store = dv.EventStore()
            push = store.push_back
            for j in range(i, min(i + step, len(t))):
                push(t[j], x[j], y[j], p[j])
            writer.writeEvents(store)
        del writer  # closes (flushes) the file

    atomic_write(path, _write, suffix=".aedat4")
