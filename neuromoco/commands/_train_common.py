"""Shared argparse + run logic of ``neuromoco pretrain`` and ``neuromoco finetune`` (light import)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_set_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: recipe overrides."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a recipe value, e.g. {example} (repeatable)",
    )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="TOML recipe (see recipes/)")
    add_set_argument(parser, "--set optim.lr=0.01 --set data.root=/data")
    parser.add_argument(
        "--resume", metavar="CKPT", help="continue exactly from a last.pt of this run"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default: runs/<recipe name>, or the folder of --resume)",
    )


def resolve_out(args, task: str) -> Path:
    if args.out:
        out = Path(args.out)
    elif args.resume:
        out = Path(args.resume).parent
    else:
        out = Path("runs") / Path(args.recipe).stem
    if not args.resume and (out / "last.pt").exists():
        raise FileExistsError(
            f"{out}: already holds a run (last.pt); pass --resume {out / 'last.pt'} to continue it "
            "or --out to start a new one"
        )
    return out


def print_summary(result: dict) -> None:
    """Print the run summary once: on the main rank under torchrun (RANK unset or 0)."""
    if os.environ.get("RANK", "0") == "0":
        print(summary(result))


def summary(result: dict) -> str:
    parts = [
        f"steps {result['global_step']}",
        f"epochs {result['epoch']:.2f}",
        f"train loss {result['train_loss']:.4f}",
        f"{result['seconds']:.1f} s",
    ]
    lv = result.get("last_val")
    if lv:
        parts.append(f"val top-1 {100 * lv['top1']:.2f} %")
    return ", ".join(parts) + f" → {result['out_dir']}"


def run_recipe(args, task: str, overrides: list[str]) -> int:
    """Load ``args.recipe`` with ``overrides``, check that it is a ``task`` recipe (``pretrain``
    or ``finetune``), run it in its run folder and print the summary."""
    from neuromoco.train.recipe import RecipeError, load_recipe

    cfg = load_recipe(args.recipe, overrides)
    if cfg["run"]["task"] != task:
        other = "finetune" if task == "pretrain" else "pretrain"
        raise RecipeError(
            f"{args.recipe}: run.task is {cfg['run']['task']!r}; use `neuromoco {other}`"
        )
    if task == "pretrain":
        from neuromoco.train.pretrain import run_pretrain as run_task
    else:
        from neuromoco.train.finetune import run_finetune as run_task
    print_summary(run_task(cfg, resolve_out(args, task), resume=args.resume))
    return 0
