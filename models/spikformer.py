"""Spikformer (Zhou et al., ICLR 2023), the paper's transformer backbone (Spikformer-2-256).

* SPS (spiking patch splitting): 4 stages ``conv3x3 → BN → LIF`` with widths D/8, D/4, D/2, D,
  each of the last ``log2(patch_size)`` stages followed by ``maxpool3x3/2`` (patch 16 → all four:
  128×128 → 8×8 = 64 tokens), then a relative position embedding ``conv3x3 → BN → LIF`` added to
  its input.
* Encoder block: ``x = x + SSA(x); x = x + MLP(x)`` on spike tokens ``[T, N, D, L]``.
* SSA (spiking self-attention): Q, K, V = LIF(BN(Linear(x))) are binary spikes, so
  ``attn = Q·Kᵀ·scale`` needs no softmax (scale 0.25); ``x = attn·V`` goes through an attention
  LIF with threshold 0.5, then ``LIF(BN(Linear(x)))``.
* MLP: ``LIF(BN(Linear(D → 4D))) → LIF(BN(Linear(4D → D)))``.
* Head: token mean per time step → ``Linear(D, C)``.

Linear layers on tokens are ``Conv1d(k=1)`` so BatchNorm1d normalises per channel, as in the
reference code. Attention is within each time step (no mixing across t).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neuromoco.models.classifier import PerStep, SNNClassifier, as_hw
from neuromoco.models.neurons import check_surrogate, lif
from neuromoco.models.registry import register_model


def _lin_bn(cin: int, cout: int) -> PerStep:
    return PerStep(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout))


class SSA(nn.Module):
    """Spiking self-attention on ``[T, N, D, L]`` spike tokens."""

    def __init__(self, dim: int, num_heads: int, scale: float, surrogate: str):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = float(scale)
        self.q, self.q_sn = _lin_bn(dim, dim), lif(surrogate)
        self.k, self.k_sn = _lin_bn(dim, dim), lif(surrogate)
        self.v, self.v_sn = _lin_bn(dim, dim), lif(surrogate)
        self.attn_sn = lif(surrogate, v_threshold=0.5)
        self.proj, self.proj_sn = _lin_bn(dim, dim), lif(surrogate)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        T, N, D, L = x.shape
        # [T, N, D, L] → [T, N, heads, L, D/heads]
        return x.reshape(T, N, self.num_heads, D // self.num_heads, L).transpose(-1, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, N, D, L = x.shape
        q = self._heads(self.q_sn(self.q(x)))
        k = self._heads(self.k_sn(self.k(x)))
        v = self._heads(self.v_sn(self.v(x)))
        attn = (q @ k.transpose(-2, -1)) * self.scale  # binary Q, K: no softmax needed
        y = (attn @ v).transpose(-1, -2).reshape(T, N, D, L)
        return self.proj_sn(self.proj(self.attn_sn(y)))


class SpikingMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, surrogate: str):
        super().__init__()
        self.fc1, self.sn1 = _lin_bn(dim, hidden), lif(surrogate)
        self.fc2, self.sn2 = _lin_bn(hidden, dim), lif(surrogate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sn2(self.fc2(self.sn1(self.fc1(x))))


class SpikformerBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, scale: float, surrogate: str):
        super().__init__()
        self.attn = SSA(dim, num_heads, scale, surrogate)
        self.mlp = SpikingMLP(dim, int(dim * mlp_ratio), surrogate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SPS(nn.Module):
    """Spiking patch splitting: frames ``[T, N, C, H, W]`` → tokens ``[T, N, D, (H/p)·(W/p)]``."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, surrogate: str):
        super().__init__()
        n_pool = int(math.log2(patch_size))
        if 2**n_pool != patch_size or not 1 <= n_pool <= 4:
            raise ValueError(f"patch_size must be 2, 4, 8 or 16, got {patch_size}")
        if dim % 8:
            raise ValueError(f"embed_dim must be a multiple of 8, got {dim}")
        widths = [dim // 8, dim // 4, dim // 2, dim]
        stages = []
        cin = in_channels
        for i, w in enumerate(widths):
            layers = [nn.Conv2d(cin, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w)]
            stages.append(PerStep(*layers))
            stages.append(lif(surrogate))
            if i >= 4 - n_pool:
                stages.append(PerStep(nn.MaxPool2d(3, 2, 1)))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.rpe = PerStep(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim))
        self.rpe_sn = lif(surrogate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        x = x + self.rpe_sn(self.rpe(x))
        return x.flatten(3)  # [T, N, D, L]


class Spikformer(SNNClassifier):
    def __init__(
        self,
        num_classes: int,
        in_channels: int = 2,
        img_size: int | tuple[int, int] = 128,
        embed_dim: int = 256,
        depth: int = 2,
        num_heads: int = 16,
        patch_size: int = 16,
        mlp_ratio: float = 4.0,
        attn_scale: float = 0.25,
        surrogate: str = "sigmoid",
    ):
        check_surrogate(surrogate)
        h, w = as_hw(img_size)
        if h % patch_size or w % patch_size:
            raise ValueError(f"img_size {(h, w)} must be a multiple of patch_size {patch_size}")
        if int(depth) < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        super().__init__(int(embed_dim), num_classes, in_channels)
        self.num_tokens = (h // patch_size) * (w // patch_size)
        self.patch_embed = SPS(in_channels, int(embed_dim), int(patch_size), surrogate)
        self.blocks = nn.Sequential(
            *[
                SpikformerBlock(
                    int(embed_dim), int(num_heads), float(mlp_ratio), attn_scale, surrogate
                )
                for _ in range(int(depth))
            ]
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.patch_embed(x))
        return x.mean(dim=3)  # token mean per time step → [T, N, D]


@register_model
def spikformer_2_256(
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] = 128,
    num_heads: int = 16,
    patch_size: int = 16,
    mlp_ratio: float = 4.0,
    attn_scale: float = 0.25,
    surrogate: str = "sigmoid",
) -> Spikformer:
    """Spikformer-2-256 (paper backbone): 2 blocks, D=256, 16 heads, patch 16, 2×128×128 input."""
    return Spikformer(
        num_classes,
        in_channels,
        img_size,
        256,
        2,
        num_heads,
        patch_size,
        mlp_ratio,
        attn_scale,
        surrogate,
    )


@register_model
def spikformer_tiny(
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] = 64,
    embed_dim: int = 64,
    depth: int = 1,
    num_heads: int = 4,
    patch_size: int = 8,
    mlp_ratio: float = 2.0,
    attn_scale: float = 0.25,
    surrogate: str = "sigmoid",
) -> Spikformer:
    """A CPU-sized Spikformer (1 block, D=64, 4 heads, patch 8) for quick experiments at 64×64."""
    return Spikformer(
        num_classes,
        in_channels,
        img_size,
        embed_dim,
        depth,
        num_heads,
        patch_size,
        mlp_ratio,
        attn_scale,
        surrogate,
    )
