"""CIFAR10-DVS (Li et al., Front. Neurosci. 2017): 10 class folders of AEDAT 2.0 recordings.

Layout (the ten official zips extracted; spikingjelly keeps them under ``extract/``)::

    <root>/airplane/cifar10_airplane_0.aedat ... (1000 per class, DVS128 addresses, 128×128)
    <root>/automobile/ ... <root>/truck/

Orientation: by default events are returned in spikingjelly's (events-tfds') CIFAR10-DVS
convention, ``x = 127 − row``, ``y = 127 − column`` (the AEDAT 2.0 reader's x and y swapped, see
:mod:`neuromoco.formats.aedat2`), so frames match what spikingjelly-based papers trained on;
``convention="jaer"`` keeps the reader's jAER image coordinates.

Labels follow the CIFAR-10 order (= sorted folder names): airplane 0, automobile 1, bird 2, cat 3,
deer 4, dog 5, frog 6, horse 7, ship 8, truck 9. There is **no official train/test split**; see
:mod:`neuromoco.data.splits` (default: first 90 % of each class in sorted file order = 9000/1000).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neuromoco.data.errors import DatasetNotFoundError
from neuromoco.data.samples import SampleRef, SampleSource, check_split
from neuromoco.data.splits import TRAIN_FRACTION, split_per_class

CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
SENSOR_SIZE = (128, 128)
NAME = "cifar10_dvs"


def find_class_root(root: Path, class_names, name: str) -> Path:
    """``root`` or ``root/extract`` (spikingjelly), whichever holds the first class folder."""
    for cand in (root, root / "extract"):
        if any((cand / c).is_dir() for c in class_names):
            return cand
    return root


def list_class_files(
    root: Path, data_dir: Path, class_names, suffix: str, name: str
) -> list[list[str]]:
    """Files ``data_dir/<class>/*<suffix>`` per class; errors name every missing/empty folder."""
    missing = [c for c in class_names if not (data_dir / c).is_dir()]
    if missing:
        more = f" (and {len(missing) - 8} more)" if len(missing) > 8 else ""
        raise DatasetNotFoundError(
            name,
            root,
            f"{len(missing)} of {len(class_names)} class folder(s) missing in {data_dir}: "
            f"{', '.join(missing[:8])}{more} (expected {data_dir}/<class>/*{suffix})",
        )
    files = []
    empty = []
    for c in class_names:
        fs = sorted(
            str((data_dir / c / f).resolve())
            for f in os.listdir(data_dir / c)
            if f.endswith(suffix)
        )
        if not fs:
            empty.append(str(data_dir / c))
        files.append(fs)
    if empty:
        raise DatasetNotFoundError(
            name,
            root,
            f"no *{suffix} files in {len(empty)} class folder(s): {', '.join(empty[:8])}",
        )
    return files


class CIFAR10DVS(SampleSource):
    """CIFAR10-DVS samples of one split (per-class split, see :mod:`neuromoco.data.splits`).

    Args:
        root: folder holding the ten class folders (or ``extract/`` with them).
        split: ``"train"``, ``"test"`` or ``"all"``.
        train_fraction: per-class training fraction (default 0.9).
        seed: ``None`` = sorted file order; an int = seeded per-class permutation.
        convention: ``"spikingjelly"`` (x/y as spikingjelly, default) or ``"jaer"``.
    """

    name = NAME
    class_names = CLASS_NAMES
    sensor_size = SENSOR_SIZE

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        train_fraction: float = TRAIN_FRACTION,
        seed: int | None = None,
        convention: str = "spikingjelly",
    ):
        self.split = check_split(split)
        if convention not in ("spikingjelly", "jaer"):
            raise ValueError(f"convention must be 'spikingjelly' or 'jaer', got {convention!r}")
        self.convention = convention
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                NAME,
                self.root,
                "folder does not exist; expected <root>/airplane/*.aedat ... <root>/truck/",
            )
        self.data_dir = find_class_root(self.root, CLASS_NAMES, NAME)
        files = list_class_files(self.root, self.data_dir, CLASS_NAMES, ".aedat", NAME)
        self.train_fraction = train_fraction
        self.seed = seed
        self.samples = [
            SampleRef(f, lab, None, None, Path(f).name)
            for f, lab in split_per_class(files, split, train_fraction, seed)
        ]

    def read_source(self, source: str) -> np.ndarray:
        from neuromoco.events import read_events

        ev = read_events(source, sensor_size=SENSOR_SIZE, format="aedat2")
        if self.convention == "spikingjelly":
            from neuromoco.formats.aedat2 import to_cifar10dvs_convention

            ev = to_cifar10dvs_convention(ev)
        return ev

    def source_identity(self, source: str) -> tuple:
        return (*super().source_identity(source), self.convention)
