"""NeuroMoCo self-supervised pretraining (paper §3.1, §4.1.3): ``neuromoco pretrain RECIPE``.

Each step: two augmented views ``x_q, x_k`` of the batch (:class:`neuromoco.augment.TwoViews`,
same transform over all T frames of a sample), the NeuroMoCo logits ``[T, N, 1 + L]`` and the
recipe's ``moco.loss`` (``mix_infonce`` = paper; ``mbc``, ``mac`` and the time-averaged
``infonce`` baseline for ablations). Labels are never used.

The checkpoint's model is the **S-encoder (key) backbone** (``num_classes = 0``), what the paper
finetunes; the full NeuroMoCo state (both encoders, projection heads, queue, pointer) is in the
checkpoint's resume state.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from neuromoco.moco import NeuroMoCo
from neuromoco.train.datasets import build_split_ranked, framing_from
from neuromoco.train.diagnostics import training_diagnostics
from neuromoco.train.distributed import DistContext, cleanup_distributed, setup_distributed
from neuromoco.train.engine import TRAIN_LOSS, fit
from neuromoco.train.state import seed_everything


def moco_loss(out, cfg_moco: dict, tau: float) -> torch.Tensor:
    """The pretraining loss named by ``moco.loss`` on a :class:`~neuromoco.moco.MoCoOutput`."""
    from neuromoco import losses

    name = cfg_moco["loss"]
    logits = out.logits.float()
    if name == "mix_infonce":
        return losses.mix_infonce(logits, out.target, cfg_moco["alpha"], cfg_moco["beta"])
    if name == "mbc":
        return losses.mbc_loss(logits, out.target)
    if name == "mac":
        return losses.mac_loss(logits, out.target)
    if name == "infonce":
        return losses.infonce_loss(out.q.float(), out.k.float(), out.neg.float(), tau)
    raise ValueError(f"moco.loss must be mix_infonce, mbc, mac or infonce, got {name!r}")


def backbone_kwargs(cfg: dict) -> dict:
    """``create_model`` keywords of a pretraining recipe's backbone (no head)."""
    m, d = cfg["model"], cfg["data"]
    return {"num_classes": 0, "img_size": list(d["size"]), **m["kwargs"]}


def moco_from_recipe(cfg: dict) -> NeuroMoCo:
    """The (untrained) NeuroMoCo module a pretraining recipe describes: its backbone, projection,
    queue and momentum settings (the state of a run's checkpoint loads into it)."""
    from neuromoco.models.registry import create_model

    mc, d = cfg["moco"], cfg["data"]
    return NeuroMoCo(
        create_model(cfg["model"]["arch"], **backbone_kwargs(cfg)),
        T=d["T"],
        dim=mc["dim"],
        hidden_dim=mc["hidden_dim"] or None,
        queue_size=mc["queue_size"],
        momentum=mc["momentum"],
        tau=mc["tau"],
        momentum_schedule=mc["momentum_schedule"],
        shuffle_bn=mc["shuffle_bn"],
    )


class PretrainTask:
    """NeuroMoCo pretraining for :func:`~neuromoco.train.engine.fit` (``best.pt``: lowest loss)."""

    best_metric = TRAIN_LOSS  # no labels, so no validation accuracy

    def __init__(self, cfg: dict, ctx: DistContext):
        from neuromoco.augment import TwoViews, make_policy

        self.cfg = cfg
        mc, d = cfg["moco"], cfg["data"]
        global_batch = cfg["optim"]["batch_size"]
        if global_batch > mc["queue_size"]:
            raise ValueError(
                f"moco.queue_size {mc['queue_size']} must be >= the global batch {global_batch}"
            )
        self.img_size = (d["size"][0], d["size"][1])  # (width, height), as everywhere
        self.model_kwargs = backbone_kwargs(cfg)
        self.moco = moco_from_recipe(cfg).to(ctx.device)
        self.module: nn.Module = self.moco
        self.views = TwoViews(make_policy(d["augment"]))
        self.global_batch = global_batch
        self.last_keys: torch.Tensor | None = None  # [T, N, C] of the last step, for diagnostics

    def on_step_start(self, step: int, total_steps: int) -> None:
        self.moco.momentum = self.moco.momentum_at(step, total_steps)

    def train_step(self, module, frames, labels, gen):
        x_q, x_k = self.views(frames, generator=gen)  # [N, T, C, H, W]
        out = module(x_q.transpose(0, 1), x_k.transpose(0, 1))
        loss = moco_loss(out, self.cfg["moco"], self.moco.tau)
        self.last_keys = out.k.detach()
        with torch.no_grad():
            acc = (out.logits.detach().float().mean(0).argmax(1) == 0).float().mean()
        return loss, {"contrast_acc": float(acc), "momentum": self.moco.momentum}

    def validate(self, loader, reduce):
        return None

    def diagnostics(self, step: int) -> dict[str, float]:
        """Collapse and queue numbers of the training log (:mod:`neuromoco.train.diagnostics`):
        queue fill after ``step`` steps, spread and effective rank of the last batch's keys."""
        if self.last_keys is None:
            return {}
        return training_diagnostics(
            self.last_keys, step, self.global_batch, self.cfg["moco"]["queue_size"]
        )

    def export(self):
        return self.moco.encoder_k, self.cfg["model"]["arch"], self.model_kwargs, []


def run_pretrain(
    cfg: dict, out_dir: str | Path, resume: str | Path | None = None, train_ds=None
) -> dict:
    """Pretrain per the recipe; ``train_ds`` overrides the recipe's dataset (tests, ablation)."""
    if cfg["run"]["task"] != "pretrain":
        cfg = {**cfg, "run": {**cfg["run"], "task": "pretrain"}}
    ctx = setup_distributed(cfg["run"]["device"])
    try:
        seed_everything(cfg["run"]["seed"])
        if train_ds is None:
            train_ds = build_split_ranked(cfg, cfg["data"]["split"], ctx)
        task = PretrainTask(cfg, ctx)
        return fit(cfg, task, train_ds, None, out_dir, ctx, framing_from(cfg), resume=resume)
    finally:
        cleanup_distributed(ctx)
