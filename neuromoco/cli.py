"""`neuromoco` command line: one sub-command per module in ``neuromoco.commands``.

Each command module is light at import time (argparse only) and defines
``add_arguments(parser)`` and ``run(args) -> int``; heavy imports (torch, decoders) happen inside
``run``, so ``neuromoco --help`` and ``neuromoco info`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import neuromoco
from neuromoco.cli_errors import run_reporting_errors

# sub-command name -> module under neuromoco.commands
COMMANDS: dict[str, str] = {
    "info": "info",
    "convert": "convert",
    "synth": "synth",
    "export-onnx": "export_onnx",
    "pretrain": "pretrain",
    "finetune": "finetune",
    "evaluate": "evaluate",
    "probe": "probe",
    "models": "models",
    "teach": "teach",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuromoco",
        description="NeuroMoCo: event-camera data tools, SNN training, evaluation and export.",
    )
    parser.add_argument("--version", action="version", version=f"neuromoco {neuromoco.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f"neuromoco.commands.{modname}")
        p = sub.add_parser(name, help=mod.__doc__.strip().splitlines()[0], description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return run_reporting_errors(f"neuromoco {args.command}", lambda: args._run(args))


if __name__ == "__main__":
    sys.exit(main())
