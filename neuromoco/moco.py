"""NeuroMoCo: momentum contrast with a time dimension (paper §3.1, §3.4; MoCo builder.py style).

* M-encoder (query): ``backbone.forward_features`` ``[T, N, D]`` → per-step 2-layer
  :class:`~neuromoco.models.heads.ProjectionHead` → L2 normalisation per time step → ``q [T, N, C]``.
  Trained by gradient.
* S-encoder (key): a deep copy of both (same architecture and initial weights),
  ``requires_grad=False``, updated by momentum on the **parameters** only,
  ``θk ← m·θk + (1 − m)·θq`` (Eq. 1; BatchNorm running statistics are the key encoder's own, as in
  MoCo). ``m = 0.999`` by default; ``momentum_schedule="cosine"`` ramps ``m`` to 1 over training
  (BYOL's rule ``m_s = 1 − (1 − m)·(cos(π s/S) + 1)/2``), an option the paper does not use.
* Negative queue: registered buffer ``queue [T, L, C]`` (the paper keeps T in the queue) of unit
  vectors, initialised with random unit vectors (the paper "commences with random negative pairs"),
  plus ``queue_ptr``. Every step enqueues the batch's keys FIFO, overwriting the oldest ones.
* Logits ``[T, N, 1 + L]`` = ``[q_t·k_t | q_t·queue_t] / τ``, positive in column 0, target zeros
  ``[N]``; feed them to :func:`neuromoco.losses.mix_infonce` (or MBC / MAC).

Queue length rule: the keys of one step, gathered from all ranks (``B`` = per-rank batch × world
size), must satisfy ``B ≤ L``. Slots are written at ``(ptr + i) mod L``, so any ``B ≤ L`` works and
the FIFO order is exact across the wrap; with ``L % B == 0`` (MoCo's rule, recommended) a batch
always occupies one contiguous block. ``L`` should stay well below the number of training samples
so the queue never holds two keys of the same sample (they would be false negatives).

Under DDP (``torch.distributed`` initialised): keys are all-gathered before enqueueing, so every
rank holds the same queue; the key encoder runs on a **shuffled batch** (shuffle-BN, MoCo §3.3):
the key inputs of all ranks are gathered, permuted with a permutation broadcast from rank 0, and
each rank encodes a slice, so its BatchNorm statistics mix samples of other ranks and the query
cannot "cheat" through batch statistics. Shuffle-BN is used instead of SyncBN because it needs no
change inside the backbones and costs one all-gather of the inputs. It requires the same batch size
on every rank (use ``drop_last=True``). In a single process no shuffle is done (as in MoCo).
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class MoCoOutput(NamedTuple):
    """What one NeuroMoCo step returns (a NamedTuple, so DDP can traverse it).

    Attributes:
        logits: ``[T, N, 1 + L]`` contrastive logits (already divided by τ), positive in column 0.
        target: ``[N]`` zeros (int64): the index of the positive.
        q: ``[T, N, C]`` normalised query embeddings (with gradient).
        k: ``[T, N, C]`` normalised keys of this batch (no gradient).
        neg: ``[T, L, C]`` the queue as it was before this batch was enqueued.
    """

    logits: torch.Tensor
    target: torch.Tensor
    q: torch.Tensor
    k: torch.Tensor
    neg: torch.Tensor


def _dist_on() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


@torch.no_grad()
def concat_all_gather(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """All-gather ``x`` from every rank and concatenate along ``dim`` (rank order); identity
    without torch.distributed. No gradient flows through it."""
    if not _dist_on() or torch.distributed.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=dim)


class NeuroMoCo(nn.Module):
    """Query/key encoders, momentum update and the ``[T, L, C]`` negative queue.

    Args:
        backbone: a model with ``forward_features(x) -> [T, N, D]`` and ``num_features`` (``D``),
            e.g. ``create_model(name, num_classes=0)``. Becomes the M-encoder.
        T: time steps of the inputs (the queue keeps one key per step).
        dim: embedding size C of the projection heads.
        hidden_dim: hidden width of the projection MLP (default: ``D``).
        queue_size: L, number of negative keys per time step.
        momentum: m in ``[0, 1)`` (paper: 0.999).
        tau: temperature τ (paper: not stated; MoCo v1's 0.07 by default).
        momentum_schedule: ``"constant"`` or ``"cosine"`` (m → 1 over training).
        shuffle_bn: use shuffle-BN for the key encoder under DDP.
        head: optional projection module (default ``ProjectionHead(D, hidden_dim, dim)``).
    """

    def __init__(
        self,
        backbone: nn.Module,
        T: int,
        dim: int = 128,
        hidden_dim: int | None = None,
        queue_size: int = 4096,
        momentum: float = 0.999,
        tau: float = 0.07,
        momentum_schedule: str = "constant",
        shuffle_bn: bool = True,
        head: nn.Module | None = None,
    ):
        super().__init__()
        if not hasattr(backbone, "forward_features") or not hasattr(backbone, "num_features"):
            raise ValueError("NeuroMoCo: backbone must have forward_features() and num_features")
        for name, v in (("T", T), ("dim", dim), ("queue_size", queue_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"NeuroMoCo: {name} must be a positive integer, got {v!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"NeuroMoCo: momentum must be in [0, 1), got {momentum}")
        if not tau > 0:
            raise ValueError(f"NeuroMoCo: tau must be > 0, got {tau}")
        if momentum_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"NeuroMoCo: momentum_schedule must be 'constant' or 'cosine', got {momentum_schedule!r}"
            )
        self.T, self.dim, self.queue_size = T, dim, queue_size
        self.base_momentum = float(momentum)
        self.momentum = float(momentum)
        self.tau = float(tau)
        self.momentum_schedule = momentum_schedule
        self.shuffle_bn = bool(shuffle_bn)

        if head is None:
            from neuromoco.models.heads import ProjectionHead

            D = int(backbone.num_features)
            head = ProjectionHead(D, int(hidden_dim or D), dim)
        self.encoder_q = backbone
        self.head_q = head
        self.encoder_k = copy.deepcopy(backbone)
        self.head_k = copy.deepcopy(head)
        for p in self.key_parameters():
            p.requires_grad_(False)

        self.register_buffer("queue", F.normalize(torch.randn(T, queue_size, dim), dim=2))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    # --- parameter groups -------------------------------------------------------------------
    def query_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder_q.parameters(), *self.head_q.parameters()]

    def key_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder_k.parameters(), *self.head_k.parameters()]

    def momentum_at(self, step: int, total_steps: int) -> float:
        """Momentum for optimisation step ``step`` of ``total_steps`` under the schedule."""
        if self.momentum_schedule == "constant" or total_steps <= 0:
            return self.base_momentum
        frac = min(max(step / total_steps, 0.0), 1.0)
        return 1.0 - (1.0 - self.base_momentum) * (math.cos(math.pi * frac) + 1.0) / 2.0

    # --- private helpers (no gradient) -------------------------------------------------------
    @torch.no_grad()
    def _momentum_update_key_encoder(self) -> None:
        """θk ← m·θk + (1 − m)·θq for every parameter (buffers are left alone)."""
        m = self.momentum
        k_params, q_params = self.key_parameters(), self.query_parameters()
        torch._foreach_mul_(k_params, m)
        torch._foreach_add_(k_params, q_params, alpha=1.0 - m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Gather ``keys [T, B, C]`` from all ranks and write them over the oldest queue slots."""
        keys = concat_all_gather(keys, dim=1)
        B, L = keys.shape[1], self.queue_size
        if B > L:
            raise ValueError(
                f"NeuroMoCo: {B} keys per step (batch × world size) exceed queue_size {L}; "
                "use a queue at least as long as the global batch"
            )
        ptr = int(self.queue_ptr)
        idx = (ptr + torch.arange(B, device=self.queue.device)) % L
        self.queue[:, idx] = keys.to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + B) % L

    @torch.no_grad()
    def _batch_shuffle_ddp(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shuffle the batch axis (1) of ``x [T, N, ...]`` across ranks; returns (slice, unshuffle)."""
        n_local = x.shape[1]
        x_all = concat_all_gather(x, dim=1)
        world = torch.distributed.get_world_size()
        if x_all.shape[1] != n_local * world:
            raise ValueError(
                "NeuroMoCo shuffle-BN needs the same batch size on every rank (drop_last)"
            )
        perm = torch.randperm(x_all.shape[1], device=x.device)
        torch.distributed.broadcast(perm, src=0)
        unshuffle = torch.argsort(perm)
        rank = torch.distributed.get_rank()
        mine = perm.view(world, -1)[rank]
        return x_all[:, mine], unshuffle

    @torch.no_grad()
    def _batch_unshuffle_ddp(self, y: torch.Tensor, unshuffle: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`_batch_shuffle_ddp` on ``y [T, n, ...]``: this rank's own samples, in order."""
        y_all = concat_all_gather(y, dim=1)
        world, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
        mine = unshuffle.view(world, -1)[rank]
        return y_all[:, mine]

    @torch.no_grad()
    def encode_keys(self, x_k: torch.Tensor) -> torch.Tensor:
        """``k [T, N, C]``: S-encoder features → projection → L2 norm per step, no gradient
        (shuffle-BN across processes under DDP)."""
        shuffle = self.shuffle_bn and _dist_on() and torch.distributed.get_world_size() > 1
        if shuffle:
            x_k, unshuffle = self._batch_shuffle_ddp(x_k)
        k = F.normalize(self.head_k(self.encoder_k.forward_features(x_k)), dim=2)
        if shuffle:
            k = self._batch_unshuffle_ddp(k, unshuffle)
        return k

    # --- forward ----------------------------------------------------------------------------
    def encode_query(self, x: torch.Tensor) -> torch.Tensor:
        """``q [T, N, C]``: M-encoder features → projection → L2 norm per step."""
        return F.normalize(self.head_q(self.encoder_q.forward_features(x)), dim=2)

    def forward(self, x_q: torch.Tensor, x_k: torch.Tensor) -> MoCoOutput:
        """One contrastive step on two views ``x_q, x_k`` ``[T, N, 2, H, W]``.

        Side effects (no gradient): the key encoder is momentum-updated from the current query
        encoder before encoding ``x_k``, and the keys are enqueued after the logits are formed.
        """
        if x_q.shape != x_k.shape:
            raise ValueError(
                f"NeuroMoCo: views differ in shape, {tuple(x_q.shape)} vs {tuple(x_k.shape)}"
            )
        if x_q.shape[0] != self.T:
            raise ValueError(
                f"NeuroMoCo: expected T={self.T} time steps, got input {tuple(x_q.shape)}"
            )
        q = self.encode_query(x_q)
        with torch.no_grad():
            self._momentum_update_key_encoder()
            k = self.encode_keys(x_k)
        neg = self.queue.clone().detach()
        l_pos = torch.einsum("tnc,tnc->tn", q, k.to(q.dtype)).unsqueeze(-1)
        l_neg = torch.einsum("tnc,tlc->tnl", q, neg.to(q.dtype))
        logits = torch.cat([l_pos, l_neg], dim=2) / self.tau
        target = torch.zeros(q.shape[1], dtype=torch.long, device=q.device)
        self._dequeue_and_enqueue(k)
        return MoCoOutput(logits=logits, target=target, q=q, k=k, neg=neg)

    def key_backbone(self) -> nn.Module:
        """A copy of the S-encoder backbone (what finetuning starts from, paper Fig. 1 right)."""
        b = copy.deepcopy(self.encoder_k)
        for p in b.parameters():
            p.requires_grad_(True)
        return b
