"""The training loop shared by ``pretrain`` and ``finetune``: one code path for one process and
``torchrun`` (DDP), AMP on CUDA, progress bars, CSV/TensorBoard logs, atomic last/best checkpoints
and exact resume.

Exact resume: a checkpoint written after optimisation step ``g`` holds the full trained module
(for pretraining the whole NeuroMoCo: both encoders, heads, queue and pointer), the optimiser and
AMP-scaler states, every RNG stream of every rank (python, numpy, torch CPU/CUDA and the
augmentation generator) and ``g``. The learning rate is a pure function of ``g``
(:mod:`neuromoco.train.schedule`) and the data order is a pure function of (seed, epoch): a
``DistributedSampler`` (also used with one process) shuffled with ``seed + epoch``; the resumed
epoch skips the ``g mod steps_per_epoch`` batches already done. Training ``a`` steps, resuming and
training ``b`` more therefore equals training ``a + b`` steps (tests check it on CPU).

Batches: the loader yields ``(frames [N, T, 2, H, W], labels [N])``; augmentation runs on the
batch on the training device with a dedicated ``torch.Generator`` (seeded ``seed + 1000·rank``),
then frames are transposed to ``[T, N, 2, H, W]`` for the models. The global batch size
``optim.batch_size`` is split evenly over the ranks; training batches drop the last incomplete
batch (MoCo's queue rule and shuffle-BN need equal batch sizes).
"""

from __future__ import annotations

import itertools
import math
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from neuromoco.train.distributed import DistContext, all_reduce_sum, barrier
from neuromoco.train.log import RunLogger
from neuromoco.train.recipe import dumps
from neuromoco.train.schedule import build_optimizer, lr_at, set_lr
from neuromoco.train.state import capture_rng, restore_rng


class Task(Protocol):
    """What pretraining and finetuning plug into :func:`fit`."""

    module: nn.Module  # the trained module (wrapped by DDP under torchrun)

    def train_step(
        self, module: nn.Module, frames: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def on_step_start(self, step: int, total_steps: int) -> None: ...

    def validate(self, loader, reduce) -> dict | None: ...

    def export(self) -> tuple[nn.Module, str, dict, list[str]]: ...


class SkipSampler(Sampler):
    """``sampler`` without its first ``skip`` indices (resuming in the middle of an epoch)."""

    def __init__(self, sampler: DistributedSampler, skip: int = 0):
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)


def shard(ds: Dataset, ctx: DistContext) -> Dataset:
    """Every ``world``-th sample starting at ``rank`` (exact sharded evaluation, no padding)."""
    if not ctx.distributed:
        return ds
    return Subset(ds, list(range(ctx.rank, len(ds), ctx.world_size)))


def make_loader(
    ds: Dataset,
    batch: int,
    ctx: DistContext,
    num_workers: int,
    sampler=None,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    g = torch.Generator().manual_seed(seed)  # keeps the loader off the global RNG stream
    return DataLoader(
        ds,
        batch_size=batch,
        sampler=sampler,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=ctx.device.type == "cuda",
        drop_last=drop_last,
        generator=g,
        persistent_workers=False,
    )


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _gather_objects(obj, ctx: DistContext) -> list:
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def fit(
    cfg: dict,
    task: Task,
    train_ds: Dataset,
    val_ds: Dataset | None,
    out_dir: str | Path,
    ctx: DistContext,
    framing,
    resume: str | Path | None = None,
    higher_is_better: bool = True,
) -> dict:
    """Train ``task`` per the recipe ``cfg``; write ``last.pt``, ``best.pt`` and logs to ``out_dir``.

    Returns:
        ``{"global_step", "epoch", "best", "last_val", "train_loss", "out_dir", "seconds"}``.
    """
    run, optim_cfg = cfg["run"], cfg["optim"]
    out = Path(out_dir)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.toml").write_text(dumps(cfg))
    device = ctx.device
    amp = bool(run["amp"]) and device.type == "cuda"

    if optim_cfg["batch_size"] % ctx.world_size:
        raise ValueError(
            f"optim.batch_size {optim_cfg['batch_size']} is not divisible by the "
            f"{ctx.world_size} processes"
        )
    per_rank = optim_cfg["batch_size"] // ctx.world_size
    sampler = DistributedSampler(
        train_ds,
        num_replicas=ctx.world_size,
        rank=ctx.rank,
        shuffle=True,
        seed=run["seed"],
        drop_last=True,
    )
    steps_per_epoch = len(sampler) // per_rank
    if steps_per_epoch == 0:
        raise ValueError(
            f"training set has {len(train_ds)} samples ({len(sampler)} per process): fewer than "
            f"one batch of {per_rank}; lower optim.batch_size"
        )
    epochs = run["epochs"]
    total_steps = epochs * steps_per_epoch
    stop_step = min(total_steps, run["max_steps"]) if run["max_steps"] else total_steps

    module = task.module
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, optim_cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    aug_gen = torch.Generator().manual_seed(run["seed"] + 1000 * ctx.rank)

    global_step, best = 0, None
    logger = RunLogger(out, enabled=ctx.is_main)
    if resume is not None:
        from neuromoco.models.checkpoint import CheckpointError, load_checkpoint

        ck = load_checkpoint(resume, map_location="cpu")
        tr = ck.extra.get("trainer")
        if not isinstance(tr, dict) or "module" not in tr:
            raise CheckpointError(
                resume, "has no training state to resume from (an exported model?)"
            )
        if tr.get("task") != run["task"]:
            raise CheckpointError(resume, f"is a {tr.get('task')!r} run, not {run['task']!r}")
        try:
            module.load_state_dict(tr["module"], strict=True)
        except RuntimeError as e:
            raise CheckpointError(
                resume, f"training state does not match this recipe's model: {e}"
            ) from None
        optimizer.load_state_dict(tr["optimizer"])
        if tr.get("scaler"):
            scaler.load_state_dict(tr["scaler"])
        global_step, best = int(tr["global_step"]), tr.get("best")
        rngs = tr["rng"]
        restore_rng(rngs[ctx.rank] if len(rngs) == ctx.world_size else rngs[0], aug_gen)
        logger.truncate_after(global_step)

    train_module: nn.Module = module
    if ctx.distributed:
        # broadcast_buffers=False: the queue is identical on every rank by construction (keys are
        # all-gathered) and BN statistics may stay rank-local, so skip a per-step broadcast.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch ≥ 2.13 deprecation notice
            train_module = nn.parallel.DistributedDataParallel(
                module,
                device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False,
            )

    val_loader = None
    if val_ds is not None:
        val_loader = make_loader(shard(val_ds, ctx), per_rank, ctx, run["num_workers"])

    def reduce(t: torch.Tensor) -> torch.Tensor:
        return all_reduce_sum(t, ctx)

    def save(tag_best: bool, metrics: dict) -> None:
        rng_all = _gather_objects(capture_rng(aug_gen), ctx)
        if not ctx.is_main:
            return
        from neuromoco.models.checkpoint import save_checkpoint

        model, arch, kwargs, class_names = task.export()
        trainer = {
            "task": run["task"],
            "module": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if amp else {},
            "rng": rng_all,
            "global_step": global_step,
            "best": best,
            "world_size": ctx.world_size,
        }
        meta = {
            "task": run["task"],
            "epoch": global_step / steps_per_epoch,
            "global_step": global_step,
            "metrics": metrics,
            "recipe": dumps(cfg),
        }
        last = save_checkpoint(
            out / "last.pt",
            model,
            arch=arch,
            model_kwargs=kwargs,
            class_names=class_names,
            framing=framing,
            meta=meta,
            extra={"trainer": trainer},
        )
        if tag_best:
            _atomic_copy(last, out / "best.pt")

    t0 = time.perf_counter()
    last_val: dict | None = None
    epoch_loss = float("nan")
    progress = None
    if ctx.is_main and run["progress"]:
        from tqdm import tqdm

        progress = tqdm(
            total=stop_step, initial=global_step, desc=run["task"], unit="step", dynamic_ncols=True
        )
    start_epoch = global_step // steps_per_epoch
    try:
        for epoch in range(start_epoch, epochs):
            if global_step >= stop_step:
                break
            sampler.set_epoch(epoch)
            if hasattr(train_ds, "set_epoch"):  # random-window datasets draw per (seed, epoch)
                train_ds.set_epoch(epoch)
            skip = (global_step - epoch * steps_per_epoch) * per_rank
            loader = make_loader(
                train_ds,
                per_rank,
                ctx,
                run["num_workers"],
                sampler=SkipSampler(sampler, skip),
                seed=run["seed"] + epoch,
                drop_last=True,
            )
            module.train()
            loss_sum, loss_n, interval = 0.0, 0, []
            for frames, labels in loader:
                lr = lr_at(global_step, steps_per_epoch, epochs, cfg["schedule"], optim_cfg["lr"])
                set_lr(optimizer, lr)
                task.on_step_start(global_step, total_steps)
                frames = frames.to(device, non_blocking=True).float()
                labels = labels.to(device, non_blocking=True)
                with torch.autocast(device_type=device.type, enabled=amp):
                    loss, metrics = task.train_step(train_module, frames, labels, aug_gen)
                if not torch.isfinite(loss.detach()):
                    raise FloatingPointError(
                        f"loss became {float(loss)} at step {global_step}; lower optim.lr or check the data"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if optim_cfg["grad_clip"] > 0:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(params, optim_cfg["grad_clip"])
                scaler.step(optimizer)
                scaler.update()
                global_step += 1
                lv = float(loss.detach())
                loss_sum += lv
                loss_n += 1
                interval.append({"loss": lv, **metrics})
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(epoch=epoch, loss=f"{lv:.4f}", lr=f"{lr:.3g}")
                if global_step % max(run["log_every"], 1) == 0 or global_step == stop_step:
                    keys = interval[0].keys()
                    mean = {k: sum(r[k] for r in interval) / len(interval) for k in keys}
                    logger.log(global_step, epoch, "train", lr=lr, **mean)
                    interval = []
                if run["ckpt_every_steps"] and global_step % run["ckpt_every_steps"] == 0:
                    save(False, {"train_loss": lv})
                if global_step >= stop_step:
                    break
            if loss_n:
                t = reduce(torch.tensor([loss_sum, float(loss_n)], dtype=torch.float64))
                epoch_loss = float(t[0] / t[1])
            epoch_done = global_step % steps_per_epoch == 0
            if not epoch_done:  # stopped by max_steps inside the epoch
                save(False, {"train_loss": epoch_loss})
                break
            metrics = {"train_loss": epoch_loss}
            score = -epoch_loss if not math.isnan(epoch_loss) else None
            if val_loader is not None and (
                (epoch + 1) % max(run["eval_every"], 1) == 0 or epoch + 1 == epochs
            ):
                last_val = task.validate(val_loader, reduce)
                if last_val is not None:
                    metrics.update(
                        {f"val_{k}": v for k, v in last_val.items() if isinstance(v, int | float)}
                    )
                    logger.log(
                        global_step,
                        epoch,
                        "val",
                        **{k: v for k, v in last_val.items() if isinstance(v, int | float)},
                    )
                    score = last_val.get("top1", score)
            is_best = score is not None and (
                best is None or (score > best if higher_is_better else score < best)
            )
            if is_best:
                best = score
            save(is_best, metrics)
    finally:
        if progress is not None:
            progress.close()
        logger.close()
    barrier(ctx)
    return {
        "global_step": global_step,
        "epoch": global_step / steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "best": best,
        "last_val": last_val,
        "train_loss": epoch_loss,
        "out_dir": str(out),
        "seconds": time.perf_counter() - t0,
    }
