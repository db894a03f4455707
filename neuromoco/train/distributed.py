"""Single process or ``torchrun --nproc_per_node=N`` with the same code (gloo on CPU, NCCL on GPU).

``setup_distributed`` reads the variables torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``);
without them it returns a one-process context and never touches ``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistContext:
    """Where this process sits. ``device`` is the torch device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this call initialised the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError(
                "run.device = 'cuda' but no CUDA device is available (use 'auto' or 'cpu')"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup_distributed(device: str = "auto") -> DistContext:
    """Initialise the process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    owns = False
    if world > 1 and not torch.distributed.is_initialized():
        owns = True
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank=rank, world_size=world, local_rank=local, device=dev, owns_group=owns)


def cleanup_distributed(ctx: DistContext) -> None:
    """Destroy the process group if ``ctx`` created it (a caller's own group is left alone)."""
    if ctx.owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        torch.distributed.barrier()


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``t`` over ranks (in place, returned); identity in a single process."""
    if ctx.distributed:
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t
