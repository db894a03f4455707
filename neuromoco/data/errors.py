"""Errors for missing or incomplete datasets, with where to get the data (never downloaded here)."""

from __future__ import annotations

from pathlib import Path

DATASET_SOURCES: dict[str, str] = {
    "dvs128_gesture": (
        "DVS128 Gesture (Amir et al., CVPR 2017), IBM: "
        "https://research.ibm.com/interactive/dvsgesture/ — archive DvsGesture.tar.gz "
        "(https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8); extract it so that "
        "<root>/DvsGesture/user01_fluorescent.aedat exists"
    ),
    "cifar10_dvs": (
        "CIFAR10-DVS (Li et al., Front. Neurosci. 2017): "
        "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 — unzip the ten class "
        "archives (airplane.zip ... truck.zip) so that <root>/airplane/cifar10_airplane_0.aedat exists"
    ),
    "ncaltech101": (
        "N-Caltech101 (Orchard et al., Front. Neurosci. 2015): "
        "https://www.garrickorchard.com/datasets/n-caltech101 (data: "
        "https://data.mendeley.com/datasets/cy6cvx3ryv/1) — extract Caltech101.zip so that "
        "<root>/Caltech101/airplanes/image_0001.bin exists"
    ),
    "procedural": (
        "procedural gestures are generated locally: `neuromoco synth OUT_DIR --per-class N` or "
        "`neuromoco.data.procedural_writer.write_dataset(out_dir, ...)` "
        "(or build_dataset('procedural', root=None, ...) for an in-memory set)"
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset directory that is missing or incomplete.

    The message names the dataset, the exact file or folder expected and where it was looked
    for, and where the official data can be obtained. NeuroMoCo never downloads datasets.
    """

    def __init__(self, dataset: str, root: str | Path | None, problem: str):
        self.dataset = dataset
        self.root = None if root is None else str(root)
        self.problem = problem
        src = DATASET_SOURCES.get(dataset, "")
        msg = f"{dataset} dataset at {self.root}: {problem}"
        if src:
            msg += f"\nObtain it from {src}.\nNeuroMoCo never downloads datasets; place the files yourself."
        super().__init__(msg)

    def __str__(self) -> str:  # FileNotFoundError's str() would only show errno fields
        return self.args[0]
