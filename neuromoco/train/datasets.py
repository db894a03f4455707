"""Datasets for a recipe: ``build_dataset`` per ``[data]``, the mixed unlabeled set, label fractions.

* ``data.name = "mixed"``: :class:`neuromoco.data.mixed.MixedUnlabeled` over ``data.datasets``;
  each one is read from ``<data.root>/<dataset name>`` with options ``data.options.<name>`` (the paper pretrains on DVS128 Gesture +
  CIFAR10-DVS + N-Caltech101 together, labels unused).
* ``data.label_fraction < 1`` (finetuning with few labels): a class-stratified subset, the first
  ``ceil(f · n_c)`` samples of every class ``c`` after a shuffle seeded by ``run.seed`` (at least
  one per class), so every seed sees a different but reproducible labelled subset.
* ``data.subset = n > 0``: only the first n samples (smoke runs).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from neuromoco.framing import FramingSpec


def framing_from(cfg: dict) -> FramingSpec:
    """The framing spec of the recipe's ``[data]`` table (stored in every checkpoint it trains)."""
    d = cfg["data"]
    if d["sampling"] == "window" and not (d["window_us"] or d["window_events"]):
        raise ValueError("data.sampling = 'window' needs data.window_us or data.window_events > 0")
    return FramingSpec(
        T=d["T"],
        split_by=d["split_by"],
        size=tuple(d["size"]),
        window_us=d["window_us"] or None,
        window_events=d["window_events"] or None,
        denoise_us=d.get("denoise_us") or None,
    )


def dataset_labels(ds: Dataset) -> list[int]:
    """Class label of every sample, from a ``targets``/``labels`` attribute when the dataset has one
    (no frames are built), else by reading the samples."""
    if isinstance(ds, Subset):
        parent = dataset_labels(ds.dataset)
        return [parent[i] for i in ds.indices]
    for attr in ("targets", "labels"):
        v = getattr(ds, attr, None)
        if v is not None and not callable(v) and len(v) == len(ds):
            return [int(x) for x in v]
    return [int(ds[i][1]) for i in range(len(ds))]


def label_subset(ds: Dataset, fraction: float, seed: int) -> Dataset:
    """Class-stratified ``fraction`` of ``ds`` (≥ 1 sample per class present), reproducible by seed."""
    if fraction >= 1.0:
        return ds
    labels = dataset_labels(ds)
    g = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(labels), generator=g).tolist()
    by_class: dict[int, list[int]] = {}
    for i in order:
        by_class.setdefault(labels[i], []).append(i)
    keep: list[int] = []
    for c in sorted(by_class):
        idx = by_class[c]
        keep.extend(idx[: max(1, math.ceil(fraction * len(idx)))])
    return Subset(ds, sorted(keep))


def class_names_of(ds: Dataset) -> list[str]:
    while isinstance(ds, Subset):
        ds = ds.dataset
    names = getattr(ds, "class_names", None)
    if names is None:
        raise ValueError(f"dataset {type(ds).__name__} has no class_names")
    return [str(c) for c in names]


def build_split(cfg: dict, split: str, build_cache: bool = True) -> Dataset:
    """The dataset of ``split`` described by the recipe's ``[data]`` table.

    ``build_cache=False`` (non-main ranks) leaves filling the frame cache to the main process.
    """
    from neuromoco.data import build_dataset

    d = cfg["data"]
    framing = framing_from(cfg)
    opts = dict(d["options"])
    common = {
        "sampling": d["sampling"],
        "window_seed": cfg["run"]["seed"],
        "cache_dir": d["cache_dir"] or None,
        "build_cache": build_cache,
        "progress": cfg["run"]["progress"],
    }
    if d["name"] == "mixed":
        from neuromoco.data import build_mixed

        if not d["root"]:
            raise ValueError(
                "data.root must be set for the mixed dataset (parent of the dataset folders)"
            )
        parts = []
        for n in d["datasets"]:
            part_opts = opts.get(n, {})
            if not isinstance(part_opts, dict):
                raise ValueError(f"data.options.{n} must be a table of options for dataset {n!r}")
            parts.append({"name": n, "root": str(Path(d["root"]) / n), **part_opts})
        ds: Dataset = build_mixed(parts, split, framing, size=tuple(d["size"]), **common)
    else:
        ds = build_dataset(d["name"], d["root"] or None, split, framing, **common, **opts)
    if d["subset"] and d["subset"] < len(ds):
        ds = Subset(ds, list(range(d["subset"])))
    return ds


def build_split_ranked(cfg: dict, split: str, ctx) -> Dataset:
    """:func:`build_split` under DDP: the main rank fills the frame cache, the others then read it."""
    from neuromoco.train.distributed import barrier

    if ctx.is_main:
        ds = build_split(cfg, split, build_cache=True)
        barrier(ctx)
        return ds
    barrier(ctx)
    return build_split(cfg, split, build_cache=False)
