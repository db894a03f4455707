"""Shared pieces of the format modules: what a probe learns from a file header, and small helpers.

Every format module in this package provides

* ``probe(path, fmt, sensor_size=None, head=None) -> FileInfo``: reads the header only
  (cheap; ``head``: the file's first bytes, already read by the format detection, which a
  probe may use instead of reading them again); raises
  :class:`~neuromoco.events.EventFormatError` on a bad header;
* ``iter_chunks(path, info, chunk_events) -> Iterator[np.ndarray]``: raw event arrays
  (``EVENT_DTYPE``, in file order, not yet sorted or range-checked) of at most ``chunk_events``
  events, holding O(chunk_events) memory;
* ``read(path, info) -> np.ndarray``: all events at once (the fast path);

and may provide

* ``iter_checked(path, info, chunk_events) -> Iterator[Checked]``: the same chunks with their
  order and range measured by the decoder itself, on the contiguous columns it computes anyway
  (a measurement on the 13-byte ``EVENT_DTYPE`` records costs ~2 ns per event and field: the
  strided access, not the comparison, is the cost).

Sorting, out-of-order counting and the sensor-range check are decided once, in
``neuromoco.events``, from :class:`Checked` (:func:`measure` for formats without
``iter_checked``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

# A header is never bigger than this: a longer run of header lines means it is not a header.
MAX_HEADER_BYTES = 16 << 20
HEAD_BYTES = 1 << 16


@dataclass(frozen=True)
class Head:
    """A file's first :data:`HEAD_BYTES` bytes (all of it when it is smaller) and its size,
    read once when the file is opened: format detection and the header probes parse these
    bytes, and a file that fits is decoded from them, instead of opening the file three or four
    times (per-file cost is what a dataset of thousands of small files pays: N-CARS, N-MNIST)."""

    data: bytes
    size: int

    @property
    def whole(self) -> bool:
        """Whether ``data`` is the entire file."""
        return len(self.data) == self.size


def read_head(path: Path, size: int) -> Head:
    """:class:`Head` of ``path``, whose size (from the caller's ``stat``) is ``size`` bytes."""
    want = min(size, HEAD_BYTES)
    # os.read on a raw descriptor: a third of the cost of a buffered open + read
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        parts = []
        got = 0
        while got < want:
            part = os.read(fd, want - got)
            if not part:  # the file shrank since its stat
                break
            parts.append(part)
            got += len(part)
    finally:
        os.close(fd)
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    return Head(data, size if len(data) == want else len(data))


def open_data(path: Path, head: Head | None = None):
    """A binary file object over ``path``: over the bytes of ``head`` when they hold the whole
    file (no second open), else the file itself."""
    if head is not None and head.whole:
        return io.BytesIO(head.data)
    return open(path, "rb")


@dataclass(frozen=True)
class FileInfo:
    """What a format's header says about a file."""

    format: str
    sensor_size: SensorSize
    camera: str | None = None
    data_offset: int = 0
    """Byte offset of the first event record."""
    extra: dict = field(default_factory=dict)
    head: Head | None = field(default=None, repr=False, compare=False)
    """The file's first bytes, when the probe was given them (decoders read small files from
    them)."""


def file_size(path: Path, head: Head | None = None) -> int:
    return head.size if head is not None else os.stat(path).st_size


_CONTROL = bytes(range(0, 9)) + bytes(range(14, 32))


def read_text_header(
    path: Path, prefix: bytes, end_marker: str | None = None, head: Head | None = None
) -> tuple[list[str], int]:
    """Read the leading lines that start with ``prefix`` (e.g. ``b"#"`` or ``b"%"``).

    Returns ``(lines without the prefix, stripped, decoded latin-1; byte offset of the first
    non-header byte)``. The header ends at the first line that does not start with ``prefix``,
    after a line equal (case-insensitively) to ``end_marker``, or at a "line" holding control
    bytes: binary event data that happens to begin with the prefix byte is not header text.

    ``head``: the file's first bytes; the header is parsed from them, and the file is opened
    only when the header runs past them.
    """
    if head is not None:
        found = _text_header(io.BytesIO(head.data), path, prefix, end_marker)
        if head.whole or found[1] < len(head.data):
            return found
    with open(path, "rb") as f:
        return _text_header(f, path, prefix, end_marker)


def _text_header(f, path: Path, prefix: bytes, end_marker: str | None) -> tuple[list[str], int]:
    lines: list[str] = []
    offset = 0
    marker = end_marker.lower() if end_marker else None
    while True:
        first = f.read(len(prefix))
        if first != prefix:
            break
        rest = f.readline(MAX_HEADER_BYTES)
        complete = rest.endswith(b"\n")
        if not complete and len(rest) >= MAX_HEADER_BYTES:
            raise EventFormatError(path, "header line longer than 16 MiB: not an event file")
        body = rest.rstrip(b"\r\n")
        if lines and body.translate(None, _CONTROL) != body:
            break  # binary data, not a header line
        lines.append(body.decode("latin-1").strip())
        offset += len(first) + len(rest)
        if offset > MAX_HEADER_BYTES:
            raise EventFormatError(path, "header longer than 16 MiB: not an event file")
        if not complete:  # the file ends inside the header: a header-only file
            break
        if marker is not None and lines[-1].lower() == marker:
            break
    return lines, offset


def fixed_records(
    path: Path, offset: int, record_bytes: int, what: str, head: Head | None = None
) -> int:
    """Number of ``record_bytes``-sized records after ``offset``; error when the tail is partial."""
    n_bytes = file_size(path, head) - offset
    if n_bytes < 0:
        raise EventFormatError(path, f"file ends inside its {what} header")
    if n_bytes % record_bytes:
        raise EventFormatError(
            path,
            f"truncated {what} file: {n_bytes} data bytes is not a multiple of the "
            f"{record_bytes}-byte event record ({n_bytes % record_bytes} bytes left over)",
        )
    return n_bytes // record_bytes


def iter_records(
    path: Path,
    offset: int,
    dtype: np.dtype,
    n_records: int,
    chunk_records: int,
    head: Head | None = None,
) -> Iterator[np.ndarray]:
    """Read fixed-size records in blocks of ``chunk_records`` (bounded memory)."""
    chunk_records = max(1, int(chunk_records))
    with open_data(path, head) as f:
        f.seek(offset)
        left = n_records
        while left > 0:
            n = min(left, chunk_records)
            block = np.empty(n, dtype=dtype)
            if f.readinto(block.reshape(-1).view(np.uint8)) != block.nbytes:
                raise EventFormatError(path, "file shrank while being read")
            left -= n
            yield block


@dataclass(frozen=True)
class Checked:
    """A decoded chunk (``EVENT_DTYPE``, file order) and what ``neuromoco.events`` checks of it."""

    events: np.ndarray
    n_bad: int
    """Events whose t is smaller than their predecessor's, inside the chunk."""
    max_x: int
    max_y: int
    max_p: int


def count_decreasing(t: np.ndarray) -> int:
    """Number of ``i`` with ``t[i] < t[i - 1]`` (fast on a contiguous column)."""
    return int(np.count_nonzero(t[1:] < t[:-1])) if t.shape[0] > 1 else 0


def measure(events: np.ndarray) -> Checked:
    """:class:`Checked` of an ``EVENT_DTYPE`` array, measured on its (strided) fields: the
    generic path for decoders without column-wise checks."""
    if events.shape[0] == 0:
        return Checked(events, 0, 0, 0, 0)
    return Checked(
        events,
        count_decreasing(events["t"]),
        int(events["x"].max()),
        int(events["y"].max()),
        int(events["p"].max()),
    )


def split_checked(items: Iterator[Checked], chunk_events: int) -> Iterator[Checked]:
    """The checked blocks of a decoder that yields large blocks (≥ thousands of events), each
    longer than ``chunk_events`` cut into views, measured anew (only when chunks are smaller
    than the decoder's blocks). No copy: EventChunks promises at most, not exactly,
    ``chunk_events`` per chunk."""
    for c in items:
        if c.events.shape[0] <= chunk_events:
            yield c
        else:
            for i in range(0, c.events.shape[0], chunk_events):
                yield measure(c.events[i : i + chunk_events])


def events_of(items: Iterator[Checked]) -> Iterator[np.ndarray]:
    """The event arrays of checked chunks (a module's ``iter_chunks`` from its ``iter_checked``)."""
    for c in items:
        yield c.events


BLOCK_EVENTS = 1 << 16
"""Own decoders work on blocks of this many records, so their temporaries stay in the CPU cache;
each block is decoded straight into the output array."""


def scratch(n: int = BLOCK_EVENTS, k: int = 3) -> list[np.ndarray]:
    """``k`` preallocated uint32 temporaries of ``n`` elements for a block decoder."""
    return [np.empty(n, dtype=np.uint32) for _ in range(k)]


def shrink(out: np.ndarray, k: int) -> np.ndarray:
    """``out[:k]``; copied when much smaller, so a mostly-dropped chunk frees its buffer."""
    if k == out.shape[0]:
        return out
    return out[:k].copy() if k < out.shape[0] // 2 else out[:k]


def decode_records(
    path: Path,
    offset: int,
    n_records: int,
    record_bytes: int,
    chunk_events: int,
    decode_block: Callable[[np.ndarray, np.ndarray], int | tuple[int, int, int, int, int]],
    head: Head | None = None,
) -> Iterator[Checked]:
    """Yield checked chunks of at most ``chunk_events`` events from fixed-size records.

    The file is read with ``readinto`` into one reused block buffer of ``BLOCK_EVENTS`` records;
    ``decode_block(raw_uint8_block, out_slice)`` decodes a block into the chunk's output (it may
    drop records, e.g. non-DVS ones, and then writes fewer) and returns the number written, or
    ``(n_written, n_decreasing, max_x, max_y, max_p)`` measured on its own columns (else the
    block is measured with :func:`measure` while it is in the CPU cache). ``head``: the file's
    first bytes (read from them when they hold the whole file).
    """
    buf = np.empty(min(BLOCK_EVENTS, max(1, n_records)) * record_bytes, dtype=np.uint8)
    with open_data(path, head) as f:
        f.seek(offset)
        left = n_records
        while left > 0:
            n_chunk = min(left, chunk_events)
            out = np.empty(n_chunk, dtype=EVENT_DTYPE)
            k = done = n_bad = mx = my = mp = 0
            while done < n_chunk:
                m = min(BLOCK_EVENTS, n_chunk - done)
                raw = buf[: m * record_bytes]
                if f.readinto(memoryview(raw)) != m * record_bytes:
                    raise EventFormatError(path, "file shrank while being read")
                r = decode_block(raw, out[k : k + m])
                if isinstance(r, tuple):
                    n, b, x, y, p = r
                else:
                    c = measure(out[k : k + r])
                    n, b, x, y, p = r, c.n_bad, c.max_x, c.max_y, c.max_p
                if n:
                    # the seam between this block and the one before
                    n_bad += b + int(k > 0 and out["t"][k] < out["t"][k - 1])
                    mx, my, mp = max(mx, x), max(my, y), max(mp, p)
                    k += n
                done += m
            left -= n_chunk
            if k:
                yield Checked(shrink(out, k), n_bad, mx, my, mp)


def rechunk(arrays: Iterator[np.ndarray], chunk_events: int) -> Iterator[np.ndarray]:
    """Re-cut a stream of ``EVENT_DTYPE`` arrays (any sizes) into arrays of exactly
    ``chunk_events`` events (the last one shorter); holds at most one chunk."""
    pending: list[np.ndarray] = []
    n = 0
    for ev in arrays:
        while ev.shape[0]:
            take = min(chunk_events - n, ev.shape[0])
            pending.append(ev[:take])
            n += take
            ev = ev[take:]
            if n == chunk_events:
                yield concat_events(iter(pending))
                pending, n = [], 0
    if n:
        yield concat_events(iter(pending))


class _Empty:
    """Stand-in format module for zero-byte files: zero events."""

    @staticmethod
    def read(path: Path, info: FileInfo) -> np.ndarray:
        return np.zeros(0, dtype=EVENT_DTYPE)

    @staticmethod
    def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
        return iter(())


EMPTY = _Empty()


# EVENT_DTYPE seen with x and y as one little-endian uint32 (x | y << 16): decoders write both
# coordinates in one strided pass instead of two.
XY_VIEW = np.dtype(
    {
        "names": ["t", "xy", "p"],
        "formats": ["<i8", "<u4", "u1"],
        "offsets": [0, 8, 12],
        "itemsize": EVENT_DTYPE.itemsize,
    }
)
assert (
    EVENT_DTYPE.itemsize == 13
    and EVENT_DTYPE.fields["x"][1] == 8
    and EVENT_DTYPE.fields["y"][1] == 10
)


VOID13 = np.dtype((np.void, EVENT_DTYPE.itemsize))


def copy_records(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy records whose first 13 bytes are EVENT_DTYPE's layout (t i8, x/y 16-bit, p 8-bit:
    expelliarmus' and AEDAT 4.0's 16-byte structs) from ``src`` to ``dst`` (either side may be
    the 16-byte one): one opaque 13-byte copy per record, 3-4x faster than four field copies."""
    a = np.ndarray(dst.shape, dtype=VOID13, buffer=dst, strides=dst.strides)
    b = np.ndarray(src.shape, dtype=VOID13, buffer=src, strides=src.strides)
    a[...] = b


def xy_view(events: np.ndarray) -> np.ndarray:
    """The ``xy`` uint32 column (x | y << 16) of an ``EVENT_DTYPE`` array, writable."""
    return events.view(XY_VIEW)["xy"]
