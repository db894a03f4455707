"""Test helpers for models: a small spiking net that really spikes, saved as a checkpoint."""

from __future__ import annotations

from pathlib import Path


def lively(model, seed: int = 0, T: int = 2, rate: float = 0.5, scale: float = 2.0):
    """Make a fresh deep SNN spike (it is silent, a constant output, which would make equality
    checks trivial): BN gains and shifts drawn from ``seed``, statistics calibrated on
    event-count-like input (Poisson(``rate``) × ``scale``, ``T`` steps, batch 4). Returns the
    model in eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 1.5)
        m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) * 0.5 + 0.5)
    h = model.model_kwargs["img_size"]
    model.train()
    with torch.no_grad():
        model(torch.poisson(torch.full((T, 4, 2, h, h), rate), generator=g) * scale)
    for m in bns:
        m.momentum = 0.1
    return model.eval()


def save_model(path: Path, model, framing, class_names) -> Path:
    """``model`` (from ``create_model``) as a checkpoint at ``path`` with ``framing``."""
    from neuromoco.models.checkpoint import save_checkpoint

    save_checkpoint(path, model, arch=model.arch, model_kwargs=model.model_kwargs,
                    class_names=list(class_names), framing=framing)  # fmt: skip
    return path
