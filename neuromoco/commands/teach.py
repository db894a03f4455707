"""Teach a model gestures of your own, from a handful of examples, in seconds on a CPU.

``neuromoco teach --examples EXAMPLES.csv --out MY_MODEL.onnx [--base MODEL] [--only]
[--no-direction]``

``EXAMPLES.csv`` has the columns ``path,label`` and optionally ``t0_us,t1_us`` (one stretch of a
longer recording, µs on its own clock); paths are relative to the CSV. Any format the readers
read. The new model's classes are the base model's plus every new label of the CSV (an example
of an existing class adds to that class; the other base classes are kept exactly); with
``--only``, just the CSV's labels. The base model's encoder stays frozen; a linear read-out is
fitted on its features of many views of each example (``neuromoco.train.teach``), read forwards
and backwards: the direction features that tell a motion from its reverse
(``neuromoco.models.direction``). Such a model runs in window mode (the default) only;
``--no-direction`` keeps a model that stream mode can also step.

Writes ``MY_MODEL.onnx`` (what the app and every model-taking command load, with the framing and
class names inside), ``MY_MODEL.pt`` and a card ``MY_MODEL.json`` (examples, time taken, base
model), all at once or not at all; an existing ``--out`` is kept unless ``--force``.

Examples:
  neuromoco teach --examples my_gestures.csv --out mine.onnx
  neuromoco teach --examples walking.csv --out walk.onnx --base gesture-demo
  neuromoco-app --camera --model mine.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--examples", required=True, metavar="EXAMPLES.csv", help="CSV: path,label[,t0_us,t1_us]"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="MY_MODEL.onnx|NAME",
        help="the new model: a .onnx path, or a plain NAME to keep it in your models folder "
        "(neuromoco models lists it; --model NAME runs it)",
    )
    parser.add_argument(
        "--base",
        default="gesture-demo",
        metavar="MODEL",
        help="a bundled model's name or a .pt checkpoint (or an .onnx with its .pt beside); "
        "default gesture-demo",
    )
    parser.add_argument(
        "--only", action="store_true", help="the new model knows only the CSV's classes"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--no-direction",
        action="store_true",
        help="no direction features (reading each window backwards too): the model can then "
        "also run in stream mode, but tells a motion from its reverse less well",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the views (default 0)")
    parser.add_argument(
        "--augment",
        type=int,
        default=4,
        help="augmented copies of every window of an example (default 4)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (e.g. in scripts)"
    )


def run(args: argparse.Namespace) -> int:
    from neuromoco.train.teach import TeachError, teach

    if args.augment < 0:
        raise TeachError(f"--augment must be ≥ 0, got {args.augment}")
    out = args.out
    if not Path(out).suffix and "/" not in out:  # a name: the user's models folder
        from neuromoco.models.user_models import user_model_path

        try:
            out = str(user_model_path(out))  # checks the name
        except ValueError as e:
            raise TeachError(f"--out {args.out}: {e}") from None
    card = teach(
        args.examples,
        out,
        base=args.base,
        only=args.only,
        force=args.force,
        seed=args.seed,
        augment=args.augment,
        progress=not args.no_progress,
        direction=not args.no_direction,
    )
    print(
        f"taught {', '.join(card['new_classes']) or '(no new class)'} on {card['base']}: "
        f"{len(card['classes'])} classes, {card['views']} views, {card['seconds']:.1f} s, "
        f"runs in {' and '.join(card['modes'])} mode"
    )
    print(f"wrote {out} (and its .pt and .json)")
    return 0
