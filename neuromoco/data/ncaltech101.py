"""N-Caltech101 (Orchard et al., Front. Neurosci. 2015): class folders of ATIS 5-byte ``.bin`` files.

Layout (``Caltech101.zip`` extracted; spikingjelly keeps it under ``extract/``)::

    <root>/Caltech101/<class>/image_0001.bin ...        (or <root>/extract/Caltech101/, or <root>)
    <root>/Caltech101/BACKGROUND_Google/...             clutter, not an object class

The distributed archive has the 100 Caltech101 object folders of :data:`OBJECT_CLASSES` (Caltech101's
``Faces`` was left out by the authors, ``Faces_easy`` kept) plus ``BACKGROUND_Google``.
``BACKGROUND_Google`` is excluded by default (it is not an object category); spikingjelly and tonic
count it as a class, giving "101 classes" — pass ``include_background=True`` to match them. Any
other class folder found (e.g. ``Faces``) is used as a class. Labels = index in the case-sensitive
``sorted()`` list of class folder names (torchvision/spikingjelly order).

Events are on a 240×180 grid (x < 240, y < 180; spikingjelly's H=180, W=240). There is **no
official train/test split** — see :mod:`neuromoco.data.splits` (default 90/10 per class).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neuromoco.data.cifar10_dvs import list_class_files
from neuromoco.data.errors import DatasetNotFoundError
from neuromoco.data.samples import SampleRef, SampleSource, check_split
from neuromoco.data.splits import TRAIN_FRACTION, split_per_class

OBJECT_CLASSES: tuple[str, ...] = tuple(
    sorted(
        """
    Faces_easy Leopards Motorbikes accordion airplanes anchor ant barrel bass beaver binocular bonsai
    brain brontosaurus buddha butterfly camera cannon car_side ceiling_fan cellphone chair chandelier
    cougar_body cougar_face crab crayfish crocodile crocodile_head cup dalmatian dollar_bill dolphin
    dragonfly electric_guitar elephant emu euphonium ewer ferry flamingo flamingo_head garfield gerenuk
    gramophone grand_piano hawksbill headphone hedgehog helicopter ibis inline_skate joshua_tree
    kangaroo ketch lamp laptop llama lobster lotus mandolin mayfly menorah metronome minaret nautilus
    octopus okapi pagoda panda pigeon pizza platypus pyramid revolver rhino rooster saxophone schooner
    scissors scorpion sea_horse snoopy soccer_ball stapler starfish stegosaurus stop_sign strawberry
    sunflower tick trilobite umbrella watch water_lilly wheelchair wild_cat windsor_chair wrench yin_yang
    """.split()
    )
)
"""The 100 object folders of the N-Caltech101 archive (all required)."""
BACKGROUND = "BACKGROUND_Google"
SENSOR_SIZE = (240, 180)
NAME = "ncaltech101"


def find_data_dir(root: Path) -> Path:
    for cand in (root / "Caltech101", root / "extract" / "Caltech101", root):
        if cand.is_dir() and any((cand / c).is_dir() for c in OBJECT_CLASSES):
            return cand
    return root / "Caltech101"


class NCaltech101(SampleSource):
    """N-Caltech101 samples of one split (per-class split, see :mod:`neuromoco.data.splits`).

    Args:
        root: folder holding ``Caltech101/`` (or ``extract/Caltech101/``, or the class folders).
        split: ``"train"``, ``"test"`` or ``"all"``.
        train_fraction: per-class training fraction (default 0.9).
        seed: ``None`` = sorted file order; an int = seeded per-class permutation.
        include_background: also use ``BACKGROUND_Google`` as a class (spikingjelly/tonic convention).
    """

    name = NAME
    sensor_size = SENSOR_SIZE

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        train_fraction: float = TRAIN_FRACTION,
        seed: int | None = None,
        include_background: bool = False,
    ):
        self.split = check_split(split)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                NAME, self.root, "folder does not exist; expected <root>/Caltech101/<class>/*.bin"
            )
        self.data_dir = find_data_dir(self.root)
        if not self.data_dir.is_dir():
            raise DatasetNotFoundError(
                NAME,
                self.root,
                f"expected {self.data_dir}/<class>/image_0001.bin; folder not found",
            )
        list_class_files(self.root, self.data_dir, OBJECT_CLASSES, ".bin", NAME)  # all 100 present?
        found = sorted(p.name for p in self.data_dir.iterdir() if p.is_dir())
        names = [c for c in found if c != BACKGROUND]
        if include_background:
            if BACKGROUND not in found:
                raise DatasetNotFoundError(
                    NAME,
                    self.root,
                    f"include_background=True but {self.data_dir / BACKGROUND} is missing",
                )
            names = sorted([*names, BACKGROUND])
        self.class_names = tuple(names)
        files = list_class_files(self.root, self.data_dir, self.class_names, ".bin", NAME)
        self.train_fraction = train_fraction
        self.seed = seed
        self.include_background = include_background
        self.samples = [
            SampleRef(f, lab, None, None, f"{self.class_names[lab]}/{Path(f).name}")
            for f, lab in split_per_class(files, split, train_fraction, seed)
        ]

    def read_source(self, source: str) -> np.ndarray:
        from neuromoco.events import read_events

        return read_events(source, sensor_size=SENSOR_SIZE, format="atis_bin")
