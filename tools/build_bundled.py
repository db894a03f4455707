"""Rebuild the bundled ``gesture-demo`` model from its recipes: one command.

``python -m tools.build_bundled --build`` pretrains a ``lif_convnet4`` with NeuroMoCo on the
procedural gestures together with the real unlabelled DVS128 recordings of
``../shared/testdata/unlabeled_dvs128`` (no label used: the paper's mixed-set recipe,
``recipes/pretrain_demo_mixed.toml``), finetunes it on procedural labels only
(``recipes/finetune_demo_mixed.toml``), measures it on the procedural test split, exports the
step ONNX graph, and replaces ``models/weights/gesture_demo.{pt,onnx,json}`` only once all three
are complete; the pretrained encoder of the first stage ships as ``neuromoco-ssl``
(``models/weights/neuromoco_ssl.{pt,json}``, for ``neuromoco teach --base neuromoco-ssl --only``) (about 10–20 min on 2 CPU cores). ``--recipes procedural`` uses the
procedural-only pair (``*_demo_procedural.toml``), which needs no real recordings.

This is a build script, not a feature of the installed package: it lives in ``tools/``, next to the
``recipes/`` it reads, outside the import path of ``neuromoco`` (the wheel ships neither). It only
chains package features (:mod:`neuromoco.train.experiment`, the ONNX export);
``neuromoco.models.bundled`` only says where the shipped files are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from neuromoco.atomic import atomic_paths
from neuromoco.models.bundled import WEIGHTS, bundled_model

DEMO = bundled_model("gesture-demo")
SSL = bundled_model("neuromoco-ssl")
RECIPE_SETS = {
    "mixed": ("pretrain_demo_mixed.toml", "finetune_demo_mixed.toml"),
    "procedural": ("pretrain_demo_procedural.toml", "finetune_demo_procedural.toml"),
}
RECIPES = RECIPE_SETS["mixed"]


def _recipes_dir(recipes: tuple[str, str] = RECIPES) -> Path:
    d = Path(__file__).resolve().parents[1] / "recipes"
    missing = [r for r in recipes if not (d / r).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{d}: recipe(s) {', '.join(missing)} not found — rebuild the bundled model from a "
            "source checkout of NeuroMoCo (the recipes are not part of the installed package)"
        )
    return d


def build(
    work: Path = Path("runs/demo"),
    overrides: tuple[str, ...] = (),
    out: Path = WEIGHTS,
    recipe_set: str = "mixed",
):
    """Pretrain, finetune, evaluate and export the demo model; write it to ``out`` atomically.

    ``overrides`` (``section.key=value``) apply to both recipes (e.g. ``run.epochs=1`` for a
    smoke run). The test accuracy is measured on the procedural test split, in the same random
    sub-window mode the model was trained in, with the *last* finetuning checkpoint (no model
    selection on the test split).
    """
    from neuromoco.models.checkpoint import load_checkpoint, load_model, save_checkpoint
    from neuromoco.models.onnx_export import export_onnx
    from neuromoco.train.experiment import Stage, pretrain_then_finetune

    if recipe_set not in RECIPE_SETS:
        raise ValueError(f"recipe set must be one of {sorted(RECIPE_SETS)}, got {recipe_set!r}")
    pair = RECIPE_SETS[recipe_set]
    recipes = _recipes_dir(pair)
    t0 = time.perf_counter()
    runs = pretrain_then_finetune(
        Stage(recipes / pair[0], tuple(overrides)),
        Stage(recipes / pair[1], tuple(overrides)),
        work / "pretrain",
        work / "finetune",
        test="test",
    )
    last = work / "finetune" / "last.pt"
    test = runs["finetune"]["test"]
    metrics = {"n": test["n"], "top1": test["top1"], "latency_acc": test["latency_acc"]}
    metrics["train_minutes"] = round((time.perf_counter() - t0) / 60, 1)
    metrics["recipes"] = [f"recipes/{r}" for r in pair]
    metrics["overrides"] = list(overrides)

    # Re-save without optimizer/queue state (a few hundred kB instead of MBs), then export the
    # step graph; the three files replace the shipped ones only once all three are complete.
    model, ck = load_model(last)
    names = (DEMO.checkpoint.name, DEMO.onnx.name, DEMO.metrics_path.name)
    suffixes = [Path(n).suffix for n in names]  # the writers see their usual extensions
    with atomic_paths([out / n for n in names], suffixes=suffixes, mkdir=True) as (pt, onx, js):
        meta = {**ck.meta, "bundled": True, "test": metrics}
        save_checkpoint(
            pt,
            model,
            arch=ck.arch,
            model_kwargs=ck.model_kwargs,
            class_names=ck.class_names,
            framing=ck.framing,
            meta=meta,
        )
        export_onnx(load_checkpoint(pt), onx, graph="step")
        metrics["framing"] = ck.framing.to_dict()
        metrics["arch"] = ck.arch
        metrics["params"] = sum(p.numel() for p in model.parameters())
        js.write_text(json.dumps(metrics, indent=2) + "\n")
    save_encoder(work / "pretrain" / "last.pt", out)
    return metrics


def save_encoder(pretrain_ckpt: Path, out: Path = WEIGHTS) -> dict:
    """Ship the NeuroMoCo-pretrained encoder of the build (``neuromoco-ssl``: no label anywhere)
    as ``neuromoco_ssl.pt`` (weights only, no optimiser or queue) and ``neuromoco_ssl.json``,
    both replaced at once."""
    from neuromoco.models.checkpoint import load_model, save_checkpoint

    model, ck = load_model(pretrain_ckpt)
    if ck.num_classes != 0:
        raise ValueError(f"{pretrain_ckpt}: not a pretraining (encoder-only) checkpoint")
    figures = {
        "arch": ck.arch,
        "params": sum(p.numel() for p in model.parameters()),
        "framing": ck.framing.to_dict(),
        "pretraining": {k: ck.meta.get(k) for k in ("epoch", "global_step")},
        "recipe": "recipes/pretrain_demo_mixed.toml",
    }
    names = (SSL.checkpoint.name, SSL.metrics_path.name)
    with atomic_paths([out / n for n in names], suffixes=[".pt", ".json"], mkdir=True) as (pt, js):
        save_checkpoint(
            pt, model, arch=ck.arch, model_kwargs=ck.model_kwargs, class_names=[],
            framing=ck.framing, meta={"bundled": True, "encoder": True, **figures},
        )  # fmt: skip
        js.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.build_bundled", description=__doc__)
    ap.add_argument("--build", action="store_true", help="retrain and replace the bundled model")
    ap.add_argument("--work", default="runs/demo", help="folder for the training runs")
    ap.add_argument("--out", default=str(WEIGHTS), help="where to write the model files")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--recipes",
        choices=sorted(RECIPE_SETS),
        default="mixed",
        help="mixed: pretraining on procedural + real unlabelled recordings (default); "
        "procedural: procedural data only",
    )
    args = ap.parse_args(argv)
    if not args.build:
        p = DEMO.path()
        print(p if p else "no bundled gesture-demo model: run with --build")
        if DEMO.metrics_path.is_file():
            print(DEMO.metrics_path.read_text())
        return 0 if p else 1
    try:
        m = build(Path(args.work), tuple(args.overrides), Path(args.out), args.recipes)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(m, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
