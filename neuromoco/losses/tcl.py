"""TCL: temporal-domain (supervised) contrastive learning (Qiu et al., TCL/STCL paper, §4.2, §4.4).

``L_TCL = CE(mean_t logits[t], y) + λ · L_CL`` (Eq. 8) where ``L_CL`` contrasts the per-step
embeddings ``z[t, i]`` (backbone features → a 2-layer projection module that is dropped at
inference → L2 normalisation) of all ``T·N`` (step, sample) pairs in the batch:

* anchors: every ``(i, t)``; denominator: every other pair ``(k, t'') ≠ (i, t)`` (Eq. 7);
* positives, unsupervised (Eq. 7): the same sample at the other steps ``(i, t'), t' ≠ t``;
* positives, supervised (Eq. 10, the paper's default): every pair of a sample of the same class,
  at any step, except the anchor itself.

Normalisation (the equations' constant factors are ambiguous): as in the supervised-contrastive
reference (Khosla et al., which the TCL paper follows) each anchor's loss is the mean over its
positives of ``−log softmax``, and the loss is the mean over anchors that have at least one
positive. Defaults from the paper: ``τ = 0.07``, ``λ = 0.5``.

The paper additionally applies the contrastive term to intermediate layers ("deep contrastive
supervision"); this toolkit applies it to the final features only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuromoco.losses._check import check_embeddings, check_logits_target
from neuromoco.losses.mbc import mbc_loss


def temporal_contrastive_loss(
    z: torch.Tensor, groups: torch.Tensor, tau: float = 0.07
) -> torch.Tensor:
    """Contrastive loss over all ``(step, sample)`` pairs; positives share a group id.

    Args:
        z: ``[T, M, C]`` per-step embeddings (L2-normalised here over C).
        groups: ``[M]`` integer ids; pairs ``(t, a)`` and ``(t', b)`` are positives when
            ``groups[a] == groups[b]`` and they are not the same pair. ``arange(M)`` gives the
            temporal positives of Eq. 7, class labels give Eq. 10.
        tau: temperature (> 0).

    Returns:
        scalar: mean over anchors with ≥ 1 positive of the mean ``−log p(positive)``; 0 (with a
        graph) when no anchor has a positive (T = 1, all groups distinct).
    """
    check_embeddings(z, "temporal_contrastive_loss")
    T, M, C = z.shape
    if not isinstance(groups, torch.Tensor) or groups.shape != (M,):
        raise ValueError(f"temporal_contrastive_loss: groups must be [M] = [{M}], got {groups!r}")
    if not tau > 0:
        raise ValueError(f"temporal_contrastive_loss: tau must be > 0, got {tau}")
    feats = F.normalize(z.reshape(T * M, C), dim=1)
    if T * M == 1:  # one pair: nothing to contrast it with (decided from the shape: no sync)
        return feats.sum() * 0.0
    g = groups.to(z.device).repeat(T)  # row r = t·M + m has group groups[m]
    sim = feats @ feats.t() / tau
    self_mask = torch.eye(T * M, dtype=torch.bool, device=z.device)
    # log softmax over every other pair: the anchor itself is excluded from the denominator
    log_prob = sim - torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    pos = (g[:, None] == g[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    has = (n_pos > 0).to(log_prob.dtype)
    # mean over the anchors that have a positive, without asking the host which ones do (no
    # GPU→CPU sync): anchors without one weigh 0, and no anchor at all gives 0 with a graph.
    # log_prob is finite here (every anchor has another pair in its denominator), so the
    # masked product is exact.
    mean_log_prob = (log_prob * pos).sum(1) / n_pos.clamp(min=1)
    return -(mean_log_prob * has).sum() / has.sum().clamp(min=1)


def tcl_loss(
    logits: torch.Tensor,
    z: torch.Tensor,
    target: torch.Tensor,
    lam: float = 0.5,
    tau: float = 0.07,
    supervised: bool = True,
) -> torch.Tensor:
    """``mbc_loss(logits, target) + lam · L_CL(z)`` (TCL Eq. 8).

    Args:
        logits: ``[T, N, K]`` classifier outputs; z: ``[T, N, C]`` projected per-step embeddings;
        target: ``[N]`` class indices; lam: weight λ of the contrastive term (≥ 0);
        tau: temperature; supervised: same-class positives (Eq. 10) instead of same-sample only.
    """
    check_logits_target(logits, target, "tcl_loss")
    check_embeddings(z, "tcl_loss")
    if z.shape[:2] != logits.shape[:2]:
        raise ValueError(
            f"tcl_loss: z {tuple(z.shape)} and logits {tuple(logits.shape)} differ in [T, N]"
        )
    if lam < 0:
        raise ValueError(f"tcl_loss: lam must be >= 0, got {lam}")
    groups = target if supervised else torch.arange(z.shape[1], device=z.device)
    return mbc_loss(logits, target) + lam * temporal_contrastive_loss(z, groups, tau)
