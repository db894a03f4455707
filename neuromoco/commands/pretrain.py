"""Self-supervised NeuroMoCo pretraining from a TOML recipe (torchrun-ready).

Examples:
  neuromoco pretrain recipes/pretrain_procedural_cpu.toml
  neuromoco pretrain recipes/pretrain_sew18_mixed.toml --set data.root=/data --out runs/sew18
  torchrun --nproc_per_node=4 -m neuromoco.cli pretrain recipes/pretrain_sew18_mixed.toml
  neuromoco pretrain recipes/pretrain_sew18_mixed.toml --resume runs/sew18/last.pt
"""

from __future__ import annotations

import argparse

from neuromoco.commands._train_common import add_train_arguments, run_recipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_train_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_recipe(args, "pretrain", list(args.overrides))
