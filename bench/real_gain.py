"""Does NeuroMoCo pretraining help on real clips? Issue G §3, on CPU, 3 seeds.

    python -m bench.real_gain                     # 3 arms × seeds 0 1 2 (≈ 45–60 min on 2 cores)
    python -m bench.real_gain --quick             # tiny run that only proves the harness works
    python -m bench.real_gain --diagnose          # pretraining checks on the seed-0 pretrain runs
    python -m bench.real_gain --label-efficiency  # 10 % / 1 % labels: NeuroMoCo vs scratch, probes

Three arms, each finetuned with the SAME recipe (``recipes/finetune_demo_mixed.toml``: MAC loss,
AdamW, procedural labels only, policy ``neuromoco_gesture_polarity``), shortened by ``--ft-epochs``:

1. ``scratch``: no pretraining (``finetune.pretrained = ""``);
2. ``procedural``: NeuroMoCo pretraining on the procedural gestures only
   (``recipes/pretrain_demo_procedural.toml`` with ``data.augment = neuromoco_gesture_polarity``,
   so the only difference to arm 3 is the data);
3. ``mixed``: NeuroMoCo pretraining on the procedural gestures + the 25 real unlabelled DVS128
   recordings (``recipes/pretrain_demo_mixed.toml``).

Pretraining is shortened by ``--pre-epochs`` (the step milestones keep the recipes' proportions).
Every finetuned model (its *last* checkpoint, no selection) is measured on

* the procedural test split, with ONE fixed set of test windows for every arm and seed (the split
  built with ``run.seed = 0``), and
* the labelled real clips, through ``neuromoco evaluate CKPT --recordings LABELS.csv --mode
  window|stream`` (a subprocess: the exact command a user runs).

No real label is used in training. Results: ``<work>/real_gain.json`` (every number) and
``<work>/real_gain.md`` (the table, also printed). Finished runs are reused (``result.json`` in the
run folder), so an interrupted run continues where it stopped; ``--fresh`` starts over.

``--diagnose`` runs :func:`neuromoco.train.pretrain_diagnosis.diagnose_run` on the seed-0
pretraining runs: queue fill, key/query agreement, augmentation strength, time-step alignment
between the views and feature collapse (spread and effective rank), against a randomly initialised
network; it writes ``<work>/diagnose.json``.

``--label-efficiency`` reuses the mixed pretraining runs (unlabelled pool: procedural train split +
real segments, ≥ 10× the 10 % label set) and finetunes with ``--fractions`` of the procedural
labels (class-stratified, per seed): from scratch, from NeuroMoCo, and two linear probes (frozen
backbone): NeuroMoCo features vs random features whose BatchNorm statistics were calibrated on the
unlabelled pool (a fresh network in eval mode is silent, so an uncalibrated random probe is not a
baseline). ``--le-steps`` optimiser steps per run; ``<work>/label_efficiency.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from neuromoco.atomic import atomic_write_text
from neuromoco.train.experiment import Stage, finetune, pretrain, resumable
from neuromoco.train.probe import few_label_plan, linear_probe

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
LABELS = REPO.parent / "shared" / "testdata" / "dvsgesture_csv" / "labels.csv"
ARMS = ("scratch", "procedural", "mixed")
ARM_TITLES = {
    "scratch": "scratch (no pretraining)",
    "procedural": "NeuroMoCo, pretrained on procedural only",
    "mixed": "NeuroMoCo, pretrained on procedural + real unlabelled",
}
PRETRAIN = {
    "procedural": (
        "pretrain_demo_procedural.toml",
        ["data.augment=neuromoco_gesture_polarity"],
    ),
    "mixed": ("pretrain_demo_mixed.toml", []),
}
FINETUNE = "finetune_demo_mixed.toml"


def _milestones(epochs: int) -> str:
    # the demo recipes: 12 epochs, milestones [8, 11] → the same fractions of a shorter run
    a = max(1, round(epochs * 8 / 12))
    b = max(a + 1, round(epochs * 11 / 12))
    return f"schedule.milestones=[{a},{b}]"


def _common(seed: int, epochs: int, quick: bool) -> list[str]:
    o = [f"run.seed={seed}", f"run.epochs={epochs}", "run.progress=false", "run.log_every=50"]
    if quick:  # tiny data: prove the harness only
        o += ["data.subset=24"]
    return o


def ft_overrides(seed: int, epochs: int, quick: bool, pretrained: str) -> list[str]:
    """The overrides every finetuning run here makes to ``FINETUNE``: ``epochs`` with the
    recipe's warm-up proportion (5 of 40), one evaluation at the end, the starting checkpoint."""
    return [
        *_common(seed, epochs, quick),
        f"run.eval_every={epochs}",
        f"schedule.warmup_epochs={max(1, round(epochs * 5 / 40))}",
        f'finetune.pretrained="{pretrained}"',
    ]


def pretrain_arm(arm: str, seed: int, a, work: Path) -> dict:
    """NeuroMoCo pretraining of ``arm`` for ``seed``; returns its summary (cached)."""
    recipe, extra = PRETRAIN[arm]
    over = [*_common(seed, a.pre_epochs, a.quick), _milestones(a.pre_epochs), *extra]
    if a.quick:
        over += ["moco.queue_size=32", "optim.batch_size=8"]
    stage = Stage(RECIPES / recipe, tuple(over))
    return resumable(work / f"pre_{arm}_s{seed}", lambda out: pretrain(stage, out))


def _neuromoco_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("neuromoco")
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from neuromoco.cli import main; sys.exit(main())"]


def real_clips(ckpt: Path, mode: str, out_json: Path, labels: Path = LABELS) -> dict:
    """``neuromoco evaluate CKPT --recordings LABELS --mode MODE --json OUT`` → its JSON."""
    cmd = [
        *_neuromoco_cmd(),
        "evaluate",
        str(ckpt),
        "--recordings",
        str(labels),
        "--mode",
        mode,
        "--json",
        str(out_json),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    d = json.loads(out_json.read_text())
    return {
        "correct": d["correct"],
        "n": d["n"],
        "accuracy": d["accuracy"],
        "preds": [c["pred"] for c in d["clips"]],
        "labels": [c["label"] for c in d["clips"]],
    }


def finetune_arm(arm: str, seed: int, a, work: Path, test_ds, pre: dict | None) -> dict:
    """Finetune ``arm`` for ``seed`` and measure it; returns its result (cached)."""
    over = ft_overrides(seed, a.ft_epochs, a.quick, pre["checkpoint"] if pre else "")

    def run(out: Path) -> dict:
        r = finetune(Stage(RECIPES / FINETUNE, tuple(over)), out, test=test_ds)
        res = {
            "arm": arm,
            "seed": seed,
            "overrides": over,
            "train_samples": r["train_samples"],
            "seconds": r["seconds"],
            "procedural_test_top1": r["test"]["top1"],
            "procedural_test_n": r["test"]["n"],
            "pretrain": pre,
        }
        for mode in ("window", "stream"):
            res[f"real_{mode}"] = real_clips(out / "last.pt", mode, out / f"real_{mode}.json")
        return res

    return resumable(work / f"ft_{arm}_s{seed}", run)


def _ms(v: list[float], scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    m = statistics.fmean(v) * scale
    sd = statistics.stdev(v) * scale if len(v) > 1 else 0.0
    return f"{fmt.format(m)} ± {fmt.format(sd)}"


def markdown(results: dict, a, minutes: float) -> str:
    seeds = a.seeds
    lines = [
        f"`python -m bench.real_gain{' --quick' if a.quick else ''} --seeds "
        f"{' '.join(map(str, seeds))} --pre-epochs {a.pre_epochs} --ft-epochs {a.ft_epochs}` "
        f"({minutes:.1f} min of runs on this machine).",
        "",
        "| model | real clips, window (of 5) | real clips, stream (of 5) | procedural test top-1 (%) |",
        "|---|---|---|---|",
    ]
    for arm in a.arms:
        rs = [results[arm][s] for s in seeds if s in results[arm]]
        if not rs:
            continue
        w = [r["real_window"]["correct"] for r in rs]
        st = [r["real_stream"]["correct"] for r in rs]
        p = [r["procedural_test_top1"] for r in rs]
        lines.append(
            f"| {ARM_TITLES[arm]} | {_ms(w, fmt='{:.2f}')} ({' / '.join(map(str, w))}) "
            f"| {_ms(st, fmt='{:.2f}')} ({' / '.join(map(str, st))}) "
            f"| {_ms(p, 100)} ({' / '.join(f'{100 * x:.1f}' for x in p)}) |"
        )
    lines += [
        "",
        "Per seed in brackets (seeds " + ", ".join(map(str, seeds)) + "); mean ± std over seeds.",
        "",
        "Per clip (prediction in window / stream mode; ✓ right):",
        "",
    ]
    first = next((results[arm][s] for arm in a.arms for s in seeds if s in results[arm]), None)
    if first:
        labels = first["real_window"]["labels"]
        lines.append("| run | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---|" * len(labels))
        for arm in a.arms:
            for s in seeds:
                r = results[arm].get(s)
                if r is None:
                    continue
                cells = []
                for i, lab in enumerate(labels):
                    pw, ps = r["real_window"]["preds"][i], r["real_stream"]["preds"][i]
                    mark = lambda p, lab=lab: p + (" ✓" if p == lab else "")  # noqa: E731
                    cells.append(mark(pw) if pw == ps else f"{mark(pw)} / {mark(ps)}")
                lines.append(f"| {arm} s{s} | " + " | ".join(cells) + " |")
    pre_lines = []
    for arm in ("procedural", "mixed"):
        for s in seeds:
            r = results.get(arm, {}).get(s)
            if r and r.get("pretrain"):
                p = r["pretrain"]
                pre_lines.append(
                    f"| {arm} s{s} | {p['steps']} | {p['final_loss']:.3f} | "
                    f"{p['contrast_acc_last']:.3f} | {p['seconds']:.0f} |"
                )
    if pre_lines:
        lines += [
            "",
            "Pretraining runs:",
            "",
            "| run | steps | final loss | contrastive top-1 (last log) | seconds |",
            "|---|---|---|---|---|",
            *pre_lines,
        ]
    return "\n".join(lines) + "\n"


def run(a) -> int:
    from neuromoco.train.datasets import build_split
    from neuromoco.train.recipe import load_recipe

    work = Path(a.work)
    if a.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not LABELS.is_file():
        print(f"error: {LABELS}: the labelled real clips are not there", file=sys.stderr)
        return 1
    # one fixed set of procedural test windows for every arm and seed
    test_cfg = load_recipe(RECIPES / FINETUNE, _common(0, a.ft_epochs, a.quick))
    test_ds = build_split(test_cfg, "test")
    t0 = time.perf_counter()
    results: dict[str, dict[int, dict]] = {arm: {} for arm in a.arms}
    for seed in a.seeds:  # seed-major: a stopped run still has complete seeds
        for arm in a.arms:
            pre = pretrain_arm(arm, seed, a, work) if arm in PRETRAIN else None
            results[arm][seed] = finetune_arm(arm, seed, a, work, test_ds, pre)
            r = results[arm][seed]
            print(
                f"[{(time.perf_counter() - t0) / 60:5.1f} min] {arm} seed {seed}: real window "
                f"{r['real_window']['correct']}/5, stream {r['real_stream']['correct']}/5, "
                f"procedural test {100 * r['procedural_test_top1']:.1f} %",
                flush=True,
            )
            md = markdown(results, a, (time.perf_counter() - t0) / 60)
            atomic_write_text(work / "real_gain.md", md)
            blob = {
                "settings": vars(a),
                "labels_csv": str(LABELS),
                "procedural_test_n": len(test_ds),
                "results": {arm: {str(s): r for s, r in v.items()} for arm, v in results.items()},
            }
            atomic_write_text(work / "real_gain.json", json.dumps(blob, indent=2) + "\n")
    print(markdown(results, a, (time.perf_counter() - t0) / 60))
    return 0


# --- label efficiency (issue G §3 bullet 2) ---------------------------------------------------

LE_KINDS = ("scratch", "neuromoco", "probe_random_bn", "probe_neuromoco")


def random_bn_backbone(seed: int, path: Path, quick: bool) -> Path:
    """A random ``lif_convnet4`` backbone whose BatchNorm statistics are calibrated on the
    unlabelled mixed pool (the pretraining recipe's train split), saved at ``path`` (kept if there).

    Without calibration a fresh ``lif_convnet4`` in eval mode is silent on the procedural clips
    (docs/results.md, ablation), which makes a random-feature probe meaningless.
    """
    from neuromoco.train.datasets import build_split, framing_from
    from neuromoco.train.pretrain import backbone_kwargs
    from neuromoco.train.probe import random_bn_encoder

    cfg = Stage(RECIPES / "pretrain_demo_mixed.toml", tuple(_common(seed, 1, quick))).config()
    return random_bn_encoder(
        cfg["model"]["arch"], backbone_kwargs(cfg), framing_from(cfg),
        lambda: build_split(cfg, "train"), seed, path,
    )  # fmt: skip


def _few_label_run(out: Path, kind: str, seed: int, plan, stage: Stage, test_ds) -> dict:
    """One few-label run (finetuning, or a linear probe for the ``probe_*`` kinds), measured."""
    if kind.startswith("probe"):
        r = linear_probe(stage, out, test=test_ds)
    else:
        r = finetune(stage, out, test=test_ds)
    return {
        "fraction": plan.fraction,
        "kind": kind,
        "seed": seed,
        "labelled": r["train_samples"],
        "epochs": plan.epochs,
        "steps": plan.steps,
        "procedural_test_top1": r["test"]["top1"],
        "overrides": r["overrides"],
        "seconds": r["seconds"],
    }


def label_efficiency(a) -> int:
    """NeuroMoCo (mixed pretraining) vs scratch, and the two linear probes, with few labels."""
    from neuromoco.train.datasets import build_split
    from neuromoco.train.recipe import load_recipe

    work = Path(a.work)
    test_cfg = load_recipe(RECIPES / FINETUNE, _common(0, 1, a.quick))
    test_ds = build_split(test_cfg, "test")
    train_ds = build_split(test_cfg, "train")
    pool_cfg = load_recipe(RECIPES / "pretrain_demo_mixed.toml", _common(0, 1, a.quick))
    pool = len(build_split(pool_cfg, "train"))
    res: dict = {"pool": pool, "train_labelled_full": len(train_ds), "runs": {}}
    t0 = time.perf_counter()
    for seed in a.seeds:
        pre = pretrain_arm("mixed", seed, a, work)
        rnd = random_bn_backbone(seed, work / f"random_bn_s{seed}.pt", a.quick)
        encoders = {"scratch": "", "neuromoco": pre["checkpoint"]}
        encoders |= {"probe_random_bn": str(rnd), "probe_neuromoco": pre["checkpoint"]}
        for frac in a.fractions:
            plan = few_label_plan(train_ds, frac, seed, a.le_steps)
            for kind in LE_KINDS:
                key = f"f{frac}_{kind}_s{seed}"
                over = [*ft_overrides(seed, plan.epochs, a.quick, encoders[kind]), *plan.overrides]
                stage = Stage(RECIPES / FINETUNE, tuple(over))
                done = (work / "le" / key / "result.json").is_file()
                run = partial(
                    _few_label_run, kind=kind, seed=seed, plan=plan, stage=stage, test_ds=test_ds
                )
                rr = res["runs"][key] = resumable(work / "le" / key, run)
                if done:
                    continue
                print(
                    f"[{(time.perf_counter() - t0) / 60:5.1f} min] {key}: "
                    f"{rr['labelled']} labels, test {100 * rr['procedural_test_top1']:.1f} %",
                    flush=True,
                )
                atomic_write_text(work / "label_efficiency.json", json.dumps(res, indent=2) + "\n")
    lines = [
        f"Unlabelled pool {pool} clips (procedural train + real segments); labelled set: "
        f"procedural train split ({len(train_ds)} clips) at the given fraction.",
        "",
        "| labels | " + " | ".join(LE_KINDS) + " |",
        "|---|" + "---|" * len(LE_KINDS),
    ]
    for frac in a.fractions:
        cells = []
        for kind in LE_KINDS:
            v = [
                res["runs"][f"f{frac}_{kind}_s{s}"]["procedural_test_top1"]
                for s in a.seeds
                if f"f{frac}_{kind}_s{s}" in res["runs"]
            ]
            cells.append(f"{_ms(v, 100)} ({' / '.join(f'{100 * x:.1f}' for x in v)})" if v else "")
        n = res["runs"].get(f"f{frac}_scratch_s{a.seeds[0]}", {}).get("labelled", "?")
        lines.append(f"| {100 * frac:g} % ({n} clips) | " + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n"
    atomic_write_text(work / "label_efficiency.md", md)
    atomic_write_text(work / "label_efficiency.json", json.dumps(res, indent=2) + "\n")
    print(md)
    return 0


# --- diagnostics ------------------------------------------------------------------------------


def diagnose(a) -> int:
    from neuromoco.train.pretrain_diagnosis import diagnose_run

    work = Path(a.work)
    res = {}
    for arm in ("procedural", "mixed"):
        d = work / f"pre_{arm}_s{a.seeds[0]}"
        if not (d / "last.pt").is_file():
            print(f"{d}: no pretraining run to diagnose (run the benchmark first)", file=sys.stderr)
            continue
        res[arm] = diagnose_run(d)
        print(json.dumps(res[arm], indent=2), flush=True)
    atomic_write_text(work / "diagnose.json", json.dumps(res, indent=2) + "\n")
    return 0 if res else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.real_gain", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    ap.add_argument("--pre-epochs", type=int, default=8, help="pretraining epochs (recipe: 12)")
    ap.add_argument("--ft-epochs", type=int, default=16, help="finetuning epochs (recipe: 40)")
    ap.add_argument("--work", default=str(REPO / "runs" / "real_gain"))
    ap.add_argument("--fresh", action="store_true", help="delete earlier runs in --work first")
    ap.add_argument("--quick", action="store_true", help="tiny settings: prove the harness only")
    ap.add_argument("--diagnose", action="store_true", help="pretraining checks (see docstring)")
    ap.add_argument(
        "--label-efficiency",
        action="store_true",
        help="few-label runs: scratch, NeuroMoCo (mixed), probes on random-BN / NeuroMoCo features",
    )
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.01])
    ap.add_argument("--le-steps", type=int, default=120, help="optimiser steps per few-label run")
    a = ap.parse_args(argv)
    if a.quick:
        a.pre_epochs, a.ft_epochs, a.seeds = 1, 1, a.seeds[:1]
        if a.work == str(REPO / "runs" / "real_gain"):
            a.work = str(REPO / "runs" / "real_gain_quick")
    if a.diagnose:
        return diagnose(a)
    if a.label_efficiency:
        return label_efficiency(a)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
