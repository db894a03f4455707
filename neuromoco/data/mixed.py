"""``MixedUnlabeled``: several datasets concatenated for self-supervised pretraining.

The NeuroMoCo paper pretrains on "a synthetic neuromorphic dataset composed of CIFAR10(-DVS),
N-Caltech101 and DVS128Gesture" without labels, all at 128×128. Each part is resized to the common
``size`` on **event coordinates** (``FramesDataset.with_size``: N-Caltech101's 240×180 becomes
128×128 by ``x' = ⌊x·128/240⌋``, ``y' = ⌊y·128/180⌋``), labels are replaced by −1, and one
``transform`` (e.g. ``TwoViews(DVSAugment())``) is applied to every sample.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from neuromoco.data.frames_dataset import FramesDataset
from neuromoco.data.samples import PAPER_SIZE

UNLABELED = -1


class MixedUnlabeled(Dataset):
    """Concatenation of ``datasets`` with labels dropped, all at ``size`` = (width, height).

    Args:
        datasets: :class:`FramesDataset` objects (resized here if needed) or any dataset whose
            items are ``frames`` or ``(frames, label)`` with frames ``[T, 2, H, W]`` already at
            ``size`` (checked when read).
        size: common ``(width, height)`` (paper: 128×128).
        transform: applied to every frames tensor (the parts' own transforms are not used).

    Items are ``(frames, -1)`` (or ``((x_q, x_k), -1)`` with a ``TwoViews`` transform), so the
    same loop serves labelled and unlabelled data. ``parts`` lists ``(name, length)``.
    """

    def __init__(
        self,
        datasets: Sequence[Dataset],
        size: tuple[int, int] = PAPER_SIZE,
        transform: Callable | None = None,
    ):
        if not datasets:
            raise ValueError("MixedUnlabeled needs at least one dataset")
        self.size = (int(size[0]), int(size[1]))
        parts = []
        Ts = set()
        for d in datasets:
            if isinstance(d, FramesDataset):
                d = FramesDataset(d.source, d.framing, d.sampling, d.cache_dir, None, d.seed)
                if tuple(d.framing.size) != self.size:
                    d = d.with_size(self.size)
                Ts.add(d.framing.T)
            parts.append(d)
        if len(Ts) > 1:
            raise ValueError(f"all datasets must use the same number of frames T, got {sorted(Ts)}")
        self.datasets = parts
        self.transform = transform
        self.cumulative = []
        total = 0
        for d in parts:
            if len(d) == 0:
                raise ValueError(f"dataset {_name(d)} is empty")
            total += len(d)
            self.cumulative.append(total)

    @property
    def parts(self) -> list[tuple[str, int]]:
        return [(_name(d), len(d)) for d in self.datasets]

    def build_cache(self, workers: int | None = None, progress: bool = True) -> int:
        """Build the caches of every part that has one; returns samples processed."""
        return sum(
            d.build_cache(workers, progress)
            for d in self.datasets
            if isinstance(d, FramesDataset) and d.cache is not None
        )

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def __len__(self) -> int:
        return self.cumulative[-1]

    def __getitem__(self, index: int):
        n = len(self)
        i = int(index) + (n if int(index) < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for {n} samples")
        k = bisect.bisect_right(self.cumulative, i)
        j = i - (self.cumulative[k - 1] if k else 0)
        item = self.datasets[k][j]
        x = item[0] if isinstance(item, tuple | list) else item
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        if x.ndim != 4 or x.shape[1] != 2 or (x.shape[3], x.shape[2]) != self.size:
            raise ValueError(
                f"{_name(self.datasets[k])} item {j} has shape {tuple(x.shape)}; MixedUnlabeled "
                f"needs [T, 2, {self.size[1]}, {self.size[0]}] (wrap it in a FramesDataset to resize)"
            )
        if self.transform is not None:
            x = self.transform(x)
        return x, UNLABELED

    def __repr__(self) -> str:
        return f"MixedUnlabeled({self.parts}, size={self.size})"


def _name(d) -> str:
    src = getattr(d, "source", None)
    return getattr(src, "name", None) or type(d).__name__
