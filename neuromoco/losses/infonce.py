"""Plain MoCo InfoNCE on time-averaged embeddings: the baseline without any time dimension.

The per-step embeddings are averaged over T and re-normalised, ``q̄ = normalize(mean_t q_t)``, and
the same is done for the positive key and for every queue entry (the queue stores per-step unit
keys ``[T, L, C]``; averaging an entry over T gives exactly that sample's time-averaged key). Then
``logits = [q̄·k̄ | q̄·queuē] / τ`` ``[N, 1 + L]`` and ``loss = CE(logits, 0)`` (MoCo Eq. 1,
NeuroMoCo Eq. 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuromoco.losses._check import check_embeddings


def infonce_logits(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float = 0.07
) -> torch.Tensor:
    """Time-averaged InfoNCE logits ``[N, 1 + L]``, positive in column 0.

    Args:
        q: ``[T, N, C]`` query embeddings; k: ``[T, N, C]`` positive keys (no gradient needed);
        queue: ``[T, L, C]`` negative keys; tau: temperature (> 0).
    """
    for name, z in (("q", q), ("k", k), ("queue", queue)):
        check_embeddings(z, "infonce", name)
    if q.shape != k.shape or queue.shape[0] != q.shape[0] or queue.shape[2] != q.shape[2]:
        raise ValueError(
            f"infonce: q {tuple(q.shape)}, k {tuple(k.shape)} and queue {tuple(queue.shape)} "
            "must be [T, N, C], [T, N, C] and [T, L, C]"
        )
    if not tau > 0:
        raise ValueError(f"infonce: tau must be > 0, got {tau}")
    qm = F.normalize(q.mean(0), dim=1)
    km = F.normalize(k.mean(0), dim=1)
    negm = F.normalize(queue.mean(0), dim=1)
    l_pos = (qm * km).sum(1, keepdim=True)
    l_neg = qm @ negm.t()
    return torch.cat([l_pos, l_neg], dim=1) / tau


def infonce_loss(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float = 0.07
) -> torch.Tensor:
    """Cross-entropy of :func:`infonce_logits` against target 0 (the positive key)."""
    logits = infonce_logits(q, k, queue, tau)
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)
