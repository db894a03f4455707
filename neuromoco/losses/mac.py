"""MAC, "mean after criterion" (NeuroMoCo Eq. 4; the same as TET's per-step term, TCL Eq. 5).

``loss = mean_t CE(logits[t], target)``: every time step is supervised with the same target.
The paper finetunes with MAC. Because every step weighs the same, this equals one cross-entropy
over the ``T·N`` flattened rows, which is how it is computed (one kernel launch instead of T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuromoco.losses._check import check_logits_target


def mac_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over time steps of the per-step cross-entropy.

    Args:
        logits: ``[T, N, K]`` unnormalised scores per time step.
        target: ``[N]`` class indices (0 for the contrastive positive).

    Returns:
        scalar loss = (1/T) Σ_t (1/N) Σ_n CE(logits[t, n], target[n]).
    """
    check_logits_target(logits, target, "mac_loss")
    T, N, K = logits.shape
    return F.cross_entropy(logits.reshape(T * N, K), target.long().repeat(T))
