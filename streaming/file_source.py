"""Replay of recorded events: any file ``neuromoco.events`` reads, or an in-memory array."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.events import EVENT_DTYPE, EventFormatError, SensorSize

from .source import SourceBase, SourceError


class _Replay(SourceBase):
    """Replay with pacing (``speed``× real time, 0 = as fast as possible) and optional looping.

    Looping continues timestamps monotonically: pass ``k`` is shifted by ``k · period`` with
    ``period = last − first + 1`` µs of the recording, so windows never see time jump back.
    """

    def __init__(self, name, sensor_size, speed: float, loop: bool, slice_us: int):
        super().__init__(name, sensor_size, speed)
        if int(slice_us) <= 0:
            raise ValueError(f"slice_us must be positive, got {slice_us}")
        self.loop = bool(loop)
        self.slice_us = int(slice_us)
        self.passes = 0

    def _chunks_once(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def _looped(self) -> Iterator[np.ndarray]:
        offset = 0
        first = last = None
        while True:
            any_events = False
            for c in self._chunks_once():
                if self._stop.is_set():
                    return
                if c.shape[0] == 0:
                    continue
                any_events = True
                if first is None:
                    first = int(c["t"][0])
                last = int(c["t"][-1]) if offset == 0 else last
                if offset:
                    c = c.copy()
                    c["t"] += offset
                yield c
            self.passes += 1
            if not (self.loop and any_events):
                return
            offset += last - first + 1

    def __iter__(self) -> Iterator[np.ndarray]:
        self._set_status("running")
        try:
            yield from self._replay(self._looped(), self.slice_us)
        except (OSError, ValueError) as e:
            self._set_status(f"error: {e}")
            raise SourceError(str(e)) from e
        if not self._status.startswith(("error", "ended")):
            self._set_status("ended: end of recording")


class FileSource(_Replay):
    """Replay an event file (AEDAT 2/3.1/4, EVT2/3, DAT, ATIS .bin, npz — what ``iter_events``
    reads), read in chunks of ``chunk_events`` (bounded memory) and released in slices of
    ``slice_us`` µs of stream time when paced.

    Args:
        path: the file.
        speed: 1.0 real time (from event timestamps), N for N×, 0 for as fast as possible.
        loop: start again at the end (timestamps continue monotonically).
        sensor_size: ``(width, height)`` for formats that do not store it.

    Raises:
        EventFormatError (a ValueError): missing/unreadable file or unknown format, at
        construction (the header is read right away).
    """

    def __init__(
        self,
        path: str | Path,
        speed: float = 1.0,
        loop: bool = False,
        chunk_events: int = 65_536,
        slice_us: int = 1000,
        sensor_size: SensorSize | None = None,
        format: str | None = None,
    ):
        from neuromoco.events import iter_events

        self.path = Path(path)
        self._reader = iter_events(
            path, chunk_events=chunk_events, sensor_size=sensor_size, format=format
        )
        self.format = self._reader.format
        self.camera = self._reader.camera
        super().__init__(self.path.name, self._reader.sensor_size, speed, loop, slice_us)

    def _chunks_once(self) -> Iterator[np.ndarray]:
        yield from self._reader

    def close(self) -> None:
        super().close()
        # the reader's generator lives on the streaming thread; it notices the stop flag at its
        # next chunk and closes there (closing a running generator from here would raise).


class ArraySource(_Replay):
    """Replay an in-memory event array (tests, benchmarks, recordings already in memory)."""

    def __init__(
        self,
        events: np.ndarray,
        sensor_size: SensorSize,
        speed: float = 1.0,
        loop: bool = False,
        chunk_events: int = 65_536,
        slice_us: int = 1000,
        name: str = "events",
    ):
        if events.dtype != EVENT_DTYPE:
            raise EventFormatError(
                None, f"{name}: events must have EVENT_DTYPE, got {events.dtype}"
            )
        if events.shape[0] > 1 and bool(np.any(np.diff(events["t"]) < 0)):
            raise EventFormatError(None, f"{name}: events must be sorted by t")
        super().__init__(name, sensor_size, speed, loop, slice_us)
        self.events = events
        self.chunk_events = int(chunk_events)

    def _chunks_once(self) -> Iterator[np.ndarray]:
        for a in range(0, self.events.shape[0], self.chunk_events):
            yield self.events[a : a + self.chunk_events]
