"""Evaluate a classifier on a dataset split or on labelled recordings.

Two ways, one of them per call:

* ``--data NAME``: a dataset split, framed offline with the checkpoint's framing spec (T, size,
  split): top-1, accuracy when only the first t of T time steps are used, confusion matrix and
  the firing rate of every spiking layer; writes evaluation.json and PNG plots. MODEL must be a
  ``.pt`` checkpoint or a bundled model's name.
* ``--recordings LABELS.csv`` (columns ``path,label``; paths relative to the CSV, label = class
  name or 0-based index): every recording is replayed through the streaming engine the app
  uses (``--mode window|stream``), as fast as possible and without drops; one decision per clip
  (summed per-step evidence, see ``neuromoco.streaming.recording_evaluation``). Prints a
  per-clip table, the accuracy and the confusion matrix; ``--json OUT`` writes
  ``{"accuracy", "n", "clips": [{"path", "label", "pred", "correct"}, ...]}`` (and more).
  MODEL is a ``.pt``, an ``.onnx`` or a bundled model's name (``neuromoco models``).
* ``--recordings LABELS.csv --continuous``: what a person sees live. The recordings are played
  one after another, each followed by ``--gap-s`` seconds of generated background activity
  (``--background-hz`` per pixel; ``--noisy`` adds 0.5 Hz/pixel and 5 hot pixels at 200 Hz over
  the whole stream; ``--seed``), through the app's engine with the app's defaults for the model
  (filters, no-gesture gate), and scored per hop: in-gesture hops right, pause hops showing no
  gesture, time to a right decision, label changes per gesture
  (``neuromoco.streaming.continuous_evaluation``).

Examples:
  neuromoco evaluate runs/ft/best.pt --data dvs128_gesture --root /data/DVS128Gesture --out eval/
  neuromoco evaluate dvs128-gesture --recordings clips/labels.csv --mode stream --json r.json
  neuromoco evaluate gesture-demo --recordings clips/labels.csv --continuous --noisy
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuromoco.commands._input_args import add_sensor_size_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from neuromoco.streaming.engine_config import MODES

    parser.add_argument(
        "checkpoint",
        metavar="MODEL",
        help="a bundled model's name (neuromoco models), a classifier checkpoint (.pt) or, "
        "with --recordings, an .onnx file",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--data", help="dataset name (dvs128_gesture, cifar10_dvs, ncaltech101, procedural)"
    )
    what.add_argument(
        "--recordings",
        metavar="LABELS.csv",
        help="labelled recordings (CSV with columns path,label) replayed through the streaming "
        "engine",
    )
    rec = parser.add_argument_group("with --recordings")
    rec.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="window: a fresh run over T bins every hop; stream: one stateful step per bin "
        "(default: the model's own: stream for dvs128-gesture, else window)",
    )
    rec.add_argument("--json", metavar="OUT.json", help="write the result as JSON (atomically)")
    rec.add_argument(
        "--continuous",
        action="store_true",
        help="play the recordings one after another with pauses and score every hop, as the "
        "app shows it (see the command's description)",
    )
    rec.add_argument(
        "--gap-s", type=float, default=3.0, help="--continuous: pause after each recording (s)"
    )
    rec.add_argument(
        "--background-hz",
        type=float,
        default=0.2,
        help="--continuous: background activity in the pauses (Hz per pixel)",
    )
    rec.add_argument(
        "--noisy",
        action="store_true",
        help="--continuous: a noisy room (0.5 Hz/pixel more background, 5 hot pixels at 200 Hz)",
    )
    rec.add_argument("--seed", type=int, default=0, help="--continuous: seed of the noise")
    rec.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    add_sensor_size_argument(
        rec,
        "sensor size for recordings whose format does not store it",
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
    if args.continuous and not args.recordings:
        raise ValueError("--continuous needs --recordings LABELS.csv")
    if args.recordings:
        return _run_recordings(args)
    return _run_dataset(args)


def _run_recordings(args: argparse.Namespace) -> int:
    # The command line sits on top of every layer: this is the one command that drives the
    # streaming engine, so that a recording is scored exactly as the app would run it.
    import json

    from neuromoco.atomic import atomic_write_text
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import evaluate_recordings, format_report

    if args.json and Path(args.json).suffix.lower() != ".json":
        raise ValueError(f"--json {args.json}: the output file must end in .json")
    if args.continuous:  # before the model is opened
        from neuromoco.streaming.continuous_evaluation import check_stream_settings

        check_stream_settings(args.gap_s, args.background_hz)
    if args.mode is None:
        from neuromoco.streaming.model import preferred_mode

        args.mode = preferred_mode(args.checkpoint)
    predictor = open_model(
        args.checkpoint, backend=args.backend, mode=args.mode, device=args.device, threads=None
    )

    def progress(i: int, n: int, res) -> None:
        print(f"[{i + 1}/{n}] {res.path}: {res.pred or '(no prediction)'}", flush=True)

    sensor = tuple(args.sensor_size) if args.sensor_size else None
    if args.continuous:
        from neuromoco.streaming import continuous_evaluation as ce

        result = ce.evaluate_continuous(
            predictor, args.recordings, args.mode, args.gap_s, args.background_hz, args.noisy,
            args.seed, sensor,
        )  # fmt: skip
        report = ce.format_report(result)
    else:
        result = evaluate_recordings(predictor, args.recordings, args.mode, sensor, progress)
        report = format_report(result)
    result["model"] = predictor.model_name
    print(f"model {predictor.model_name}, {args.mode} mode, {result['seconds']:.1f} s")
    print(report)
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _run_dataset(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader, Subset

    from neuromoco.data import build_dataset
    from neuromoco.models.bundled import resolve_model
    from neuromoco.models.checkpoint import load_model
    from neuromoco.train.distributed import resolve_device
    from neuromoco.train.evaluate import evaluate_classifier, write_report

    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}")
    path, _ = resolve_model(args.checkpoint, prefer="pt")
    if path.suffix.lower() == ".onnx":
        raise ValueError(f"{path}: --data needs a .pt checkpoint (an .onnx file: use --recordings)")
    args.checkpoint = str(path)
    device = resolve_device(args.device)
    model, ck = load_model(args.checkpoint, device=device, classifier=True)
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
