"""``unlabeled_folder``: every event file of a folder, cut into fixed segments, labels unused.

For NeuroMoCo's mixed pretraining on real recordings that have no labels (e.g. the 25 DVS128
recordings of ``../shared/testdata/unlabeled_dvs128``): each readable event file (any format
:func:`neuromoco.events.read_events` detects) becomes ``⌊duration / segment_us⌋`` samples
``[t0 + i·segment_us, t0 + (i + 1)·segment_us)`` µs with label −1; with ``sampling = "window"``
the frames dataset then draws a random window inside each segment.

The split is by file (deterministic: every ``1 / test_fraction``-th file in name order is a test
file), so no recording feeds both splits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neuromoco.data.samples import SampleRef, SampleSource, check_split

NAME = "unlabeled_folder"
EVENT_SUFFIXES = (
    ".aedat4",
    ".aedat",
    ".raw",
    ".dat",
    ".csv",
    ".txt",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".es",
)


class UnlabeledFolder(SampleSource):
    """The event files directly in ``root`` (sorted by name), cut into ``segment_us`` segments.

    Args:
        root: the folder.
        split: ``"train"``, ``"test"`` or ``"all"``.
        segment_us: segment length (µs, ≥ 1000).
        test_fraction: fraction of the files held out as the test split (0 = all train).
        sensor_size: ``(width, height)``; default: that of the first file.
    """

    name = NAME

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        segment_us: int = 1_500_000,
        test_fraction: float = 0.0,
        sensor_size: tuple[int, int] | None = None,
    ):
        from neuromoco.data.errors import DatasetNotFoundError
        from neuromoco.events import read_recording

        self.split = check_split(split)
        if int(segment_us) < 1000:
            raise ValueError(f"segment_us must be ≥ 1000 µs, got {segment_us}")
        if not 0.0 <= float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        folder = Path(root)
        if not folder.is_dir():
            raise DatasetNotFoundError(NAME, root, "not a folder")
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(EVENT_SUFFIXES)
        )
        files = [p for p in files if p.name != "labels.csv"]
        if not files:
            raise DatasetNotFoundError(
                NAME, root, f"no event files ({', '.join(EVENT_SUFFIXES)}) in the folder"
            )
        every = round(1 / test_fraction) if test_fraction > 0 else 0
        self.class_names = ()
        self.sensor_size = tuple(sensor_size) if sensor_size else None
        self.samples = []
        for k, p in enumerate(files):
            is_test = every > 0 and k % every == every - 1
            if split != "all" and is_test != (split == "test"):
                continue
            rec = read_recording(p)
            if self.sensor_size is None:
                self.sensor_size = tuple(rec.sensor_size)
            t = rec.events["t"]
            if t.size == 0:
                continue
            t0, t1 = int(t[0]), int(t[-1])
            n = (t1 - t0) // int(segment_us)
            for i in range(n):
                a = t0 + i * int(segment_us)
                self.samples.append(
                    SampleRef(str(p.resolve()), -1, a, a + int(segment_us), f"{p.name}#{i}")
                )
        if self.sensor_size is None:
            self.sensor_size = (128, 128)

    def read_source(self, source: str) -> np.ndarray:
        from neuromoco.events import read_events

        return read_events(source, self.sensor_size)
