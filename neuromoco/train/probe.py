"""Linear probe: how linearly useful are an encoder's features? Against what baseline?

* :func:`linear_probe` — a finetuning run with the backbone frozen (eval mode, so BatchNorm keeps
  the encoder's statistics) that trains only the head (MoCo protocol), then the top-1 of its last
  checkpoint on a test split.
* :func:`random_bn_encoder` — the baseline: a randomly initialised backbone whose BatchNorm
  statistics were calibrated on unlabelled data (train-mode passes, cumulative average). Without
  the calibration a fresh spiking network in eval mode is silent on real-sized inputs (its
  features are all zero), so an uncalibrated random probe is no baseline at all.
* :func:`few_label_plan` — label-efficiency runs: a class-stratified fraction of the labels
  (``data.label_fraction``) trained for about the same number of optimiser steps whatever the
  fraction (few labels → small batch, more epochs).

``neuromoco probe`` runs the first two from the command line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from neuromoco.train.experiment import Stage, finetune

FREEZE = "finetune.freeze_backbone=true"
PROBE_LR = 0.01
PROBE_OVERRIDES = (FREEZE, f"optim.lr={PROBE_LR}")
"""What makes a finetuning recipe a linear probe: frozen backbone, a head-sized learning rate."""


def linear_probe(
    stage: Stage,
    out: str | Path,
    encoder: str | Path | None = None,
    test="test",
    train_ds=None,
    lr: float = PROBE_LR,
) -> dict:
    """Train a linear head on the frozen backbone of ``encoder`` (None: the checkpoint that
    ``stage`` already names in ``finetune.pretrained``) with the finetuning recipe of ``stage``
    at learning rate ``lr``; measure it on ``test`` (a dataset or a split name of the recipe).

    Returns:
        :func:`neuromoco.train.experiment.finetune`'s summary (``test["top1"]``: the probe's top-1).
    """
    if encoder is not None:
        stage = stage.starting_from(encoder)
    probe = stage.with_overrides(FREEZE, f"optim.lr={lr}")
    return finetune(probe, out, test=test, train_ds=train_ds)


def calibrate_batchnorm(model, dataset, seed: int, batch_size: int = 32) -> int:
    """Reset every BatchNorm's running statistics of ``model`` and recompute them as the
    cumulative average over ``dataset`` (frames ``[T, 2, H, W]``; labels unused), in a
    seed-shuffled order, with forward passes of the backbone (``forward_features``) in train mode.

    Returns:
        the number of samples seen.
    """
    import torch

    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over all calibration batches
    model.train()
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=g).tolist()
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            x = torch.stack([dataset[j][0] for j in order[i : i + batch_size]]).float()
            model.forward_features(x.transpose(0, 1))
    return len(order)


def random_bn_encoder(
    arch: str, model_kwargs: dict, framing, dataset, seed: int, path: str | Path
) -> Path:
    """A random ``arch`` backbone (``torch.manual_seed(seed)``; ``model_kwargs`` with
    ``num_classes = 0``), BatchNorm-calibrated on ``dataset``, saved at ``path`` as a pretraining
    checkpoint that :func:`linear_probe` (or any finetuning) can start from. An existing ``path``
    is kept (returned as it is). ``dataset`` may be a function that builds it: then it is only
    built when ``path`` does not exist yet."""
    import torch

    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.registry import create_model

    path = Path(path)
    if path.is_file():
        return path
    if model_kwargs.get("num_classes", 0) != 0:
        raise ValueError(f"an encoder has num_classes = 0, got model_kwargs {model_kwargs}")
    if callable(dataset):
        dataset = dataset()
    if len(dataset) == 0:
        raise ValueError(f"{path}: no samples to calibrate the BatchNorm statistics on")
    torch.manual_seed(seed)
    model = create_model(arch, **model_kwargs)
    n = calibrate_batchnorm(model, dataset, seed)
    save_checkpoint(
        path,
        model,
        arch=arch,
        model_kwargs=model_kwargs,
        class_names=[],
        framing=framing,
        meta={"task": "random_bn_calibrated", "calibration_samples": n},
    )
    return path


@dataclass(frozen=True)
class FewLabelPlan:
    """How a run with ``fraction`` of the labels trains for about ``steps`` optimiser steps."""

    fraction: float
    labelled: int  # labelled samples after the class-stratified subset
    batch: int
    epochs: int
    steps_per_epoch: int

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def overrides(self) -> tuple[str, str]:
        """The recipe overrides of the plan (the caller sets ``run.epochs`` from :attr:`epochs`)."""
        return (f"data.label_fraction={self.fraction}", f"optim.batch_size={self.batch}")


def few_label_plan(
    train_ds, fraction: float, seed: int, steps: int, max_batch: int = 16
) -> FewLabelPlan:
    """The plan for ``fraction`` of ``train_ds``'s labels (the subset a finetuning run with
    ``run.seed = seed`` takes) and about ``steps`` optimiser steps (at least one epoch)."""
    from neuromoco.train.datasets import label_subset

    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    n = len(label_subset(train_ds, fraction, seed))
    if n == 0:
        raise ValueError("the training set is empty: no labels to train on")
    batch = min(max_batch, n)
    per_epoch = n // batch
    return FewLabelPlan(fraction, n, batch, max(1, math.ceil(steps / per_epoch)), per_epoch)
