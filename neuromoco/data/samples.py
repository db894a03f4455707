"""Labelled event samples: a list of references into source files, and how to read them.

Every dataset of :mod:`neuromoco.data` is a :class:`SampleSource`: a list of :class:`SampleRef`
(source file + optional ``[t_start, t_end)`` cut in µs + label) and a way to read a whole source.
Nothing here imports torch: :class:`neuromoco.data.frames_dataset.FramesDataset` turns a
``SampleSource`` into tensors, and :mod:`neuromoco.data.cache` stores the frames on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromoco.events import EVENT_DTYPE, SensorSize

PAPER_T = 16
PAPER_SIZE = (128, 128)
"""The paper's framing of every dataset: T = 16 frames of 128×128 (width, height) pixels."""


@dataclass(frozen=True)
class SampleRef:
    """One labelled sample.

    Attributes:
        source: the file the events come from (absolute path), or a generator key
            (``"synth:..."``) for in-memory procedural samples.
        label: class index (0-based), or −1 for unlabelled samples.
        t_start, t_end: cut ``[t_start, t_end)`` in µs within the source; ``None`` = whole source.
        name: a short human-readable id (file name, ``user01_fluorescent#3``).
    """

    source: str
    label: int
    t_start: int | None = None
    t_end: int | None = None
    name: str = ""


def cut_events(events: np.ndarray, t_start: int | None, t_end: int | None) -> np.ndarray:
    """Events with ``t_start ≤ t < t_end`` (µs) of a time-sorted array (a view, no copy)."""
    if t_start is None and t_end is None:
        return events
    t = events["t"]
    a = 0 if t_start is None else int(np.searchsorted(t, t_start, side="left"))
    b = t.shape[0] if t_end is None else int(np.searchsorted(t, t_end, side="left"))
    return events[a:b]


def file_identity(path: str | Path) -> tuple[str, int, int]:
    """``(absolute path, size in bytes, mtime in ns)``: changes whenever the file is rewritten."""
    p = os.path.abspath(os.fspath(path))
    st = os.stat(p)
    return (p, int(st.st_size), int(st.st_mtime_ns))


class SampleSource:
    """Base class: a named, labelled list of event samples from one dataset split.

    Subclasses set ``name``, ``class_names``, ``sensor_size`` (width, height in pixels) and
    ``samples``, and implement :meth:`read_source` (all events of one source, sorted by ``t``).
    Instances must stay picklable (they are sent once to each cache-building worker process).

    Not to be confused with ``neuromoco.streaming.source.EventSource``, a live stream of events
    (camera, file replay): a ``SampleSource`` is a finite, labelled, randomly accessible list.
    """

    name: str = "events"
    class_names: tuple[str, ...] = ()
    sensor_size: SensorSize = (128, 128)
    samples: list[SampleRef]
    split: str = "all"

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

    def read_source(self, source: str) -> np.ndarray:
        """All events of ``source`` (structured ``EVENT_DTYPE`` array, sorted by ``t``)."""
        raise NotImplementedError

    def source_identity(self, source: str) -> tuple:
        """What the cache key of a sample from ``source`` depends on (path, size, mtime)."""
        return file_identity(source)

    def events(self, index: int) -> np.ndarray:
        """The events of sample ``index``, cut to its ``[t_start, t_end)`` bounds."""
        ref = self.samples[index]
        return cut_events(self._read_cached(ref.source), ref.t_start, ref.t_end)

    def _read_cached(self, source: str) -> np.ndarray:
        # Several DVS128 Gesture samples come from one recording and a sampler often visits them
        # in file order: keep the last source decoded (one entry; the memory of one recording).
        last = getattr(self, "_last_source", None)
        if last is not None and last[0] == source:
            return last[1]
        ev = self.read_source(source)
        if ev.dtype != EVENT_DTYPE:
            ev = ev.astype(EVENT_DTYPE)
        self._last_source = (source, ev)
        return ev

    def __getstate__(self):
        d = dict(self.__dict__)
        d.pop("_last_source", None)  # never ship decoded events to worker processes
        return d

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class name (unlabelled samples are counted under ``"-"``)."""
        out: dict[str, int] = {}
        for s in self.samples:
            k = self.class_names[s.label] if 0 <= s.label < len(self.class_names) else "-"
            out[k] = out.get(k, 0) + 1
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, samples={len(self)}, "
            f"classes={self.num_classes}, sensor_size={self.sensor_size})"
        )


def check_split(split: str, allowed=("train", "test", "all")) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {list(allowed)}, got {split!r}")
    return split
