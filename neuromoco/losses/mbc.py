"""MBC, "mean before criterion" (NeuroMoCo Eq. 3; TCL Eq. 4, the usual SNN baseline).

``loss = CE(mean_t logits[t], target)``: the time dimension is averaged away before the
cross-entropy. One function serves the contrastive case (logits ``[T, N, 1 + L]`` from
:mod:`neuromoco.moco`, target all zeros: the positive key is column 0) and supervised finetuning
(logits ``[T, N, num_classes]``, target = class indices).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuromoco.losses._check import check_logits_target


def mbc_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the time-averaged logits.

    Args:
        logits: ``[T, N, K]`` unnormalised scores per time step.
        target: ``[N]`` class indices (0 for the contrastive positive).

    Returns:
        scalar loss, mean over the batch.
    """
    check_logits_target(logits, target, "mbc_loss")
    return F.cross_entropy(logits.mean(0), target.long())
