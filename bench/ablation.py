"""Small-scale ablation with the shape of NeuroMoCo's Tables 2 and 3, on procedural gestures, CPU.

    python -m bench.ablation            # full run (designed for ≲ 20 min on 2 free cores)
    python -m bench.ablation --quick    # a tiny run that only proves the harness works

Writes ``docs/results.md`` and ``docs/img/ablation_*.png`` (``--out`` / ``--img`` to change).

Three experiments, each over 3 seeds (``--seeds``), all with ``lif_convnet4`` on the in-memory
procedural gestures (11 classes, T = 8, 32×32; the train split is also the unlabeled pretraining
set, the test split is only used for the final evaluation):

1. **Table 2 shape** — supervised training from scratch with all labels: MBC-only loss vs the
   mixed loss 0.5·MBC + 0.5·MAC.
2. **Table 3 shape** — finetuning with 10 % of the labels (class-stratified, per seed) from scratch
   vs from the S-encoder backbone of a NeuroMoCo pretraining run (MixInfoNCE, same seed) on the
   unlabeled train split. Finetuning uses the paper's loss (MAC) and optimiser (AdamW 1e-3,
   wd 0.06, warm-up then cosine), scaled down.
3. **Diagnostic** — a linear probe (frozen backbone, only the head trains) on the same 10 % labels,
   random vs pretrained backbone: does pretraining produce linearly useful features at all?

Accuracy is the top-1 of the **last** epoch on the test split (no selection on the test set),
plus the accuracy after the first time step (TCL's latency view).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from neuromoco.atomic import atomic_write_text
from neuromoco.train.experiment import Stage, finetune, pretrain
from neuromoco.train.probe import PROBE_OVERRIDES

REPO = Path(__file__).resolve().parents[1]

SETTINGS = {
    "full": {
        "per_class": 30,
        "T": 8,
        "size": 32,
        "pre_epochs": 25,
        "sup_epochs": 20,
        "ft_epochs": 60,
        "probe_epochs": 60,
        "batch": 16,
        "queue": 128,
    },
    "quick": {
        "per_class": 6,
        "T": 4,
        "size": 32,
        "pre_epochs": 2,
        "sup_epochs": 2,
        "ft_epochs": 3,
        "probe_epochs": 3,
        "batch": 8,
        "queue": 32,
    },
}


def _common(s: dict, seed: int) -> list[str]:
    return [
        f"run.seed={seed}",
        "run.progress=false",
        "run.log_every=50",
        "run.amp=false",
        "data.name=procedural",
        'data.root=""',
        f"data.T={s['T']}",
        f"data.size=[{s['size']},{s['size']}]",
        f"data.options={{per_class={s['per_class']}, seed=0}}",
        "model.arch=lif_convnet4",
        f"optim.batch_size={s['batch']}",
    ]


def _finetune(cfg_over, s, seed, train_ds, test_ds, out, epochs, extra):
    stage = Stage(
        REPO / "recipes" / "finetune_procedural_cpu.toml",
        (
            *_common(s, seed),
            f"run.epochs={epochs}",
            f"run.eval_every={epochs}",
            f"schedule.warmup_epochs={max(1, epochs // 6)}",
            'finetune.pretrained=""',
            *cfg_over,
            *extra,
        ),
    )
    r = finetune(stage, out, test=test_ds, train_ds=train_ds, val_ds=test_ds)
    return {
        "top1": r["test"]["top1"],
        "latency": r["test"]["latency_acc"],
        "train_samples": r["train_samples"],
        "seconds": r["seconds"],
    }


def _stats(v: list[float]) -> str:
    m = 100 * statistics.fmean(v)
    sd = 100 * statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{m:.1f} ± {sd:.1f}"


def _row(name: str, runs: list[dict]) -> str:
    per = " | ".join(f"{100 * r['top1']:.1f}" for r in runs)
    t1 = _stats([r["latency"][0] for r in runs])
    return f"| {name} | {per} | **{_stats([r['top1'] for r in runs])}** | {t1} |"


def _plot(results: dict, img_dir: Path, T: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    groups = [
        ("Table 2 shape (100 % labels)", ["mbc", "mix"]),
        (
            "Table 3 shape (10 % labels)",
            ["scratch", "neuromoco", "probe_random", "probe_neuromoco"],
        ),
    ]
    labels = {
        "mbc": "MBC only",
        "mix": "MBC+MAC",
        "scratch": "scratch",
        "neuromoco": "NeuroMoCo",
        "probe_random": "probe: random",
        "probe_neuromoco": "probe: NeuroMoCo",
    }
    for ax, (title, keys) in zip(axes, groups, strict=True):
        for k in keys:
            runs = results[k]
            curve = [100 * statistics.fmean(r["latency"][t] for r in runs) for t in range(T)]
            ax.plot(range(1, T + 1), curve, marker="o", label=labels[k])
        ax.set_title(title)
        ax.set_xlabel("time steps used (first t of T)")
        ax.set_ylabel("test top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    p = img_dir / "ablation_latency.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return [p]


def run(mode: str, seeds: list[int], work: Path, out_md: Path, img_dir: Path, cache: Path) -> str:
    import torch

    from neuromoco.train.datasets import build_split
    from neuromoco.train.recipe import load_recipe

    s = SETTINGS[mode]
    t0 = time.perf_counter()
    base = load_recipe(
        REPO / "recipes" / "pretrain_procedural_cpu.toml",
        _common(s, 0) + [f"data.cache_dir={work / 'cache'}"],
    )
    train_ds = build_split(base, "train")
    test_ds = build_split(base, "test")
    results: dict[str, list[dict]] = {
        k: [] for k in ("mbc", "mix", "scratch", "neuromoco", "probe_random", "probe_neuromoco")
    }
    pre_info = []
    for seed in seeds:
        torch.manual_seed(seed)
        for loss in ("mbc", "mix"):
            results[loss].append(
                _finetune(
                    [f"loss.name={loss}"],
                    s,
                    seed,
                    train_ds,
                    test_ds,
                    work / f"t2_{loss}_s{seed}",
                    s["sup_epochs"],
                    [],
                )
            )
        pre_dir = work / f"pre_s{seed}"
        stage = Stage(
            REPO / "recipes" / "pretrain_procedural_cpu.toml",
            (
                *_common(s, seed),
                f"run.epochs={s['pre_epochs']}",
                f"moco.queue_size={s['queue']}",
                f"schedule.milestones=[{max(1, int(s['pre_epochs'] * 0.7))}]",
            ),
        )
        r = pretrain(stage, pre_dir, train_ds=train_ds)
        acc = r["contrast_acc_last"]
        pre_info.append(
            {
                "loss": r["final_loss"],
                "seconds": r["seconds"],
                "acc": float("nan") if acc is None else acc,
            }
        )
        ten = ["data.label_fraction=0.1", "loss.name=mac"]
        pre = [f'finetune.pretrained="{pre_dir / "last.pt"}"']
        results["scratch"].append(
            _finetune(
                ten, s, seed, train_ds, test_ds, work / f"t3_scratch_s{seed}", s["ft_epochs"], []
            )
        )
        results["neuromoco"].append(
            _finetune(
                ten, s, seed, train_ds, test_ds, work / f"t3_moco_s{seed}", s["ft_epochs"], pre
            )
        )
        probe = [*ten, *PROBE_OVERRIDES]
        results["probe_random"].append(
            _finetune(
                probe,
                s,
                seed,
                train_ds,
                test_ds,
                work / f"probe_rand_s{seed}",
                s["probe_epochs"],
                [],
            )
        )
        results["probe_neuromoco"].append(
            _finetune(
                probe,
                s,
                seed,
                train_ds,
                test_ds,
                work / f"probe_moco_s{seed}",
                s["probe_epochs"],
                pre,
            )
        )
    minutes = (time.perf_counter() - t0) / 60
    imgs = _plot(results, img_dir, s["T"])
    md = _markdown(
        mode, s, seeds, results, pre_info, len(train_ds), len(test_ds), minutes, imgs, out_md
    )
    atomic_write_text(out_md, md)
    return md


def _markdown(mode, s, seeds, res, pre_info, n_train, n_test, minutes, imgs, out_md) -> str:
    head = "| | " + " | ".join(f"seed {x}" for x in seeds) + " | mean ± std | t=1 of T |"
    sep = "|---|" + "---|" * len(seeds) + "---|---|"
    d_loss = [b["top1"] - a["top1"] for a, b in zip(res["mbc"], res["mix"], strict=True)]
    d_pre = [b["top1"] - a["top1"] for a, b in zip(res["scratch"], res["neuromoco"], strict=True)]
    d_probe = [
        b["top1"] - a["top1"]
        for a, b in zip(res["probe_random"], res["probe_neuromoco"], strict=True)
    ]
    labelled = res["scratch"][0]["train_samples"]
    rel = [
        str(p.relative_to(out_md.parent)) if p.is_relative_to(out_md.parent) else str(p)
        for p in imgs
    ]
    lines = [
        "# Results: small-scale ablation (shape of NeuroMoCo Tables 2 and 3)",
        "",
        f"Produced by `python -m bench.ablation{' --quick' if mode == 'quick' else ''}` "
        f"({mode} settings, {minutes:.1f} min on this machine). Model `lif_convnet4`, procedural "
        f"gestures (11 classes, {s['per_class']} per class: {n_train} train / {n_test} test clips), "
        f"T = {s['T']}, {s['size']}×{s['size']}, seeds {seeds}. Accuracy: test top-1 (%) of the "
        'last epoch (no model selection on the test set); "t=1 of T": the same models deciding '
        "after the first time step only.",
        "",
        "This is the SHAPE of the paper's experiments at toy scale on synthetic data, not a "
        "reproduction of its numbers (SEW-ResNet-18 / Spikformer on DVS128 Gesture, CIFAR10-DVS, "
        "N-Caltech101 need the `recipes/` on a GPU).",
        "",
        f"## Table 2 shape — MBC-only vs mixed loss (from scratch, all {n_train} labels, "
        f"{s['sup_epochs']} epochs)",
        "",
        head,
        sep,
        _row("MBC only", res["mbc"]),
        _row("0.5·MBC + 0.5·MAC", res["mix"]),
        "",
        f"Mixed − MBC: {_stats(d_loss)} points (paired by seed).",
        "",
        f"## Table 3 shape — NeuroMoCo pretraining, finetuning with 10 % labels ({labelled} clips, "
        f"{s['ft_epochs']} epochs, MAC loss)",
        "",
        f"Pretraining: MixInfoNCE on the {n_train} unlabeled train clips, {s['pre_epochs']} epochs, "
        f"queue {s['queue']}, m = 0.99, τ = 0.2. Final pretraining loss "
        f"{statistics.fmean(p['loss'] for p in pre_info):.3f}, contrastive top-1 (positive key "
        f"ranked first among 1 + L) {100 * statistics.fmean(p['acc'] for p in pre_info):.1f} %.",
        "",
        head,
        sep,
        _row("scratch", res["scratch"]),
        _row("NeuroMoCo-pretrained", res["neuromoco"]),
        "",
        f"NeuroMoCo − scratch: {_stats(d_pre)} points (paired by seed).",
        "",
        "## Diagnostic — linear probe on the same 10 % labels (frozen backbone, head only)",
        "",
        head,
        sep,
        _row("random backbone", res["probe_random"]),
        _row("NeuroMoCo backbone", res["probe_neuromoco"]),
        "",
        f"NeuroMoCo − random: {_stats(d_probe)} points (paired by seed).",
        "",
        f"![latency curves]({rel[0]})",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.ablation", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="tiny settings that only prove the harness works"
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2 (quick: 0)")
    ap.add_argument("--work", default=str(REPO / ".cache" / "ablation"), help="run folders")
    ap.add_argument("--out", default=str(REPO / "docs" / "results.md"))
    ap.add_argument("--img", default=str(REPO / "docs" / "img"))
    a = ap.parse_args(argv)
    mode = "quick" if a.quick else "full"
    seeds = a.seeds or ([0] if a.quick else [0, 1, 2])
    runs = Path(a.work) / mode
    if runs.exists():  # fresh run folders (finished runs would refuse to be overwritten)
        import shutil

        shutil.rmtree(runs)
    md = run(mode, seeds, runs, Path(a.out), Path(a.img), Path(a.work) / "cache")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
