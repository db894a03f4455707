"""Classifier evaluation: top-1, the latency curve, the confusion matrix and firing rates.

* **Latency curve** (TCL paper Fig. 2): accuracy of ``argmax mean_{s<t} logits[s]`` for
  ``t = 1..T``, i.e. deciding after only the first ``t`` time steps. Every registered model is
  causal in time (step ``t`` only depends on frames ``0..t``), so one forward over all ``T`` steps
  gives every point of the curve.
* **Firing rate per block**: forward hooks on every spiking neuron module (spikingjelly
  ``BaseNode``) record the mean of its binary output, i.e. the fraction of (neuron, step) pairs that
  spiked, averaged over the evaluation set (TCL paper Tab. 4 reports the same quantity in %).

Evaluation can be sharded over ranks (each rank evaluates every ``world``-th sample); the counts
are summed over ranks, so the numbers are exact, with no padding duplicates.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from neuromoco.atomic import atomic_path, atomic_write_text


def _spiking_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    try:
        from spikingjelly.activation_based.neuron import BaseNode
    except ImportError:  # pragma: no cover - spikingjelly is a runtime requirement of the models
        return []
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BaseNode)]


class FiringRateRecorder:
    """Context manager: sums spikes and element counts of every spiking module's outputs."""

    def __init__(self, model: nn.Module):
        self.mods = _spiking_modules(model)
        self.spikes = torch.zeros(len(self.mods), dtype=torch.float64)
        self.counts = torch.zeros(len(self.mods), dtype=torch.float64)
        self.handles: list = []

    def __enter__(self) -> FiringRateRecorder:
        for i, (_, m) in enumerate(self.mods):
            self.handles.append(m.register_forward_hook(self._hook(i)))
        return self

    def _hook(self, i: int):
        def fn(_m, _inp, out):
            if isinstance(out, torch.Tensor):
                self.spikes[i] += float(out.detach().float().sum())
                self.counts[i] += out.numel()

        return fn

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.mods]


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module,
    loader,
    device: torch.device,
    num_classes: int,
    amp: bool = False,
    firing_rates: bool = False,
    reduce=None,
) -> dict:
    """Run ``model`` over ``loader`` (batches ``(frames [N, T, 2, H, W], labels [N])``).

    Args:
        reduce: optional function summing a tensor over ranks (in place); None = one process.

    Returns:
        ``{"n", "top1", "latency_acc" [T], "confusion" [[C×C]] (rows = true class),
        "loss_mbc", "firing_rates" {module: rate}}`` (plain Python types).
    """
    from neuromoco.losses import mbc_loss

    model.eval()
    conf = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    lat_correct: torch.Tensor | None = None
    loss_sum = torch.zeros(1, dtype=torch.float64)
    rec = FiringRateRecorder(model) if firing_rates else None
    if rec is not None:
        rec.__enter__()
    try:
        for frames, labels in loader:
            x = frames.to(device, non_blocking=True).transpose(0, 1).float()
            y = labels.to(device).long()
            with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
                logits = model(x)
            logits = logits.float()
            T = logits.shape[0]
            cum = logits.cumsum(0) / torch.arange(1, T + 1, device=device).view(T, 1, 1)
            pred_t = cum.argmax(2)  # [T, N]
            correct_t = (pred_t == y.unsqueeze(0)).sum(1).double().cpu()
            lat_correct = correct_t if lat_correct is None else lat_correct + correct_t
            pred = pred_t[-1]
            idx = (y * num_classes + pred).cpu()
            conf += torch.bincount(idx, minlength=num_classes**2).view(num_classes, num_classes)
            loss_sum += float(mbc_loss(logits, y)) * y.shape[0]
    finally:
        if rec is not None:
            rec.__exit__()
    if lat_correct is None:
        lat_correct = torch.zeros(0, dtype=torch.float64)
    if reduce is not None:
        T_local = torch.tensor([float(lat_correct.numel())], dtype=torch.float64)
        reduce(T_local)  # every rank has the same T; ranks with no batch contribute 0
        T_all = int(T_local.item())
        if lat_correct.numel() == 0 and T_all:
            lat_correct = torch.zeros(T_all, dtype=torch.float64)  # pragma: no cover
        for t in (conf, lat_correct, loss_sum):
            reduce(t)
        if rec is not None:
            reduce(rec.spikes)
            reduce(rec.counts)
    n = int(conf.sum())
    out = {
        "n": n,
        "top1": float(conf.diag().sum() / n) if n else 0.0,
        "latency_acc": [float(c / n) for c in lat_correct] if n else [],
        "confusion": conf.long().tolist(),
        "loss_mbc": float(loss_sum / n) if n else 0.0,
    }
    if rec is not None:
        rates = (rec.spikes / rec.counts.clamp(min=1)).tolist()
        out["firing_rates"] = dict(zip(rec.names, rates, strict=True))
    return out


def evaluate_checkpoint(
    checkpoint: str | Path,
    dataset,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    transform=None,
) -> dict:
    """Top-1 (and the rest of :func:`evaluate_classifier`'s numbers) of a classifier checkpoint on
    a dataset (e.g. a recipe's test split), one process.

    Args:
        checkpoint: a ``.pt`` classifier checkpoint (``num_classes > 0``).
        dataset: yields ``(frames [T, 2, H, W], label)``, framed as the checkpoint expects.
        batch_size: samples per forward pass.
        transform: optional function applied to every batch of frames ``[N, T, 2, H, W]`` (float)
            before the model sees it (e.g. a polarity change); None = the frames as they are.

    Returns:
        :func:`evaluate_classifier`'s dict: ``n``, ``top1``, ``latency_acc``, ``confusion``,
        ``loss_mbc``.
    """
    from torch.utils.data import DataLoader

    from neuromoco.models.checkpoint import load_model

    device = torch.device(device)
    model, ck = load_model(checkpoint, device=device, classifier=True)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    loader = DataLoader(dataset, batch_size=batch_size)
    if transform is not None:
        loader = ((transform(frames.float()), labels) for frames, labels in loader)
    return evaluate_classifier(model, loader, device, ck.num_classes)


def _save_figure(fig, path: Path, written: list[Path]) -> None:
    """Lay out, save (atomically) and close ``fig``; ``path`` is added to ``written``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path, suffix=path.suffix) as tmp:  # matplotlib picks the format by suffix
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    written.append(path)


def write_report(
    result: dict, out_dir: str | Path, class_names: list[str], title: str = ""
) -> list[Path]:
    """Write ``evaluation.json`` and PNG plots (latency curve, confusion matrix, firing rates)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "evaluation.json"]
    atomic_write_text(written[0], json.dumps({"class_names": class_names, **result}, indent=2))

    lat = result.get("latency_acc") or []
    if lat:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(range(1, len(lat) + 1), [100 * a for a in lat], marker="o")
        ax.set_xlabel("time steps used (first t of T)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(title or "latency curve")
        ax.grid(alpha=0.3)
        _save_figure(fig, out / "latency_curve.png", written)

    conf = result.get("confusion")
    if conf:
        C = len(conf)
        fig, ax = plt.subplots(figsize=(max(4, 0.45 * C + 2), max(3.5, 0.45 * C + 1.5)))
        im = ax.imshow(conf, cmap="Blues")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if C <= 20:
            ax.set_xticks(range(C), class_names, rotation=90, fontsize=7)
            ax.set_yticks(range(C), class_names, fontsize=7)
            for i in range(C):
                for j in range(C):
                    if conf[i][j]:
                        ax.text(j, i, conf[i][j], ha="center", va="center", fontsize=6)
        fig.colorbar(im, ax=ax)
        ax.set_title(f"confusion (top-1 {100 * result['top1']:.1f} %)")
        _save_figure(fig, out / "confusion.png", written)

    rates = result.get("firing_rates")
    if rates:
        fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(rates) + 2), 3.5))
        ax.bar(range(len(rates)), [100 * r for r in rates.values()])
        ax.set_xticks(range(len(rates)), list(rates), rotation=90, fontsize=6)
        ax.set_ylabel("firing rate (%)")
        ax.set_title("spike firing rate per spiking layer")
        _save_figure(fig, out / "firing_rates.png", written)
    return written
