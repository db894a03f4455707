"""Shared argument checks for the losses (clear errors naming the argument).

Two kinds of checks, with different costs:

* **shape and dtype** checks read only tensor metadata: free, always on.
* **value** checks (class indices within ``[0, K)``) read tensor contents. On CPU that costs one
  pass over ``N`` integers, so they always run there. On an accelerator reading a value makes the
  host wait for the device (a GPU→CPU sync) on every call, which stalls the training step, so
  there they run only when debug checks are on: environment variable
  ``NEUROMOCO_DEBUG_CHECKS=1`` (read at import) or :func:`set_debug_checks`. Without them a bad
  class index on the GPU still fails, inside ``cross_entropy`` (a device-side assert).
"""

from __future__ import annotations

import os

import torch

DEBUG_CHECKS_ENV = "NEUROMOCO_DEBUG_CHECKS"
"""Set to ``1`` to check tensor values on every device, not only on CPU."""


def env_flag(value: str | None) -> bool:
    """An environment switch: unset, empty or ``0`` is off, anything else on."""
    return (value or "").strip() not in ("", "0")


_debug_checks = env_flag(os.environ.get(DEBUG_CHECKS_ENV))
_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.uint8)


def set_debug_checks(on: bool) -> bool:
    """Turn value checks on accelerator tensors on or off; returns the previous setting."""
    global _debug_checks
    previous, _debug_checks = _debug_checks, bool(on)
    return previous


def debug_checks() -> bool:
    """Whether value checks run on accelerator tensors too (see the module docstring)."""
    return _debug_checks


def _check_values(t: torch.Tensor) -> bool:
    """Whether reading ``t``'s values is allowed: free on CPU, a host sync elsewhere."""
    return _debug_checks or t.device.type == "cpu"


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
    if target.dtype not in _INDEX_DTYPES:
        raise ValueError(f"{name}: target must hold integer class indices, got {target.dtype}")
    if T == 0 or N == 0 or K == 0:
        raise ValueError(f"{name}: empty logits {tuple(logits.shape)}")
    if _check_values(target):
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= K:
            raise ValueError(
                f"{name}: target holds class indices outside [0, {K}): min {lo}, max {hi}"
            )


def check_embeddings(z: torch.Tensor, name: str, arg: str = "z") -> None:
    """``z`` must be a floating-point ``[T, N, C]`` tensor."""
    if not isinstance(z, torch.Tensor) or z.ndim != 3 or not z.is_floating_point():
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name}: {arg} must be a floating-point [T, N, C] tensor, got {shape}")
