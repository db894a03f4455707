"""Supervised finetuning (paper Fig. 1 right, §4.1.3) and TCL/STCL training: ``neuromoco finetune``.

The model is ``create_model(model.arch, num_classes)``; with ``finetune.pretrained`` set, its
backbone weights come from a ``neuromoco pretrain`` checkpoint (the S-encoder backbone) and the
classification head is new. Losses (``loss.name``): ``mac`` (the paper's finetuning loss), ``mbc``,
``mix`` (α·MBC + β·MAC, paper Table 2), ``tet`` (MAC + TET's MSE regulariser), ``tcl`` and
``stcl`` (TCL paper; they add a 2-layer projection module on the per-step features that is used
only in training and is not part of the saved model). STCL draws two augmented views per sample and
runs them as one batch of ``2N``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from neuromoco.train.datasets import build_split_ranked, class_names_of, framing_from, label_subset
from neuromoco.train.distributed import DistContext, cleanup_distributed, setup_distributed
from neuromoco.train.engine import TRAIN_LOSS, VAL_TOP1, fit
from neuromoco.train.evaluate import evaluate_classifier
from neuromoco.train.state import seed_everything


class FinetuneNet(nn.Module):
    """Classifier + optional training-only projection: ``x → (logits [T, N, K], z [T, N, P] | None)``."""

    def __init__(self, model: nn.Module, proj: nn.Module | None = None):
        super().__init__()
        self.model = model
        self.proj = proj

    def forward(self, x: torch.Tensor):
        if self.proj is None:
            return self.model(x), None
        feats = self.model.forward_features(x)
        return self.model.head(feats), self.proj(feats)


def load_pretrained_backbone(model: nn.Module, path: str | Path, arch: str) -> dict:
    """Copy a pretraining checkpoint's backbone weights into ``model`` (its head is left as is).

    Raises:
        CheckpointError: unreadable file, another architecture, or non-matching weights.
    """
    from neuromoco.models.checkpoint import CheckpointError, load_checkpoint

    ck = load_checkpoint(path)
    if ck.arch != arch:
        raise CheckpointError(
            path, f"was pretrained as {ck.arch!r} but the recipe's model.arch is {arch!r}"
        )
    own = model.state_dict()
    state = {k: v for k, v in ck.state_dict.items() if not k.startswith("head.")}
    missing = sorted(k for k in own if k not in state and not k.startswith("head."))
    unexpected = sorted(k for k in state if k not in own)
    bad = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        raise CheckpointError(
            path,
            f"backbone weights do not fit model {arch!r} with these model.kwargs "
            f"(missing {missing[:4]}, unexpected {unexpected[:4]}, shape mismatch {bad[:4]})",
        )
    model.load_state_dict(state, strict=False)
    return {"pretrained": str(path), "pretrain_step": ck.meta.get("global_step")}


class FinetuneTask:
    """Supervised training for :func:`~neuromoco.train.engine.fit`.

    ``best.pt`` is the epoch with the highest validation top-1 (``validated``: a validation set
    is given), else the one with the lowest training loss.
    """

    def __init__(self, cfg: dict, ctx: DistContext, class_names: list[str], validated: bool = True):
        from neuromoco.augment import make_policy
        from neuromoco.models.heads import ProjectionHead
        from neuromoco.models.registry import create_model

        self.cfg, self.ctx, self.class_names = cfg, ctx, class_names
        self.best_metric = VAL_TOP1 if validated else TRAIN_LOSS
        m, d, lc = cfg["model"], cfg["data"], cfg["loss"]
        self.arch = m["arch"]
        self.model_kwargs = {
            "num_classes": len(class_names),
            "img_size": list(d["size"]),
            **m["kwargs"],
        }
        model = create_model(self.arch, **self.model_kwargs)
        self.info = {}
        if cfg["finetune"]["pretrained"]:
            self.info = load_pretrained_backbone(model, cfg["finetune"]["pretrained"], self.arch)
        if cfg["finetune"]["freeze_backbone"]:
            for name, p in model.named_parameters():
                p.requires_grad_(name.startswith("head."))
        proj = None
        if lc["name"] in ("tcl", "stcl"):
            D = int(model.num_features)
            proj = ProjectionHead(D, D, lc["proj_dim"])
        self.net = FinetuneNet(model, proj).to(ctx.device)
        self.module: nn.Module = self.net
        self.augment = make_policy(d["augment"])

    def on_step_start(self, step: int, total_steps: int) -> None:
        pass

    def train_step(self, module, frames, labels, gen):
        from neuromoco import losses

        lc = self.cfg["loss"]
        if self.cfg["finetune"]["freeze_backbone"]:
            # linear probe (MoCo protocol): the frozen backbone runs in eval mode, so its
            # BatchNorm uses the pretrained running statistics and does not update them
            self.net.model.eval()
        y = labels.long()
        name = lc["name"]
        if name == "stcl":
            v1, v2 = self.augment(frames, generator=gen), self.augment(frames, generator=gen)
            logits, z = module(torch.cat([v1, v2], 0).transpose(0, 1))
            logits, z = logits.float(), z.float()
            N = y.shape[0]
            loss = losses.stcl_loss(
                logits[:, :N],
                logits[:, N:],
                z[:, :N],
                z[:, N:],
                y,
                lam=lc["stcl_lambda"],
                tau=lc["tau"],
                supervised=lc["supervised"],
            )
            logits = logits[:, :N]
        else:
            logits, z = module(self.augment(frames, generator=gen).transpose(0, 1))
            logits = logits.float()
            if name == "mac":
                loss = losses.mac_loss(logits, y)
            elif name == "mbc":
                loss = losses.mbc_loss(logits, y)
            elif name == "mix":
                loss = losses.mix_infonce(logits, y, lc["alpha"], lc["beta"])
            elif name == "tet":
                loss = losses.tet_loss(logits, y, lamb=lc["tet_lambda"])
            elif name == "tcl":
                loss = losses.tcl_loss(
                    logits,
                    z.float(),
                    y,
                    lam=lc["tcl_lambda"],
                    tau=lc["tau"],
                    supervised=lc["supervised"],
                )
            else:
                raise ValueError(f"loss.name must be mbc, mac, mix, tet, tcl or stcl, got {name!r}")
        with torch.no_grad():
            acc = (logits.detach().mean(0).argmax(1) == y).float().mean()
        return loss, {"acc": float(acc)}

    def validate(self, loader, reduce):
        amp = bool(self.cfg["run"]["amp"]) and self.ctx.device.type == "cuda"
        r = evaluate_classifier(
            self.net.model,
            loader,
            self.ctx.device,
            len(self.class_names),
            amp=amp,
            reduce=reduce if self.ctx.distributed else None,
        )
        self.net.train()
        return {
            "top1": r["top1"],
            "top1_t1": r["latency_acc"][0] if r["latency_acc"] else 0.0,
            "loss": r["loss_mbc"],
            "n": r["n"],
        }

    def diagnostics(self, step: int) -> dict[str, float]:
        return {}

    def export(self):
        return self.net.model, self.arch, self.model_kwargs, self.class_names


def run_finetune(
    cfg: dict, out_dir: str | Path, resume: str | Path | None = None, train_ds=None, val_ds=None
) -> dict:
    """Finetune per the recipe; ``train_ds``/``val_ds`` override the recipe's datasets."""
    if cfg["run"]["task"] != "finetune":
        cfg = {**cfg, "run": {**cfg["run"], "task": "finetune"}}
    ctx = setup_distributed(cfg["run"]["device"])
    try:
        seed_everything(cfg["run"]["seed"])
        if train_ds is None:
            train_ds = build_split_ranked(cfg, cfg["data"]["split"], ctx)
            if cfg["data"]["val_split"]:
                val_ds = build_split_ranked(cfg, cfg["data"]["val_split"], ctx)
        class_names = class_names_of(train_ds)
        train_ds = label_subset(train_ds, cfg["data"]["label_fraction"], cfg["run"]["seed"])
        task = FinetuneTask(cfg, ctx, class_names, validated=val_ds is not None)
        result = fit(cfg, task, train_ds, val_ds, out_dir, ctx, framing_from(cfg), resume=resume)
        result["train_samples"] = len(train_ds)
        result.update(task.info)
        return result
    finally:
        cleanup_distributed(ctx)
