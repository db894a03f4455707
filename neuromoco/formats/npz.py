"""``.npz`` events: this project's own files and spikingjelly's ``events_np`` files.

Keys ``t``, ``x``, ``y``, ``p`` (one 1-D array each, equal lengths; any integer dtype, ``p`` may
be bool) are required. This project's writer adds ``sensor_size`` = ``[width, height]`` and
``neuromoco_format`` = 1. spikingjelly's files store no sensor size: it is inferred from the events by the rule every
reader shares (:func:`neuromoco.formats.sensor_size.infer_sensor_size`: the first of 128×128
(DVS128 Gesture, CIFAR10-DVS), 240×180 (N-Caltech101), 346×260, 640×480, 1280×720 that holds
every event, else max + 1); pass ``sensor_size`` to override. Chunked reading
streams each member from the zip (compressed or not) without loading the whole array.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from tokenize import TokenError

import numpy as np

from neuromoco.atomic import atomic_write
from neuromoco.formats.base import FileInfo, Head
from neuromoco.formats.sensor_size import extent, infer_sensor_size
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

KEYS = ("t", "x", "y", "p")


def _open_member(zf: zipfile.ZipFile, key: str, path: Path):
    """Open ``key.npy`` in the zip; return (stream, dtype, length) after parsing the npy header."""
    try:
        stream = zf.open(f"{key}.npy")
    except KeyError:
        raise EventFormatError(path, f"npz file has no '{key}' array (needs t, x, y, p)") from None
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as e:
        raise EventFormatError(path, f"npz member '{key}' cannot be opened: {e}") from None
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"npy version {version}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError, TokenError) as e:
        # numpy parses the header dict with tokenize/ast: a garbled one raises TokenError or
        # SyntaxError, not ValueError
        stream.close()
        raise EventFormatError(path, f"npz member '{key}' is not a valid .npy array: {e}") from e
    if len(shape) != 1 or dtype.hasobject or dtype.kind not in "iub":
        stream.close()
        raise EventFormatError(
            path, f"npz member '{key}' must be a 1-D integer array, got shape {shape} {dtype}"
        )
    return stream, dtype, int(shape[0])


def _sensor_size_from(zf: zipfile.ZipFile, path: Path) -> SensorSize | None:
    if "sensor_size.npy" not in zf.namelist():
        return None
    try:
        with zf.open("sensor_size.npy") as s:
            arr = np.lib.format.read_array(s, allow_pickle=False)
        w, h = (int(v) for v in np.asarray(arr).ravel()[:2])
    except Exception as e:  # any failure here is a corrupt member
        raise EventFormatError(path, f"npz 'sensor_size' is not [width, height]: {e}") from e
    if w <= 0 or h <= 0:
        raise EventFormatError(path, f"npz 'sensor_size' {w}x{h} is not positive")
    return w, h


def _zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise EventFormatError(path, f"not a valid npz (zip) file: {e}") from e


def probe(
    path: Path, fmt: str = "npz", sensor_size: SensorSize | None = None, head: Head | None = None
) -> FileInfo:
    """Member lengths and sensor size of an npz file (``head`` is not used: the zip directory
    sits at the end of the file)."""
    with _zip(path) as zf:
        lengths = {}
        for k in KEYS:
            stream, _dtype, n = _open_member(zf, k, path)
            stream.close()
            lengths[k] = n
        if len(set(lengths.values())) != 1:
            raise EventFormatError(path, f"npz arrays t, x, y, p differ in length: {lengths}")
        stored = _sensor_size_from(zf, path)
        own = "neuromoco_format.npy" in zf.namelist()
    extra = {
        "n_events": lengths["t"],
        "writer": "neuromoco" if own else "other (e.g. spikingjelly)",
    }
    size = sensor_size or stored
    if size is None:
        _n, max_x, max_y = extent(iter_chunks(path, FileInfo("npz", (1, 1)), 1 << 22))
        size = infer_sensor_size(max_x, max_y)
        extra["sensor_size_inferred"] = True
    return FileInfo("npz", tuple(size), None, 0, extra)


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    with _zip(path) as zf:
        members = [_open_member(zf, k, path) for k in KEYS]
        try:
            n = members[0][2]
            if any(m[2] != n for m in members):
                raise EventFormatError(path, "npz arrays t, x, y, p differ in length")
            done = 0
            while done < n:
                k = min(chunk_events, n - done)
                out = np.empty(k, dtype=EVENT_DTYPE)
                for key, (stream, dtype, _n) in zip(KEYS, members, strict=True):
                    raw = stream.read(k * dtype.itemsize)
                    if len(raw) != k * dtype.itemsize:
                        raise EventFormatError(path, f"truncated npz member '{key}'")
                    col = np.frombuffer(raw, dtype=dtype)
                    if key != "t" and col.size and (col.min() < 0 or col.max() > 0xFFFF):
                        raise EventFormatError(path, f"npz '{key}' values outside 0..65535")
                    out[key] = col
                done += k
                yield out
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            if isinstance(e, EventFormatError):
                raise
            raise EventFormatError(path, f"corrupt npz file: {e}") from e
        finally:
            for stream, _d, _n in members:
                stream.close()


def read(path: Path, info: FileInfo) -> np.ndarray:
    return concat_events(iter_chunks(path, info, 1 << 62))


def write(path, events: np.ndarray, sensor_size: SensorSize) -> None:
    """Write t (int64 µs), x, y (uint16), p (uint8) and ``sensor_size`` ([W, H]) uncompressed."""

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                t=np.ascontiguousarray(events["t"], dtype=np.int64),
                x=np.ascontiguousarray(events["x"], dtype=np.uint16),
                y=np.ascontiguousarray(events["y"], dtype=np.uint16),
                p=np.ascontiguousarray(events["p"], dtype=np.uint8),
                sensor_size=np.asarray(sensor_size, dtype=np.int64),
                neuromoco_format=np.int64(1),
            )

    atomic_write(path, _write)
