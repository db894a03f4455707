"""STCL: siamese temporal contrastive learning (TCL/STCL paper §4.3, Eq. 9).

Two augmented views of each sample go through the same network:
``L_STCL = CE(mean_t logits₁) + CE(mean_t logits₂) + λ · L_CL`` where ``L_CL`` is the temporal
contrastive loss of :mod:`neuromoco.losses.tcl` over the ``2·T·N`` (view, step, sample) pairs;
positives are the same sample in either view at any step (plus same-class samples when
``supervised``, the paper's default). Defaults from the paper: ``τ = 0.07``, ``λ = 5``.
"""

from __future__ import annotations

import torch

from neuromoco.losses._check import check_embeddings, check_logits_target
from neuromoco.losses.mbc import mbc_loss
from neuromoco.losses.tcl import temporal_contrastive_loss


def stcl_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    z1: torch.Tensor,
    z2: torch.Tensor,
    target: torch.Tensor,
    lam: float = 5.0,
    tau: float = 0.07,
    supervised: bool = True,
) -> torch.Tensor:
    """``mbc(logits1) + mbc(logits2) + lam · L_CL([z1 | z2])``.

    Args:
        logits1, logits2: ``[T, N, K]`` outputs of the two views; z1, z2: ``[T, N, C]`` projected
        embeddings of the two views; target: ``[N]`` class indices; lam ≥ 0; tau > 0.
    """
    check_logits_target(logits1, target, "stcl_loss")
    check_logits_target(logits2, target, "stcl_loss")
    check_embeddings(z1, "stcl_loss", "z1")
    check_embeddings(z2, "stcl_loss", "z2")
    if z1.shape != z2.shape or z1.shape[:2] != logits1.shape[:2]:
        raise ValueError(
            f"stcl_loss: z1 {tuple(z1.shape)}, z2 {tuple(z2.shape)} must match logits [T, N] "
            f"{tuple(logits1.shape[:2])}"
        )
    if lam < 0:
        raise ValueError(f"stcl_loss: lam must be >= 0, got {lam}")
    N = z1.shape[1]
    ids = target if supervised else torch.arange(N, device=z1.device)
    groups = torch.cat([ids, ids])
    cl = temporal_contrastive_loss(torch.cat([z1, z2], dim=1), groups, tau)
    return mbc_loss(logits1, target) + mbc_loss(logits2, target) + lam * cl
