"""Supervised finetuning (from a NeuroMoCo checkpoint or from scratch), incl. TCL/STCL losses.

Examples:
  neuromoco finetune recipes/finetune_procedural_cpu.toml --set finetune.pretrained=runs/pre/last.pt
  neuromoco finetune recipes/finetune_sew18_dvs128_gesture.toml --set data.root=/data/DVS128Gesture
  neuromoco finetune RECIPE.toml --set loss.name=tcl        # TCL instead of the paper's MAC
"""

from __future__ import annotations

import argparse

from neuromoco.commands._train_common import add_train_arguments, run_recipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_train_arguments(parser)
    parser.add_argument(
        "--pretrained",
        metavar="CKPT",
        help="pretraining checkpoint whose S-encoder backbone initialises the model "
        "(same as --set finetune.pretrained=CKPT)",
    )


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.pretrained:
        overrides.append(f'finetune.pretrained="{args.pretrained}"')
    return run_recipe(args, "finetune", overrides)
