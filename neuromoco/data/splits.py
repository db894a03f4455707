"""Deterministic per-class train/test splits for datasets without an official split.

CIFAR10-DVS and N-Caltech101 ship **no official train/test split**, and papers differ: many SNN
papers (Spikformer, SEW-ResNet, NDA via spikingjelly) use 90 % / 10 % per class, some take the
first files, some a random permutation, some other ratios (e.g. 80/20 for N-Caltech101) — so
accuracies across papers are not strictly comparable. NeuroMoCo's rule, fixed and documented:

* Files of each class are sorted by name (plain lexicographic ``sorted()`` of the file names, as
  ``torchvision.datasets.DatasetFolder`` and therefore spikingjelly order them).
* ``seed=None`` (default): the first ``ceil(n · train_fraction)`` files of a class are training
  samples and the rest test samples — exactly spikingjelly's
  ``split_to_train_test_set(train_ratio=0.9, random_split=False)``. CIFAR10-DVS: 900 / 100 per class
  = 9000 / 1000, the numbers in the NeuroMoCo paper.
* ``seed=<int>``: the sorted list of each class is permuted by ``numpy.random.default_rng(
  [seed, class_index])`` first (independent of the other classes and of the machine), then cut as
  above. (spikingjelly's ``random_split=True`` shuffles with numpy's *global* RNG, in place,
  class after class, so its result depends on everything drawn before; it is not reproduced.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

TRAIN_FRACTION = 0.9
"""Default per-class training fraction of the datasets without an official split (9 : 1)."""


def split_per_class(
    files_by_class: Sequence[Sequence[str]],
    split: str,
    train_fraction: float = TRAIN_FRACTION,
    seed: int | None = None,
) -> list[tuple[str, int]]:
    """Select the ``split`` (``"train"``, ``"test"`` or ``"all"``) of per-class file lists.

    Args:
        files_by_class: for each class index, its files (any order; they are sorted here).
        split: which part to return.
        train_fraction: fraction of each class used for training, in (0, 1].
        seed: ``None`` = sorted order; an int = seeded per-class permutation (module docstring).

    Returns:
        ``[(file, class_index), ...]`` in class order, then sorted/permuted file order.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < float(train_fraction) <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    out: list[tuple[str, int]] = []
    for label, files in enumerate(files_by_class):
        files = sorted(files)
        if seed is not None:
            order = np.random.default_rng([int(seed), label]).permutation(len(files))
            files = [files[i] for i in order]
        n_train = math.ceil(len(files) * float(train_fraction))
        if split == "train":
            chosen = files[:n_train]
        elif split == "test":
            chosen = files[n_train:]
        else:
            chosen = files
        out.extend((f, label) for f in chosen)
    return out
