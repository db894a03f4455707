"""Datasets for NeuroMoCo: DVS128 Gesture, CIFAR10-DVS, N-Caltech101, procedural gestures.

Read from the user's local copy in each dataset's official layout (never downloaded), cut into
labelled samples, framed with the model's :class:`~neuromoco.framing.FramingSpec`, cached on disk.

* :func:`build_dataset` (``neuromoco.data.registry``): the entry point used by the recipes.
* Event sources (numpy only): :class:`DVS128Gesture`, :class:`CIFAR10DVS`, :class:`NCaltech101`,
  :class:`ProceduralGestures` — lists of :class:`SampleRef` with ``class_names``.
* Torch datasets: :class:`FramesDataset` (``sampling="clip"`` or ``"window"``) and
  :class:`MixedUnlabeled` (pretraining mixture).
* :mod:`~neuromoco.data.splits` documents the per-class split of the datasets without an
  official one; :mod:`~neuromoco.data.cache` the frame cache.

This file stays light: attributes are imported on first use, and nothing here imports torch.
"""

from __future__ import annotations

from neuromoco.lazy import lazy_exports

_EXPORTS = {
    "DatasetNotFoundError": "errors",
    "DATASET_SOURCES": "errors",
    "SampleRef": "samples",
    "SampleSource": "samples",
    "split_per_class": "splits",
    "DVS128Gesture": "dvs128_gesture",
    "CIFAR10DVS": "cifar10_dvs",
    "NCaltech101": "ncaltech101",
    "ProceduralGestures": "procedural",
    "procedural_from_directory": "procedural",
    "SampleCache": "cache",
    "FramesDataset": "frames_dataset",
    "MixedUnlabeled": "mixed",
    "DATASETS": "registry",
    "build_dataset": "registry",
    "build_source": "registry",
    "build_mixed": "registry",
    "register_dataset": "registry",
    "default_framing": "registry",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
