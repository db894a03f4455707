"""Heads applied per time step: the classifier and the contrastive projection MLP."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """2-layer MLP ``Linear → [BN] → ReLU → Linear`` applied to every time step.

    Maps embeddings ``[T, N, in_dim]`` (or any ``[..., in_dim]``) to ``[T, N, out_dim]``; used by
    MoCo (query/key projections) and TCL, dropped at inference. BatchNorm (optional, off by
    default as in MoCo v2) normalises over all leading positions (``T·N``).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, batch_norm: bool = False):
        super().__init__()
        for n, v in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if int(v) <= 0:
                raise ValueError(f"ProjectionHead: {n} must be positive, got {v}")
        self.in_dim, self.hidden_dim, self.out_dim = int(in_dim), int(hidden_dim), int(out_dim)
        self.fc1 = nn.Linear(in_dim, hidden_dim, bias=not batch_norm)
        self.bn = nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"ProjectionHead: expected [..., {self.in_dim}], got {tuple(x.shape)}")
        lead = x.shape[:-1]
        h = self.fc1(x.reshape(-1, self.in_dim))
        h = self.act(self.bn(h))
        return self.fc2(h).reshape(*lead, self.out_dim)
