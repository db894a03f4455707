"""Record the raw input events of a stream to a file, written atomically when it ends."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from neuromoco.events import EVENT_DTYPE, SensorSize, sort_events


class Recorder:
    """Collects event chunks in memory (≈13 bytes per event) and writes them with
    ``neuromoco.events.write_events`` (temp file + rename: the file is complete or absent) on
    :meth:`close`. Thread-safe: ``add`` from the streaming thread, ``close`` from any thread.

    Args:
        path: output file; the format follows the suffix (``.aedat4``, ``.aedat``, ``.npz``).
        sensor_size: ``(width, height)`` of the recorded source.
    """

    def __init__(self, path: str | Path, sensor_size: SensorSize):
        import neuromoco.events as events

        # the writer's suffix table (checked now, not after minutes of recording)
        suffixes = getattr(events, "_WRITE_SUFFIX", None) or {".aedat4", ".aedat", ".npz"}
        self.path = Path(path)
        if self.path.suffix.lower() not in suffixes:
            raise ValueError(
                f"{self.path}: cannot record to {self.path.suffix!r}; "
                f"use one of {', '.join(sorted(suffixes))}"
            )
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"{self.path}: the folder {self.path.parent} does not exist")
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.n_events = 0
        self.closed = False

    def add(self, events: np.ndarray) -> None:
        if events.shape[0] == 0:
            return
        with self._lock:
            if not self.closed:
                self._chunks.append(events.copy())
                self.n_events += events.shape[0]

    def close(self) -> Path | None:
        """Write the file (once); returns its path (None if already closed)."""
        from neuromoco.events import write_events

        with self._lock:
            if self.closed:
                return None
            self.closed = True
            chunks, self._chunks = self._chunks, []
        ev = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
        ev, _ = sort_events(ev)  # live cameras deliver a few events out of order
        write_events(self.path, ev, self.sensor_size)
        return self.path
