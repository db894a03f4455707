"""Optimisers and learning-rate schedules as pure functions of the step (exact resume for free).

The learning rate of optimisation step ``s`` (0-based) with ``S_e`` steps per epoch is a function
of ``e = s / S_e`` (fractional epoch), so a resumed run needs only the step counter:

* ``constant``: ``lr``.
* ``multistep``: ``lr · gamma^(number of milestones ≤ e)`` (torch's MultiStepLR stepped per epoch).
* ``cosine``: linear warm-up from ``lr/warmup`` steps to ``lr`` over ``warmup_epochs``, then
  ``min_lr + (lr − min_lr)·(1 + cos(π·p))/2`` with ``p`` the fraction of the remaining epochs done
  (the paper's finetuning: 30 warm-up epochs then cosine annealing).

Warm-up also applies to ``constant`` and ``multistep`` when ``warmup_epochs > 0``.
"""

from __future__ import annotations

import math

import torch


def lr_at(step: int, steps_per_epoch: int, epochs: int, sched: dict, base_lr: float) -> float:
    """Learning rate for optimisation step ``step`` under the ``[schedule]`` table ``sched``."""
    e = step / max(steps_per_epoch, 1)
    warm = float(sched.get("warmup_epochs", 0))
    if warm > 0 and e < warm:
        return base_lr * (step + 1) / (warm * steps_per_epoch)
    name = sched["name"]
    if name == "constant":
        return base_lr
    if name == "multistep":
        passed = sum(1 for m in sched.get("milestones", []) if e >= m)
        return base_lr * sched.get("gamma", 0.1) ** passed
    if name == "cosine":
        span = max(epochs - warm, 1e-9)
        p = min(max((e - warm) / span, 0.0), 1.0)
        lo = float(sched.get("min_lr", 0.0))
        return lo + (base_lr - lo) * (1.0 + math.cos(math.pi * p)) / 2.0
    raise ValueError(f"schedule.name must be constant, multistep or cosine, got {name!r}")


def build_optimizer(params, optim: dict) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay) or AdamW from the ``[optim]`` table."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters")
    if optim["name"] == "sgd":
        return torch.optim.SGD(
            params, lr=optim["lr"], momentum=optim["momentum"], weight_decay=optim["weight_decay"]
        )
    if optim["name"] == "adamw":
        return torch.optim.AdamW(params, lr=optim["lr"], weight_decay=optim["weight_decay"])
    raise ValueError(f"optim.name must be sgd or adamw, got {optim['name']!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr
