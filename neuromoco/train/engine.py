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

Reading order (as facebookresearch/moco's ``main_worker``/``train``): :func:`fit` builds a
:class:`Trainer` (setup: sampler, optimiser, logger), restores a resume state, then
:meth:`Trainer.run` loops over epochs: :meth:`~Trainer.train_one_epoch` (which calls
:meth:`~Trainer.train_step` per batch), :meth:`~Trainer.end_epoch` (validation, best-model
choice) and :meth:`~Trainer.save` (checkpoints).

The best model: ``best.pt`` is the checkpoint of the epoch with the best value of the task's
:class:`BestMetric` — ``val_top1`` (higher is better) when finetuning with a validation set,
otherwise ``train_loss`` (the epoch's mean training loss, lower is better). Only epochs that
measured that metric compete (an epoch without validation never becomes "best" by its loss).
The metric's name and value are stored in the checkpoint (``meta["best"]``) and every new best
is a row of ``best.csv``.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from neuromoco.atomic import atomic_copy, atomic_write_text
from neuromoco.train.distributed import DistContext, all_reduce_sum, barrier
from neuromoco.train.log import RunLogger
from neuromoco.train.recipe import dumps
from neuromoco.train.schedule import build_optimizer, lr_at, set_lr
from neuromoco.train.state import capture_rng, restore_rng

AUG_SEED_STRIDE = 1000
"""Rank ``r`` seeds its augmentation generator with ``run.seed + AUG_SEED_STRIDE · r``."""


@dataclass(frozen=True)
class BestMetric:
    """The epoch metric that picks ``best.pt``: a key of the epoch's metrics and its direction."""

    name: str  # "val_top1", "train_loss", ...
    higher_is_better: bool

    def improves(self, value: float | None, best: float | None) -> bool:
        """Whether ``value`` (None or NaN: not measured this epoch) beats ``best`` (None: none yet)."""
        if value is None or math.isnan(value):
            return False
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best


TRAIN_LOSS = BestMetric("train_loss", higher_is_better=False)
VAL_TOP1 = BestMetric("val_top1", higher_is_better=True)


class Task(Protocol):
    """What pretraining and finetuning plug into :func:`fit`."""

    module: nn.Module  # the trained module (wrapped by DDP under torchrun)
    best_metric: BestMetric  # what "best.pt" means for this task

    def train_step(
        self, module: nn.Module, frames: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def on_step_start(self, step: int, total_steps: int) -> None: ...

    def validate(self, loader, reduce) -> dict | None: ...

    def diagnostics(self, step: int) -> dict[str, float]:
        """Extra numbers for the training log row written after ``step`` steps (every
        ``run.log_every`` steps; keep it cheap)."""
        ...

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


def _gather_objects(obj, ctx: DistContext) -> list:
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def _per_rank_batch(global_batch: int, ctx: DistContext) -> int:
    if global_batch % ctx.world_size:
        raise ValueError(
            f"optim.batch_size {global_batch} is not divisible by the {ctx.world_size} processes"
        )
    return global_batch // ctx.world_size


def _resumed_best(saved, metric: BestMetric) -> float | None:
    """The best value stored in a resume state, if it was measured with ``metric``.

    Checkpoints written before :class:`BestMetric` stored one float: ``−train_loss``, or the
    validation top-1 (in [0, 1]) of the epochs that validated.
    """
    if isinstance(saved, dict):
        return saved.get("value") if saved.get("metric") == metric.name else None
    if saved is None:
        return None
    if metric.name == "train_loss":
        return -float(saved) if saved <= 0 else None
    return float(saved) if saved >= 0 else None


def fit(
    cfg: dict,
    task: Task,
    train_ds: Dataset,
    val_ds: Dataset | None,
    out_dir: str | Path,
    ctx: DistContext,
    framing,
    resume: str | Path | None = None,
) -> dict:
    """Train ``task`` per the recipe ``cfg``; write ``last.pt``, ``best.pt`` and logs to ``out_dir``.

    Returns:
        ``{"global_step", "epoch", "steps_per_epoch", "best", "best_metric", "last_val",
        "train_loss", "out_dir", "seconds"}`` (``best``: the best value of ``best_metric``).
    """
    trainer = Trainer(cfg, task, train_ds, val_ds, out_dir, ctx, framing)
    if resume is not None:
        trainer.load_resume_state(resume)
    return trainer.run()


class Trainer:
    """One training run. ``__init__`` is the setup; :meth:`run` the epoch loop."""

    def __init__(self, cfg, task: Task, train_ds, val_ds, out_dir, ctx: DistContext, framing):
        self.cfg, self.task, self.ctx, self.framing = cfg, task, ctx, framing
        run, optim = cfg["run"], cfg["optim"]
        self.run_cfg, self.optim_cfg = run, optim
        self.out = Path(out_dir)
        if ctx.is_main:
            atomic_write_text(self.out / "recipe.toml", dumps(cfg), mkdir=True)
        self.device = ctx.device
        self.amp = bool(run["amp"]) and self.device.type == "cuda"

        # data: the order is a function of (seed, epoch) only, see the module docstring
        self.train_ds, self.val_ds = train_ds, val_ds
        self.per_rank = _per_rank_batch(optim["batch_size"], ctx)
        self.sampler = DistributedSampler(
            train_ds,
            num_replicas=ctx.world_size,
            rank=ctx.rank,
            shuffle=True,
            seed=run["seed"],
            drop_last=True,
        )
        self.steps_per_epoch = len(self.sampler) // self.per_rank
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"training set has {len(train_ds)} samples ({len(self.sampler)} per process): "
                f"fewer than one batch of {self.per_rank}; lower optim.batch_size"
            )
        self.epochs = run["epochs"]
        self.total_steps = self.epochs * self.steps_per_epoch
        self.stop_step = min(self.total_steps, run["max_steps"] or self.total_steps)

        # optimisation state: everything a checkpoint must hold for an exact resume
        self.module = task.module
        self.train_module: nn.Module = self.module  # DDP-wrapped in run() under torchrun
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, optim)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.aug_gen = torch.Generator().manual_seed(run["seed"] + AUG_SEED_STRIDE * ctx.rank)
        self.global_step = 0
        self.best_metric = task.best_metric
        self.best: float | None = None

        self.logger = RunLogger(self.out, enabled=ctx.is_main)
        self.epoch_loss = float("nan")
        self.last_val: dict | None = None

    def reduce(self, t: torch.Tensor) -> torch.Tensor:
        return all_reduce_sum(t, self.ctx)

    # -- resume ------------------------------------------------------------------------------

    def load_resume_state(self, path: str | Path) -> None:
        """Restore module, optimiser, scaler, RNG streams, step and best from ``path``."""
        from neuromoco.models.checkpoint import CheckpointError, load_checkpoint

        task = self.run_cfg["task"]
        tr = load_checkpoint(path, map_location="cpu").extra.get("trainer")
        if not isinstance(tr, dict) or "module" not in tr:
            raise CheckpointError(path, "has no training state to resume from (an exported model?)")
        if tr.get("task") != task:
            raise CheckpointError(path, f"is a {tr.get('task')!r} run, not {task!r}")
        try:
            self.module.load_state_dict(tr["module"], strict=True)
        except RuntimeError as e:
            raise CheckpointError(
                path, f"training state does not match this recipe's model: {e}"
            ) from None
        self.optimizer.load_state_dict(tr["optimizer"])
        if tr.get("scaler"):
            self.scaler.load_state_dict(tr["scaler"])
        self.global_step = int(tr["global_step"])
        self.best = _resumed_best(tr.get("best"), self.best_metric)
        rngs = tr["rng"]
        restore_rng(
            rngs[self.ctx.rank] if len(rngs) == self.ctx.world_size else rngs[0], self.aug_gen
        )
        self.logger.truncate_after(self.global_step)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> dict:
        """Train from ``global_step`` to ``stop_step``; returns the run summary (see :func:`fit`)."""
        self._wrap_ddp()
        val_loader = None
        if self.val_ds is not None:
            val_loader = make_loader(
                shard(self.val_ds, self.ctx), self.per_rank, self.ctx, self.run_cfg["num_workers"]
            )
        t0 = time.perf_counter()
        progress = self._progress_bar()
        try:
            for epoch in range(self.global_step // self.steps_per_epoch, self.epochs):
                if self.global_step >= self.stop_step:
                    break
                if not self.train_one_epoch(epoch, progress):  # stopped by run.max_steps
                    self.save({"train_loss": self.epoch_loss})
                    break
                self.end_epoch(epoch, val_loader)
        finally:
            if progress is not None:
                progress.close()
            self.logger.close()
        barrier(self.ctx)
        return {
            "global_step": self.global_step,
            "epoch": self.global_step / self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "best": self.best,
            "best_metric": self.best_metric.name,
            "last_val": self.last_val,
            "train_loss": self.epoch_loss,
            "out_dir": str(self.out),
            "seconds": time.perf_counter() - t0,
        }

    def _wrap_ddp(self) -> None:
        if not self.ctx.distributed:
            return
        # broadcast_buffers=False: the queue is identical on every rank by construction (keys are
        # all-gathered) and BN statistics may stay rank-local, so skip a per-step broadcast.
        device = self.device
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch ≥ 2.13 deprecation notice
            self.train_module = nn.parallel.DistributedDataParallel(
                self.module,
                device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False,
            )

    def _progress_bar(self):
        if not (self.ctx.is_main and self.run_cfg["progress"]):
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.stop_step,
            initial=self.global_step,
            desc=self.run_cfg["task"],
            unit="step",
            dynamic_ncols=True,
        )

    # -- one epoch ---------------------------------------------------------------------------

    def train_one_epoch(self, epoch: int, progress=None) -> bool:
        """Train the (rest of the) epoch; returns whether it was completed (not cut by max_steps)."""
        run = self.run_cfg
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_ds, "set_epoch"):  # random-window datasets draw per (seed, epoch)
            self.train_ds.set_epoch(epoch)
        skip = (self.global_step - epoch * self.steps_per_epoch) * self.per_rank
        loader = make_loader(
            self.train_ds,
            self.per_rank,
            self.ctx,
            run["num_workers"],
            sampler=SkipSampler(self.sampler, skip),
            seed=run["seed"] + epoch,
            drop_last=True,
        )
        self.module.train()
        loss_sum, loss_n, interval = 0.0, 0, []
        for frames, labels in loader:
            lr, loss, metrics = self.train_step(frames, labels)
            loss_sum, loss_n = loss_sum + loss, loss_n + 1
            interval.append({"loss": loss, **metrics})
            if progress is not None:
                progress.update(1)
                progress.set_postfix(epoch=epoch, loss=f"{loss:.4f}", lr=f"{lr:.3g}")
            if (
                self.global_step % max(run["log_every"], 1) == 0
                or self.global_step == self.stop_step
            ):
                mean = {k: sum(r[k] for r in interval) / len(interval) for k in interval[0]}
                # the task's diagnostics describe the state now, not a mean over the interval
                extra = self.task.diagnostics(self.global_step) if self.ctx.is_main else {}
                self.logger.log(self.global_step, epoch, "train", lr=lr, **mean, **extra)
                interval = []
            if run["ckpt_every_steps"] and self.global_step % run["ckpt_every_steps"] == 0:
                self.save({"train_loss": loss})
            if self.global_step >= self.stop_step:
                break
        if loss_n:
            t = self.reduce(torch.tensor([loss_sum, float(loss_n)], dtype=torch.float64))
            self.epoch_loss = float(t[0] / t[1])
        return self.global_step % self.steps_per_epoch == 0

    def train_step(self, frames, labels) -> tuple[float, float, dict[str, float]]:
        """One optimisation step; returns ``(learning rate, loss, task metrics)``."""
        sched, base_lr = self.cfg["schedule"], self.optim_cfg["lr"]
        lr = lr_at(self.global_step, self.steps_per_epoch, self.epochs, sched, base_lr)
        set_lr(self.optimizer, lr)
        self.task.on_step_start(self.global_step, self.total_steps)
        frames = frames.to(self.device, non_blocking=True).float()
        labels = labels.to(self.device, non_blocking=True)
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            loss, metrics = self.task.train_step(self.train_module, frames, labels, self.aug_gen)
        value = float(loss.detach())  # the one host sync of the step (logging needs it anyway)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"loss became {value} at step {self.global_step}; lower optim.lr or check the data"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.optim_cfg["grad_clip"] > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.optim_cfg["grad_clip"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.global_step += 1
        return lr, value, metrics

    # -- validation and the best model -------------------------------------------------------

    def end_epoch(self, epoch: int, val_loader) -> None:
        """Validate when due, decide whether this epoch is the best so far, save checkpoints."""
        metrics = {"train_loss": self.epoch_loss}
        every = max(self.run_cfg["eval_every"], 1)
        if val_loader is not None and ((epoch + 1) % every == 0 or epoch + 1 == self.epochs):
            metrics.update(self.validate(epoch, val_loader))
        value = metrics.get(self.best_metric.name)
        is_best = self.best_metric.improves(value, self.best)
        if is_best:
            self.best = value
            self.logger.log(self.global_step, epoch, "best", **{self.best_metric.name: value})
        self.save(metrics, is_best=is_best)

    def validate(self, epoch: int, val_loader) -> dict[str, float]:
        """Run the task's validation; log it; returns its numbers as ``val_<name>`` metrics."""
        self.last_val = self.task.validate(val_loader, self.reduce)
        if self.last_val is None:
            return {}
        numbers = {k: v for k, v in self.last_val.items() if isinstance(v, int | float)}
        self.logger.log(self.global_step, epoch, "val", **numbers)
        return {f"val_{k}": v for k, v in numbers.items()}

    # -- checkpoints -------------------------------------------------------------------------

    def save(self, metrics: dict, is_best: bool = False) -> None:
        """Write ``last.pt`` (model + full resume state), and copy it to ``best.pt`` if best.

        Every rank calls it (the RNG states are gathered); only the main rank writes.
        """
        rng_all = _gather_objects(capture_rng(self.aug_gen), self.ctx)
        if not self.ctx.is_main:
            return
        from neuromoco.models.checkpoint import save_checkpoint

        best = {
            "metric": self.best_metric.name,
            "higher_is_better": self.best_metric.higher_is_better,
            "value": self.best,
        }
        trainer = {
            "task": self.run_cfg["task"],
            "module": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else {},
            "rng": rng_all,
            "global_step": self.global_step,
            "best": best,
            "world_size": self.ctx.world_size,
        }
        meta = {
            "task": self.run_cfg["task"],
            "epoch": self.global_step / self.steps_per_epoch,
            "global_step": self.global_step,
            "metrics": metrics,
            "best": best,
            "recipe": dumps(self.cfg),
        }
        model, arch, kwargs, class_names = self.task.export()
        last = save_checkpoint(
            self.out / "last.pt",
            model,
            arch=arch,
            model_kwargs=kwargs,
            class_names=class_names,
            framing=self.framing,
            meta=meta,
            extra={"trainer": trainer},
        )
        if is_best:
            atomic_copy(last, self.out / "best.pt")
