"""Linear probe of a pretrained encoder: how linearly useful are its features (vs random ones)?

Trains only a linear head on the frozen backbone of ENCODER (a pretraining checkpoint, e.g.
``runs/pretrain/last.pt`` or the bundled ``neuromoco-ssl``) with a finetuning recipe, and reports
the top-1 of the last checkpoint on the recipe's ``--split`` (default ``test``). ``--baseline``
also probes a random encoder of the same architecture whose BatchNorm statistics were calibrated
on the recipe's training split (labels unused): a fresh network in eval mode is silent, so an
uncalibrated random probe is no baseline.

Runs go to ``--out`` (``probe/``, ``random_bn.pt``, ``probe_random_bn/``, ``probe.json``); a
finished run is read back from its ``result.json`` instead of trained again.

Examples:
  neuromoco probe runs/pretrain_procedural_cpu/last.pt --recipe recipes/finetune_procedural_cpu.toml
  neuromoco probe neuromoco-ssl --recipe recipes/finetune_demo_procedural.toml --baseline
  neuromoco probe ENC.pt --recipe R.toml --set data.label_fraction=0.1 --set run.epochs=20
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from neuromoco.commands._train_common import add_set_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("encoder", help="pretraining checkpoint (.pt) or bundled encoder name")
    parser.add_argument(
        "--recipe", required=True, help="finetuning TOML recipe: data, head training, schedule"
    )
    add_set_argument(parser, "--set data.label_fraction=0.1")
    parser.add_argument("--split", default="test", help="split the probe is measured on")
    parser.add_argument("--lr", type=float, default=None, help="head learning rate (0.01)")
    parser.add_argument(
        "--baseline", action="store_true", help="also probe a BatchNorm-calibrated random encoder"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="folder for the runs (default: runs/probe_<encoder name>)"
    )


def run(args: argparse.Namespace) -> int:
    from neuromoco.atomic import atomic_write_text
    from neuromoco.models.bundled import resolve_model
    from neuromoco.models.checkpoint import CheckpointError, load_checkpoint
    from neuromoco.train.datasets import build_split
    from neuromoco.train.experiment import Stage, resumable
    from neuromoco.train.probe import PROBE_LR, linear_probe, random_bn_encoder
    from neuromoco.train.recipe import RecipeError

    lr = PROBE_LR if args.lr is None else args.lr
    if lr <= 0:
        raise ValueError(f"--lr must be positive, got {lr}")
    encoder, name = resolve_model(args.encoder, prefer="pt")
    if encoder.suffix.lower() != ".pt":
        raise ValueError(f"{encoder}: the encoder must be a .pt checkpoint")
    ck = load_checkpoint(encoder, map_location="cpu")
    if ck.num_classes != 0:
        raise CheckpointError(
            encoder, f"is a classifier ({ck.num_classes} classes), not a pretrained encoder"
        )
    stage = Stage(Path(args.recipe), tuple(args.overrides))
    cfg = stage.config()
    if cfg["run"]["task"] != "finetune":
        raise RecipeError(f"{args.recipe}: run.task is {cfg['run']['task']!r}, not 'finetune'")
    out = Path(args.out) if args.out else Path("runs") / f"probe_{Path(name).stem}"
    test = build_split(cfg, args.split)

    encoders = {"encoder": encoder}
    if args.baseline:
        kwargs = {**ck.model_kwargs, "num_classes": 0}
        seed = cfg["run"]["seed"]
        train = functools.partial(build_split, cfg, cfg["data"]["split"])  # built if needed
        path = out / "random_bn.pt"  # save_checkpoint makes the folder
        encoders["random_bn"] = random_bn_encoder(ck.arch, kwargs, ck.framing, train, seed, path)
    results = {}
    for kind, enc in encoders.items():
        folder = out / ("probe" if kind == "encoder" else f"probe_{kind}")
        r = resumable(folder, lambda d, enc=enc: linear_probe(stage, d, enc, test=test, lr=lr))
        results[kind] = {
            "checkpoint": str(enc),
            "top1": r["test"]["top1"],
            "n": r["test"]["n"],
            "train_samples": r["train_samples"],
            "run": str(folder),
        }
        label = name if kind == "encoder" else "random encoder, BatchNorm calibrated"
        print(
            f"linear probe on {label}: top-1 {100 * r['test']['top1']:.2f} % on "
            f"{r['test']['n']} {args.split} samples ({r['train_samples']} labelled)"
        )
    summary = {"recipe": args.recipe, "overrides": list(args.overrides), "lr": lr, **results}
    atomic_write_text(out / "probe.json", json.dumps(summary, indent=2) + "\n", mkdir=True)
    print(f"wrote {out / 'probe.json'}")
    return 0
