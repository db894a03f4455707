"""Experiments: recipes × seeds × overrides, run as pretrain → finetune → evaluate, resumable.

* :class:`Stage` — one training run: a recipe file and its ``--set`` overrides (a seed is one more
  override, ``run.seed=S``).
* :func:`pretrain` / :func:`finetune` — run a stage in a folder and return its summary (a plain
  dict, JSON-ready); :func:`finetune` also measures its *last* checkpoint on a test split (no model
  selection on the test set).
* :func:`resumable` — a run whose folder holds ``result.json`` is not run again, its result is read
  back; a folder without one (an interrupted run) is emptied and the run started over. So a long
  grid of runs that stopped continues where it stopped.
* :func:`pretrain_then_finetune` — the chain: the finetuning starts from the pretraining's
  ``last.pt`` (its key-encoder backbone).

Used by the comparisons in ``bench/`` (``real_gain``, ``ablation``, ``polarity_robustness``), the
linear probe (:mod:`neuromoco.train.probe`) and the bundled-model build (``tools/build_bundled.py``).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from neuromoco.atomic import atomic_write_text

RESULT_FILE = "result.json"
"""The file in a run folder that says the run finished, and holds its result."""


@dataclass(frozen=True)
class Stage:
    """One training run: ``recipe`` (a TOML file) with ``overrides`` (``section.key=value``)."""

    recipe: Path
    overrides: tuple[str, ...] = ()

    def with_overrides(self, *more: str) -> Stage:
        """The same stage with ``more`` overrides after its own (a later one wins)."""
        return replace(self, overrides=(*self.overrides, *more))

    def starting_from(self, checkpoint: str | Path) -> Stage:
        """A finetuning stage that initialises its backbone from ``checkpoint``."""
        return self.with_overrides(f'finetune.pretrained="{Path(checkpoint).as_posix()}"')

    def config(self) -> dict:
        """The validated recipe (see :func:`neuromoco.train.recipe.load_recipe`)."""
        from neuromoco.train.recipe import load_recipe

        return load_recipe(self.recipe, list(self.overrides))

    @property
    def label(self) -> str:
        """``<folder>/<file>`` of the recipe, e.g. ``recipes/pretrain_demo_mixed.toml``."""
        return f"{Path(self.recipe).parent.name}/{Path(self.recipe).name}"


def resumable(out: str | Path, run: Callable[[Path], dict]) -> dict:
    """``run(out)``'s result, written to ``out/result.json``; read back instead when it is there.

    A folder without ``result.json`` holds an interrupted run: it is deleted first, so every
    finished result comes from one uninterrupted run.
    """
    out = Path(out)
    path = out / RESULT_FILE
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError as e:
            raise ValueError(
                f"{path}: not a readable run result ({e}); delete it to rerun"
            ) from None
    if out.exists():
        shutil.rmtree(out)
    result = run(out)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n", mkdir=True)
    return result


def _last_row(csv_path: Path) -> dict | None:
    if not csv_path.is_file():
        return None
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[-1] if rows else None


def pretrain(stage: Stage, out: str | Path, train_ds=None) -> dict:
    """NeuroMoCo pretraining of ``stage`` in ``out``; ``train_ds`` replaces the recipe's data.

    Returns:
        ``{"recipe", "overrides", "seconds", "final_loss" (mean of the last epoch),
        "contrast_acc_last" and "steps" (of the last logged row of train.csv, None without one),
        "checkpoint" (its last.pt)}``.
    """
    from neuromoco.train.pretrain import run_pretrain

    out = Path(out)
    r = run_pretrain(stage.config(), out, train_ds=train_ds)
    last = _last_row(out / "train.csv")
    return {
        "recipe": stage.label,
        "overrides": list(stage.overrides),
        "seconds": round(r["seconds"], 1),
        "final_loss": r["train_loss"],
        "contrast_acc_last": float(last["contrast_acc"]) if last else None,
        "steps": int(last["step"]) if last else None,
        "checkpoint": str(out / "last.pt"),
    }


def finetune(stage: Stage, out: str | Path, test=None, train_ds=None, val_ds=None) -> dict:
    """Finetuning of ``stage`` in ``out``, then its last checkpoint measured on ``test``.

    Args:
        test: a dataset, the name of a split of the stage's recipe (e.g. ``"test"``), or None
            (not measured).
        train_ds, val_ds: replace the recipe's datasets (None: the recipe's own).

    Returns:
        ``{"overrides", "train_samples" (labelled samples trained on), "seconds", "checkpoint",
        "test"}``; ``test`` is :func:`~neuromoco.train.evaluate.evaluate_checkpoint`'s result
        (``top1``, ``n``, ``latency_acc``, ...), or None.
    """
    from neuromoco.train.datasets import build_split
    from neuromoco.train.evaluate import evaluate_checkpoint
    from neuromoco.train.finetune import run_finetune

    out = Path(out)
    cfg = stage.config()
    r = run_finetune(cfg, out, train_ds=train_ds, val_ds=val_ds)
    if isinstance(test, str):
        test = build_split(cfg, test)
    return {
        "overrides": list(stage.overrides),
        "train_samples": r["train_samples"],
        "seconds": round(r["seconds"], 1),
        "checkpoint": str(out / "last.pt"),
        "test": None if test is None else evaluate_checkpoint(out / "last.pt", test),
    }


def pretrain_then_finetune(
    pre: Stage | None,
    ft: Stage,
    pre_dir: str | Path,
    ft_dir: str | Path,
    test="test",
    resume: bool = False,
    train_ds=None,
) -> dict:
    """Pretrain ``pre`` in ``pre_dir`` (None: no pretraining, ``ft`` runs as it is), finetune
    ``ft`` from its ``last.pt`` in ``ft_dir``, measure on ``test`` (see :func:`finetune`).

    ``resume``: each stage is :func:`resumable` (a finished stage is read back, not rerun).
    ``train_ds``: replaces both recipes' training data (labels unused when pretraining).

    Returns:
        ``{"pretrain": pretrain summary or None, "finetune": finetune summary}``.
    """

    def once(out, run):
        return resumable(out, run) if resume else run(Path(out))

    p = None if pre is None else once(pre_dir, lambda d: pretrain(pre, d, train_ds=train_ds))
    stage = ft if p is None else ft.starting_from(p["checkpoint"])
    f = once(ft_dir, lambda d: finetune(stage, d, test=test, train_ds=train_ds))
    return {"pretrain": p, "finetune": f}
