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

``--diagnose`` loads the pretraining runs' full NeuroMoCo state (both encoders, queue) and measures
queue fill, key/query agreement, augmentation strength, time-step alignment between the views and
feature collapse (spread and effective rank), against a randomly initialised network; it writes
``<work>/diagnose.json``.

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
from pathlib import Path

from neuromoco.atomic import atomic_write_text

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


def _fresh_dir(d: Path) -> None:
    if d.exists():  # an interrupted run (no result.json): start it again
        shutil.rmtree(d)


def pretrain(arm: str, seed: int, a, work: Path) -> dict:
    """NeuroMoCo pretraining of ``arm`` for ``seed``; returns its summary (cached)."""
    from neuromoco.train.pretrain import run_pretrain
    from neuromoco.train.recipe import load_recipe

    out = work / f"pre_{arm}_s{seed}"
    res_path = out / "result.json"
    if res_path.is_file():
        return json.loads(res_path.read_text())
    _fresh_dir(out)
    recipe, extra = PRETRAIN[arm]
    over = [*_common(seed, a.pre_epochs, a.quick), _milestones(a.pre_epochs), *extra]
    if a.quick:
        over += ["moco.queue_size=32", "optim.batch_size=8"]
    cfg = load_recipe(RECIPES / recipe, over)
    r = run_pretrain(cfg, out)
    rows = _csv_rows(out / "train.csv")
    res = {
        "recipe": f"recipes/{recipe}",
        "overrides": over,
        "seconds": round(r["seconds"], 1),
        "final_loss": r["train_loss"],
        "contrast_acc_last": float(rows[-1]["contrast_acc"]) if rows else None,
        "steps": int(rows[-1]["step"]) if rows else None,
        "checkpoint": str(out / "last.pt"),
    }
    atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    return res


def _csv_rows(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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


def finetune(arm: str, seed: int, a, work: Path, test_ds, pre: dict | None) -> dict:
    """Finetune ``arm`` for ``seed`` and measure it; returns its result (cached)."""
    from neuromoco.train.finetune import run_finetune
    from neuromoco.train.recipe import load_recipe

    out = work / f"ft_{arm}_s{seed}"
    res_path = out / "result.json"
    if res_path.is_file():
        return json.loads(res_path.read_text())
    _fresh_dir(out)
    ckpt = pre["checkpoint"] if pre else ""
    over = ft_overrides(seed, a.ft_epochs, a.quick, ckpt)
    cfg = load_recipe(RECIPES / FINETUNE, over)
    r = run_finetune(cfg, out)
    test = _test_metrics(out / "last.pt", test_ds)
    res = {
        "arm": arm,
        "seed": seed,
        "overrides": over,
        "train_samples": r["train_samples"],
        "seconds": round(r["seconds"], 1),
        "procedural_test_top1": test["top1"],
        "procedural_test_n": test["n"],
        "pretrain": pre,
    }
    for mode in ("window", "stream"):
        res[f"real_{mode}"] = real_clips(out / "last.pt", mode, out / f"real_{mode}.json")
    atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    return res


def _test_metrics(ckpt: Path, test_ds) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from neuromoco.models.checkpoint import load_model
    from neuromoco.train.evaluate import evaluate_classifier

    model, ck = load_model(ckpt)
    r = evaluate_classifier(
        model, DataLoader(test_ds, batch_size=32), torch.device("cpu"), ck.num_classes
    )
    return {"top1": r["top1"], "n": r["n"]}


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
            pre = pretrain(arm, seed, a, work) if arm in PRETRAIN else None
            results[arm][seed] = finetune(arm, seed, a, work, test_ds, pre)
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
    """A randomly initialised backbone whose BatchNorm statistics are calibrated on the unlabelled
    mixed pool (train-mode passes, cumulative average), saved as a "pretrained" checkpoint.

    Without calibration a fresh ``lif_convnet4`` in eval mode is silent on the procedural clips
    (docs/results.md, ablation), which makes a random-feature probe meaningless.
    """
    import torch

    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.registry import create_model
    from neuromoco.train.datasets import build_split, framing_from
    from neuromoco.train.recipe import load_recipe

    if path.is_file():
        return path
    cfg = load_recipe(RECIPES / "pretrain_demo_mixed.toml", _common(seed, 1, quick))
    ds = build_split(cfg, "train")
    m, d = cfg["model"], cfg["data"]
    kw = {"num_classes": 0, "img_size": list(d["size"]), **m["kwargs"]}
    torch.manual_seed(seed)
    model = create_model(m["arch"], **kw)
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over all calibration batches
    model.train()
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ds), generator=g).tolist()
    with torch.no_grad():
        for i in range(0, len(order), 32):
            x = torch.stack([ds[j][0] for j in order[i : i + 32]]).float()
            model.forward_features(x.transpose(0, 1))
    save_checkpoint(
        path,
        model,
        arch=m["arch"],
        model_kwargs=kw,
        class_names=[],
        framing=framing_from(cfg),
        meta={"task": "random_bn_calibrated", "calibration_samples": len(order)},
    )
    return path


def label_efficiency(a) -> int:
    """NeuroMoCo (mixed pretraining) vs scratch, and the two linear probes, with few labels."""
    import math

    from neuromoco.train.datasets import build_split, label_subset
    from neuromoco.train.finetune import run_finetune
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
        pre = pretrain("mixed", seed, a, work)
        rnd = random_bn_backbone(seed, work / f"random_bn_s{seed}.pt", a.quick)
        for frac in a.fractions:
            n_lab = len(label_subset(train_ds, frac, seed))
            batch = min(16, n_lab)
            steps_per_epoch = n_lab // batch
            epochs = max(1, math.ceil(a.le_steps / steps_per_epoch))
            for kind in LE_KINDS:
                key = f"f{frac}_{kind}_s{seed}"
                out = work / "le" / key
                rp = out / "result.json"
                if rp.is_file():
                    res["runs"][key] = json.loads(rp.read_text())
                    continue
                _fresh_dir(out)
                ck = {"scratch": "", "neuromoco": pre["checkpoint"]}.get(kind)
                if kind == "probe_random_bn":
                    ck = str(rnd)
                elif kind == "probe_neuromoco":
                    ck = pre["checkpoint"]
                over = [
                    *ft_overrides(seed, epochs, a.quick, ck),
                    f"data.label_fraction={frac}",
                    f"optim.batch_size={batch}",
                ]
                if kind.startswith("probe"):
                    over += ["finetune.freeze_backbone=true", "optim.lr=0.01"]
                r = run_finetune(load_recipe(RECIPES / FINETUNE, over), out)
                t = _test_metrics(out / "last.pt", test_ds)
                rr = {
                    "fraction": frac,
                    "kind": kind,
                    "seed": seed,
                    "labelled": r["train_samples"],
                    "epochs": epochs,
                    "steps": epochs * steps_per_epoch,
                    "procedural_test_top1": t["top1"],
                    "overrides": over,
                    "seconds": round(r["seconds"], 1),
                }
                atomic_write_text(rp, json.dumps(rr, indent=2) + "\n")
                res["runs"][key] = rr
                print(
                    f"[{(time.perf_counter() - t0) / 60:5.1f} min] {key}: "
                    f"{rr['labelled']} labels, test {100 * t['top1']:.1f} %",
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


def _eff_rank(x) -> float:
    """exp(entropy of the normalised singular values) of the centred ``x [N, D]`` (Roy & Vetterli)."""
    import torch

    s = torch.linalg.svdvals(x - x.mean(0, keepdim=True))
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def _spread(z) -> float:
    """Mean per-dimension std across the batch of L2-normalised ``z [N, C]``, × √C.

    1.0 ≈ spread evenly over the sphere; 0 = every sample maps to one point (collapse)."""
    import torch.nn.functional as F

    zn = F.normalize(z, dim=1)
    return float(zn.std(0).mean() * zn.shape[1] ** 0.5)


def _batch(ds, n: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n].tolist()
    xs = [ds[i][0] for i in idx]
    return torch.stack(xs).float()  # [N, T, 2, H, W]


def diagnose_run(run_dir: Path, n: int = 64) -> dict:
    """Checks on one pretraining run (its ``last.pt`` full NeuroMoCo state)."""
    import torch

    from neuromoco.augment import TwoViews, make_policy
    from neuromoco.models.checkpoint import load_checkpoint
    from neuromoco.models.registry import create_model
    from neuromoco.train.datasets import build_split
    from neuromoco.train.pretrain import backbone_kwargs, moco_from_recipe
    from neuromoco.train.recipe import load_recipe

    cfg = load_recipe(run_dir / "recipe.toml")
    m, mc, d = cfg["model"], cfg["moco"], cfg["data"]
    torch.manual_seed(0)
    moco = moco_from_recipe(cfg)
    ck = load_checkpoint(run_dir / "last.pt", map_location="cpu")
    tr = ck.extra["trainer"]
    moco.load_state_dict(tr["module"], strict=True)
    steps = int(tr["global_step"])
    B, L = cfg["optim"]["batch_size"], mc["queue_size"]
    out: dict = {
        "run": str(run_dir),
        "steps": steps,
        "batch": B,
        "queue_size": L,
        "momentum": mc["momentum"],
        "tau": mc["tau"],
        "keys_enqueued": steps * B,
        "queue_fill": min(1.0, steps * B / L),
        "queue_refills": steps * B / L,
        # a key encoder that lags 1/(1-m) steps behind the query encoder
        "key_encoder_lag_steps": 1 / (1 - mc["momentum"]),
        # weight of the random initialisation still in the key (exported) encoder: m^steps
        "key_encoder_init_share": mc["momentum"] ** steps,
    }
    q = moco.queue  # [T, L, C]
    qq = torch.einsum("tlc,tmc->tlm", q, q)
    off = ~torch.eye(L, dtype=torch.bool)
    out["queue_mean_pairwise_cos"] = float(qq[:, off].mean())
    # how far the key encoder is from the query encoder (parameters)
    dq = torch.cat([p.detach().flatten() for p in moco.query_parameters()])
    dk = torch.cat([p.detach().flatten() for p in moco.key_parameters()])
    out["key_query_param_rel_diff"] = float((dq - dk).norm() / dq.norm())

    policy = make_policy(d["augment"])
    views = TwoViews(policy)
    parts = {}
    if d["name"] == "mixed":
        ds = build_split(cfg, "train")
        # MixedUnlabeled: procedural first, then the real segments (its `parts` lists the lengths)
        lens = [ln for _, ln in ds.parts]
        from torch.utils.data import Subset

        parts["procedural"] = Subset(ds, list(range(lens[0])))
        parts["real_unlabelled"] = Subset(ds, list(range(lens[0], lens[0] + lens[1])))
    else:
        parts["procedural"] = build_split(cfg, "train")
    rand_bb = create_model(m["arch"], **backbone_kwargs(cfg))
    for pname, ds in parts.items():
        x = _batch(ds, min(n, len(ds)), 0)  # [N, T, 2, H, W]
        g = torch.Generator().manual_seed(1)
        xq, xk = views(x, generator=g)
        r: dict = {"n": x.shape[0]}
        # augmentation strength at the input: share of event mass the two views have in common
        inter = torch.minimum(xq, xk).sum((1, 2, 3, 4))
        r["view_overlap_events"] = float((inter / xq.sum((1, 2, 3, 4)).clamp_min(1)).mean())
        with torch.no_grad():
            moco.train()  # as in training: BatchNorm on batch statistics
            qv = moco.encode_query(xq.transpose(0, 1))  # [T, N, C]
            kv = torch.nn.functional.normalize(
                moco.head_k(moco.encoder_k.forward_features(xk.transpose(0, 1))), dim=2
            )
            k_same = torch.nn.functional.normalize(
                moco.head_k(moco.encoder_k.forward_features(xq.transpose(0, 1))), dim=2
            )
            T = qv.shape[0]
            pos = torch.einsum("tnc,tnc->tn", qv, kv)
            neg_q = torch.einsum("tnc,tlc->tnl", qv, q)
            inb = torch.einsum("tnc,tmc->tnm", qv, kv)
            eye = torch.eye(qv.shape[1], dtype=torch.bool)
            r["pos_cos"] = float(pos.mean())
            r["pos_cos_same_input"] = float(torch.einsum("tnc,tnc->tn", qv, k_same).mean())
            r["neg_cos_queue"] = float(neg_q.mean())
            r["neg_cos_in_batch"] = float(inb[:, ~eye].mean())
            # contrastive top-1 against the queue and against the other samples of the batch
            r["top1_vs_queue"] = float((pos.unsqueeze(-1) > neg_q).all(-1).float().mean())
            # the training log's measure: logits averaged over the T steps, then argmax
            tmean = torch.cat([pos.unsqueeze(-1), neg_q], -1).mean(0)
            r["top1_vs_queue_tmean"] = float((tmean.argmax(-1) == 0).float().mean())
            r["top1_in_batch"] = float((inb.argmax(-1) == torch.arange(qv.shape[1])).float().mean())
            # time alignment: q_t against the keys of every step t' of the same sample
            tt = torch.einsum("tnc,snc->tsn", qv, kv).mean(-1)  # [T, T]
            r["time_cos_same_step"] = float(tt.diagonal().mean())
            r["time_cos_other_step"] = float(tt[~torch.eye(T, dtype=torch.bool)].mean())
            r["time_top1_step"] = float(
                (torch.einsum("tnc,snc->nts", qv, kv).argmax(-1) == torch.arange(T)).float().mean()
            )
            # collapse: projections and backbone features, eval mode (what finetuning starts from),
            # with the saved BatchNorm statistics (the train-mode passes above moved them)
            moco.load_state_dict(tr["module"], strict=True)
            moco.eval()
            feats = moco.encoder_k.forward_features(x.transpose(0, 1))  # [T, N, D]
            z = torch.nn.functional.normalize(moco.head_k(feats), dim=2)
            fm = feats.mean(0)  # [N, D] time-averaged spike rates
            r["proj_spread"] = _spread(z[-1])
            r["proj_eff_rank"] = _eff_rank(z[-1])
            r["proj_dim"] = z.shape[-1]
            r["feat_spread"] = _spread(fm)
            r["feat_eff_rank"] = _eff_rank(fm)
            r["feat_dim"] = fm.shape[1]
            r["feat_nonzero"] = float((fm > 0).float().mean())
            r["feat_std_over_batch"] = float(fm.std(0).mean())
            # a random network, eval mode: default BatchNorm statistics, then calibrated on x
            rand_bb.eval()
            fr = rand_bb.forward_features(x.transpose(0, 1)).mean(0)
            r["random_feat_nonzero"] = float((fr > 0).float().mean())
            rand_bb.train()
            for mod in rand_bb.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.reset_running_stats()
                    mod.momentum = None  # cumulative average over the calibration passes
            rand_bb.forward_features(x.transpose(0, 1))
            rand_bb.eval()
            fr = rand_bb.forward_features(x.transpose(0, 1)).mean(0)
            r["random_calib_feat_nonzero"] = float((fr > 0).float().mean())
            r["random_calib_feat_spread"] = _spread(fr) if float(fr.abs().sum()) > 0 else 0.0
            r["random_calib_feat_eff_rank"] = _eff_rank(fr)
        out[pname] = r
    return out


def diagnose(a) -> int:
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
