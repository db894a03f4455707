"""Resume state: RNG streams and training counters as checkpoint-safe tensors and primitives.

Checkpoints load with ``torch.load(weights_only=True)`` (see ``neuromoco.models.checkpoint``), so
Python/NumPy RNG states (tuples, numpy arrays) are converted to lists and tensors here and back.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def capture_rng(aug_generator: torch.Generator | None = None) -> dict:
    """Every RNG stream that training draws from: python, numpy, torch CPU, CUDA, augmentation."""
    py = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - the global stream other code may use
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if aug_generator is not None:
        state["augment"] = aug_generator.get_state()
    return state


def restore_rng(state: dict, aug_generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng`."""
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)
    if aug_generator is not None and "augment" in state:
        aug_generator.set_state(state["augment"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)
