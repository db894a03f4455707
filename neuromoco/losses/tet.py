"""TET loss (Deng et al., ICLR 2022): per-step CE plus an optional MSE regulariser.

``loss = (1 − λ)·mean_t CE(logits[t], y) + λ·MSE(logits, φ)`` with ``λ = 1e-3`` and ``φ = 1`` as
in the TET reference code; ``lamb = 0`` gives plain MAC. The regulariser pulls the per-step
outputs towards a constant, limiting outliers in the membrane-potential distribution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from neuromoco.losses._check import check_logits_target
from neuromoco.losses.mac import mac_loss


def tet_loss(
    logits: torch.Tensor, target: torch.Tensor, lamb: float = 1e-3, means: float = 1.0
) -> torch.Tensor:
    """``(1 − lamb)·mac_loss(logits, target) + lamb·mean((logits − means)²)``.

    Args:
        logits: ``[T, N, K]``; target: ``[N]`` class indices.
        lamb: weight of the MSE regulariser, in ``[0, 1]``.
        means: the constant the outputs are regularised towards.
    """
    check_logits_target(logits, target, "tet_loss")
    if not (isinstance(lamb, int | float) and 0.0 <= lamb <= 1.0):
        raise ValueError(f"tet_loss: lamb must be in [0, 1], got {lamb!r}")
    if not math.isfinite(means):
        raise ValueError(f"tet_loss: means must be finite, got {means!r}")
    ce = mac_loss(logits, target)
    if lamb == 0:
        return ce
    mse = F.mse_loss(logits, torch.full_like(logits, float(means)))
    return (1.0 - lamb) * ce + lamb * mse
