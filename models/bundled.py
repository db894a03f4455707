"""The bundled demo model: where it lives, and the one command that rebuilds it.

``models/weights/gesture_demo.pt`` (checkpoint) and ``gesture_demo.onnx`` (the stateful ``step``
graph, which also serves window mode by stepping T times) are a ``lif_convnet4`` pretrained with
NeuroMoCo and finetuned on the procedural gestures (``recipes/pretrain_demo_procedural.toml`` then
``recipes/finetune_demo_procedural.toml``). ``gesture_demo.json`` holds the measured test accuracy. Rebuild,
from the repository root (~10–20 min on 2 CPU cores)::

    python -m neuromoco.models.bundled --build

It is trained on *procedural* data: real DVS128 Gesture recordings need a model trained on
DVS128 Gesture with the bundled recipes (see models/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent / "weights"
CHECKPOINT = WEIGHTS / "gesture_demo.pt"
ONNX = WEIGHTS / "gesture_demo.onnx"
METRICS = WEIGHTS / "gesture_demo.json"
RECIPES = ("pretrain_demo_procedural.toml", "finetune_demo_procedural.toml")


def bundled_model_path(prefer: str = "onnx") -> Path | None:
    """The bundled model file (``prefer``: ``"onnx"`` or ``"pt"``), or None when not shipped."""
    order = (ONNX, CHECKPOINT) if prefer == "onnx" else (CHECKPOINT, ONNX)
    for p in order:
        if p.is_file():
            return p
    return None


def _recipes_dir() -> Path:
    d = Path(__file__).resolve().parents[1] / "recipes"
    missing = [r for r in RECIPES if not (d / r).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{d}: recipe(s) {', '.join(missing)} not found — rebuild the bundled model from a "
            "source checkout of NeuroMoCo (the recipes are not part of the installed package)"
        )
    return d


def _test_metrics(ckpt: Path, test_ds) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from neuromoco.models.checkpoint import load_model
    from neuromoco.train.evaluate import evaluate_classifier

    model, ck = load_model(ckpt)
    res = evaluate_classifier(
        model, DataLoader(test_ds, batch_size=32), torch.device("cpu"), ck.num_classes
    )
    return {"n": res["n"], "top1": res["top1"], "latency_acc": res["latency_acc"]}


def build(work: Path = Path("runs/demo"), overrides: tuple[str, ...] = (), out: Path = WEIGHTS):
    """Pretrain, finetune, evaluate and export the demo model; write it to ``out`` atomically.

    ``overrides`` (``section.key=value``) apply to both recipes (e.g. ``run.epochs=1`` for a
    smoke run). The test accuracy is measured on the procedural test split, in the same random
    sub-window mode the model was trained in, with the *last* finetuning checkpoint (no model
    selection on the test split).
    """
    from neuromoco.models.checkpoint import load_checkpoint, load_model, save_checkpoint
    from neuromoco.models.onnx_export import export_onnx
    from neuromoco.train.datasets import build_split
    from neuromoco.train.finetune import run_finetune
    from neuromoco.train.pretrain import run_pretrain
    from neuromoco.train.recipe import load_recipe

    recipes = _recipes_dir()
    t0 = time.perf_counter()
    pre_cfg = load_recipe(recipes / RECIPES[0], list(overrides))
    run_pretrain(pre_cfg, work / "pretrain")
    ft_cfg = load_recipe(
        recipes / RECIPES[1],
        [*overrides, f"finetune.pretrained={(work / 'pretrain' / 'last.pt').as_posix()}"],
    )
    run_finetune(ft_cfg, work / "finetune")
    last = work / "finetune" / "last.pt"
    metrics = _test_metrics(last, build_split(ft_cfg, "test"))
    metrics["train_minutes"] = round((time.perf_counter() - t0) / 60, 1)
    metrics["recipes"] = [f"recipes/{r}" for r in RECIPES]
    metrics["overrides"] = list(overrides)

    # Re-save without optimizer/queue state (a few hundred kB instead of MBs), then export the
    # step graph, all into a temporary folder that replaces the shipped files only when complete.
    model, ck = load_model(last)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bundled.", dir=out))
    try:
        meta = {**ck.meta, "bundled": True, "test": metrics}
        save_checkpoint(
            tmp / CHECKPOINT.name,
            model,
            arch=ck.arch,
            model_kwargs=ck.model_kwargs,
            class_names=ck.class_names,
            framing=ck.framing,
            meta=meta,
        )
        export_onnx(load_checkpoint(tmp / CHECKPOINT.name), tmp / ONNX.name, mode="step")
        metrics["framing"] = ck.framing.to_dict()
        metrics["arch"] = ck.arch
        metrics["params"] = sum(p.numel() for p in model.parameters())
        (tmp / METRICS.name).write_text(json.dumps(metrics, indent=2) + "\n")
        for name in (CHECKPOINT.name, ONNX.name, METRICS.name):
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m neuromoco.models.bundled", description=__doc__)
    ap.add_argument("--build", action="store_true", help="retrain and replace the bundled model")
    ap.add_argument("--work", default="runs/demo", help="folder for the training runs")
    ap.add_argument("--out", default=str(WEIGHTS), help="where to write the model files")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if not args.build:
        p = bundled_model_path()
        print(p if p else "no bundled model: run with --build")
        if METRICS.is_file():
            print(METRICS.read_text())
        return 0 if p else 1
    try:
        m = build(Path(args.work), tuple(args.overrides), Path(args.out))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(m, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
