"""Evaluate a classifier checkpoint: top-1, latency curve, confusion matrix, firing rates.

Accuracy when only the first t of T time steps are used (t = 1..T), the confusion matrix and the
firing rate of every spiking layer; writes evaluation.json and PNG plots.

The checkpoint's framing spec (T, size, split) is used to frame the data, so the model sees
exactly what it was trained on.

Example:
  neuromoco evaluate runs/ft/best.pt --data dvs128_gesture --root /data/DVS128Gesture --out eval/
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a classifier checkpoint (finetune last.pt / best.pt)")
    parser.add_argument(
        "--data",
        required=True,
        help="dataset name (dvs128_gesture, cifar10_dvs, ncaltech101, procedural)",
    )
    parser.add_argument(
        "--root",
        default=None,
        help="dataset folder in its official layout (omit for the in-memory procedural set)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option (TOML value), e.g. --option per_class=20 (repeatable)",
    )
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N samples")
    parser.add_argument("--out", help="output folder (default: <checkpoint folder>/eval_<split>)")


def run(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader, Subset

    from neuromoco.data import build_dataset
    from neuromoco.models.checkpoint import CheckpointError, load_model
    from neuromoco.train.distributed import resolve_device
    from neuromoco.train.evaluate import evaluate_classifier, write_report

    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}")
    device = resolve_device(args.device)
    model, ck = load_model(args.checkpoint, device=device)
    if ck.num_classes == 0:
        raise CheckpointError(
            args.checkpoint, "is a pretraining (backbone-only) checkpoint; finetune it first"
        )
    from neuromoco.train.recipe import parse_set

    options = dict(parse_set(o) for o in args.option)
    ds = build_dataset(args.data, args.root, args.split, ck.framing, **options)
    names = [str(c) for c in getattr(ds, "class_names", [])]
    if names and len(names) != ck.num_classes:
        raise ValueError(
            f"{args.data} has {len(names)} classes but {args.checkpoint} was trained on {ck.num_classes}"
        )
    if args.limit > 0:
        ds = Subset(ds, list(range(min(args.limit, len(ds)))))
    loader = DataLoader(ds, batch_size=args.batch_size, num_workers=args.num_workers)
    result = evaluate_classifier(
        model, loader, device, ck.num_classes, amp=device.type == "cuda", firing_rates=True
    )
    result["checkpoint"] = str(args.checkpoint)
    result["data"] = {"name": args.data, "root": args.root, "split": args.split, "options": options}
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / f"eval_{args.split}"
    files = write_report(
        result, out, ck.class_names, title=f"{ck.arch} on {args.data}/{args.split}"
    )
    lat = result["latency_acc"]
    print(
        f"top-1 {100 * result['top1']:.2f} % on {result['n']} samples; t=1: {100 * lat[0]:.2f} %"
        if lat
        else "no samples"
    )
    for f in files:
        print(f"wrote {f}")
    return 0
