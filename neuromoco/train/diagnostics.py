"""Collapse and queue diagnostics of NeuroMoCo pretraining.

* :func:`effective_rank` — ``exp`` of the entropy of the normalised singular values of centred
  features (Roy & Vetterli 2007): about the number of directions the batch really uses; 1 = every
  sample on one line, a collapsed encoder.
* :func:`spread` — how evenly L2-normalised embeddings cover the sphere: 1 ≈ evenly, 0 = every
  sample maps to one point.
* :func:`queue_fill` — the share of the negative queue that holds real keys (the rest is still its
  random initialisation): negatives are only meaningful once it is 1.

:func:`training_diagnostics` gives the three numbers for one batch of keys; pretraining logs them
with its training metrics (``train.csv``: ``queue_fill``, ``key_spread``, ``key_eff_rank``, every
``run.log_every`` steps, from the last batch: no extra forward pass).
:func:`neuromoco.train.pretrain_diagnosis.diagnose_run` is the thorough offline check of a
finished run, with these measures among others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def effective_rank(x: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of the centred ``x [N, D]`` (Roy & Vetterli).

    At most ``min(N - 1, D)`` (centring removes one direction); 1.0 for a batch on one line (or
    all equal)."""
    s = torch.linalg.svdvals(x - x.mean(0, keepdim=True))
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def spread(z: torch.Tensor) -> float:
    """Mean per-dimension std across the batch of L2-normalised ``z [N, C]``, × √C.

    1.0 ≈ spread evenly over the sphere; 0 = every sample maps to one point (collapse); NaN for
    fewer than 2 samples (no spread to measure)."""
    if z.shape[0] < 2:
        return float("nan")
    zn = F.normalize(z, dim=1)
    return float(zn.std(0).mean() * zn.shape[1] ** 0.5)


def queue_fill(steps: int, batch: int, queue_size: int) -> float:
    """Share of a ``queue_size`` FIFO queue filled with keys after ``steps`` steps of ``batch``
    keys (the global batch: every rank's keys are enqueued)."""
    if queue_size <= 0:
        raise ValueError(f"queue_size must be positive, got {queue_size}")
    return min(1.0, steps * batch / queue_size)


def training_diagnostics(
    keys: torch.Tensor, steps: int, batch: int, queue_size: int
) -> dict[str, float]:
    """The numbers pretraining logs: queue fill after ``steps`` steps, and the spread and effective
    rank of the batch's keys ``[T, N, C]`` at the last time step (what the queue stores)."""
    k = keys[-1].detach().float().cpu()
    return {
        "queue_fill": queue_fill(steps, batch, queue_size),
        "key_spread": spread(k),
        "key_eff_rank": effective_rank(k),
    }
