"""MixInfoNCE (NeuroMoCo Eq. 5): ``α·MBC + β·MAC`` with ``α + β = 1``.

The paper only evaluates ``α = β`` (= 0.5, the default here). Applied to the contrastive logits
``[T, N, 1 + L]`` with target zeros it is the pretraining loss; applied to classifier logits it is
the "mixed loss" of the paper's Table 2.
"""

from __future__ import annotations

import math

import torch

from neuromoco.losses.mac import mac_loss
from neuromoco.losses.mbc import mbc_loss


def check_mix_weights(alpha: float, beta: float) -> None:
    """Raise ValueError unless ``alpha, beta >= 0`` and ``alpha + beta == 1`` (to 1e-6)."""
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"mix_infonce: {name} must be a finite number >= 0, got {v!r}")
    if abs(alpha + beta - 1.0) > 1e-6:
        raise ValueError(
            f"mix_infonce: alpha + beta must equal 1 (paper Eq. 5), got {alpha} + {beta}"
        )


def mix_infonce(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.5, beta: float = 0.5
) -> torch.Tensor:
    """``alpha · mbc_loss(logits, target) + beta · mac_loss(logits, target)``.

    Args:
        logits: ``[T, N, K]``; target: ``[N]`` class indices (zeros for the contrastive case).
        alpha, beta: non-negative weights with ``alpha + beta = 1``.
    """
    check_mix_weights(alpha, beta)
    if alpha == 0:
        return mac_loss(logits, target)
    if beta == 0:
        return mbc_loss(logits, target)
    return alpha * mbc_loss(logits, target) + beta * mac_loss(logits, target)
