"""Shared argument checks for the losses (clear errors naming the argument)."""

from __future__ import annotations

import torch


def check_logits_target(logits: torch.Tensor, target: torch.Tensor, name: str) -> None:
    """``logits`` must be ``[T, N, K]`` floating point and ``target`` ``[N]`` class indices in ``[0, K)``."""
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{name}: logits must be a [T, N, K] tensor, got {shape}")
    if not logits.is_floating_point():
        raise ValueError(f"{name}: logits must be floating point, got {logits.dtype}")
    T, N, K = logits.shape
    if not isinstance(target, torch.Tensor) or target.ndim != 1 or target.shape[0] != N:
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise ValueError(f"{name}: target must be [N] = [{N}] class indices, got {shape}")
    if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"{name}: target must hold integer class indices, got {target.dtype}")
    if T == 0 or N == 0 or K == 0:
        raise ValueError(f"{name}: empty logits {tuple(logits.shape)}")
    if N and (int(target.min()) < 0 or int(target.max()) >= K):
        raise ValueError(
            f"{name}: target holds class indices outside [0, {K}): "
            f"min {int(target.min())}, max {int(target.max())}"
        )


def check_embeddings(z: torch.Tensor, name: str, arg: str = "z") -> None:
    """``z`` must be a floating-point ``[T, N, C]`` tensor."""
    if not isinstance(z, torch.Tensor) or z.ndim != 3 or not z.is_floating_point():
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name}: {arg} must be a floating-point [T, N, C] tensor, got {shape}")
