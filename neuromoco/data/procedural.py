"""Procedural DVS128-Gesture-like samples (:mod:`neuromoco.synth`): on disk or in memory, one seed scheme and one split rule.

* In memory: :class:`ProceduralGestures` generates ``per_class`` samples of each of the 11
  classes on demand. Nothing is written unless a cache is used; the cache key is the generator
  version and arguments (``neuromoco.synth.GENERATOR_VERSION``), so a change of the renderer
  invalidates cached frames.
* On disk: :func:`neuromoco.data.procedural_writer.write_dataset` writes the same samples in the
  DVS128 Gesture layout (``out_dir/DvsGesture/userXX_<lighting>.aedat`` + ``_labels.csv`` +
  ``trials_to_*.txt``); :func:`procedural_from_directory` reads it with the DVS128 Gesture loader
  (its own trial lists are the split).

Both follow the rules below, so a written set holds exactly the in-memory set of the same
``seed``, ``per_class`` and ``test_fraction``, split the same way:

* **Seeds** (:func:`sample_seed`): sample ``i`` of class ``c`` in a set made with ``seed`` is
  ``generate_gesture(c, sample_seed(seed, c, i))``, from ``SeedSequence([seed, c, i])``, so sets
  of different ``per_class`` share their first samples. The writer draws a recording's class order
  and idle noise from ``sample_seed(seed, RECORDING_KEY, file_index)``: ``RECORDING_KEY`` is one
  past the last label, so it never equals a sample's key.
* **Split** (:func:`train_count`): of the ``n`` samples of a class, indices
  ``i < ceil(n · (1 − test_fraction))`` train, the rest test. The writer splits by user like the
  real dataset, so it also keeps at least one test sample (and one test user) whenever
  ``test_fraction > 0``; the in-memory set only differs where that rule leaves its test split
  empty (``n · test_fraction < 1``).
"""

from __future__ import annotations

import math
import os

import numpy as np

from neuromoco import synth
from neuromoco.data.dvs128_gesture import DVS128Gesture
from neuromoco.data.samples import SampleRef, SampleSource, check_split
from neuromoco.synth import GESTURE_DURATION_US, NUM_CLASSES

NAME = "procedural"
RECORDING_KEY = NUM_CLASSES
"""The ``label`` slot of :func:`sample_seed` for a written recording's own draws (class order,
idle noise): one past the last class label, never a sample's."""


def sample_seed(seed: int, label: int, index: int) -> int:
    """The generator seed of sample ``index`` of class ``label`` in a set made with ``seed``
    (``SeedSequence([seed, label, index])``, 31 bits)."""
    return int(
        np.random.SeedSequence([int(seed), int(label), int(index)]).generate_state(1)[0] >> 1
    )


def train_count(n: int, test_fraction: float, *, nonempty_test: bool = False) -> int:
    """How many of ``n`` ordered items train: ``ceil(n · (1 − test_fraction))``, the rest test.

    ``nonempty_test`` (the writer's split by user) keeps at least one test item whenever
    ``test_fraction > 0`` and ``n ≥ 2``.
    """
    k = math.ceil(n * (1.0 - float(test_fraction)))
    if nonempty_test and test_fraction > 0 and n >= 2:
        k = min(k, n - 1)
    return k


class ProceduralGestures(SampleSource):
    """An in-memory procedural gesture set with a deterministic train/test split.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``.
        per_class: samples per class (train + test).
        seed: set seed (see the module docstring for the per-sample seeds).
        duration_us: length of each sample in µs.
        test_fraction: fraction of each class held out for testing.
    """

    name = NAME

    def __init__(
        self,
        split: str = "train",
        per_class: int = 20,
        seed: int = 0,
        duration_us: int = GESTURE_DURATION_US,
        test_fraction: float = 0.2,
    ):
        self.split = check_split(split)
        if int(per_class) < 1:
            raise ValueError(f"per_class must be ≥ 1, got {per_class}")
        if not 0.0 <= float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        if int(seed) < 0:
            raise ValueError(f"seed must be ≥ 0, got {seed}")
        self.class_names = tuple(synth.CLASS_NAMES)
        self.sensor_size = tuple(synth.SENSOR_SIZE)
        self.per_class = int(per_class)
        self.seed = int(seed)
        self.duration_us = int(duration_us)
        self.test_fraction = float(test_fraction)
        self.version = int(synth.GENERATOR_VERSION)
        n_train = train_count(self.per_class, self.test_fraction)
        rng = range(self.per_class)
        idx = {"train": rng[:n_train], "test": rng[n_train:], "all": rng}[split]
        self.samples = [
            SampleRef(
                f"synth:{label}:{sample_seed(self.seed, label, i)}:{self.duration_us}",
                label,
                0,
                self.duration_us,
                f"{self.class_names[label]}#{i}",
            )
            for label in range(len(self.class_names))
            for i in idx
        ]

    def read_source(self, source: str) -> np.ndarray:
        _, label, s, dur = source.split(":")
        return synth.generate_gesture(int(label), int(s), int(dur))

    def source_identity(self, source: str) -> tuple:
        return ("synth", self.version, source)


def procedural_from_directory(root: str | os.PathLike, split: str = "train") -> DVS128Gesture:
    """A directory written by :func:`neuromoco.data.procedural_writer.write_dataset` (DVS128 Gesture layout)."""
    from neuromoco.data.errors import DatasetNotFoundError

    try:
        ds = DVS128Gesture(root, split, layout="aedat")
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(NAME, root, e.problem) from None
    ds.name = NAME
    ds.class_names = tuple(synth.CLASS_NAMES)
    return ds
