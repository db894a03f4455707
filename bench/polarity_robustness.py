"""Missing polarity (issue G §2): which makes a model robust to it, the training augmentation or
the reader's input policy? Measured, 3 seeds.

    python -m bench.polarity_robustness            # ≈ 40 min on one core (reuses bench.real_gain's runs)
    python -m bench.polarity_robustness --quick    # tiny run that only proves the harness works

The labelled real clips (``../shared/testdata/dvsgesture_csv``) are CSV files without polarity;
the text reader fills it by a policy (``hash``: a deterministic ~50 % ON per event, the default;
``on``: every event ON). The training side can instead be made indifferent to polarity with
``RandomPolarity(0.5)`` (policy ``neuromoco_gesture_polarity``: on half of the training samples
each pixel's events are re-dealt 50/50 between ON and OFF).

Two trainings × the input policies, everything else equal (``recipes/finetune_demo_mixed.toml``
from scratch, ``--ft-epochs`` epochs, last checkpoint, no selection):

* ``with RandomPolarity``: bench.real_gain's ``scratch`` arm (its runs are reused);
* ``without``: the same with ``data.augment = "neuromoco_gesture"`` (``ft_scratch_nopol_s*``).

Each model is measured on

* the procedural test split (66 clips, one fixed set of windows) with its true polarity, with a
  hash-like one (each pixel's count per time bin re-dealt Binomial(n, ½) between ON and OFF:
  what the ``hash`` policy does to events, applied to the frames) and with every event ON;
* the 5 labelled real clips through ``neuromoco evaluate --recordings`` in window and stream
  mode, read with the ``hash`` and the ``on`` policy (each clip converted once to AEDAT 4.0
  with ``read_events(..., polarity=POLICY)``).

Writes ``<work>/polarity_robustness.{md,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

from bench.real_gain import (
    FINETUNE,
    LABELS,
    RECIPES,
    REPO,
    _common,
    _ms,
    finetune_arm,
    ft_overrides,
    real_clips,
)
from neuromoco.atomic import atomic_write_text
from neuromoco.train.experiment import Stage, finetune, resumable

POLICIES = ("hash", "on")
TEST_INPUTS = ("true", "hash-like", "all ON")
ARMS = {"with": "with RandomPolarity(0.5)", "without": "without (no polarity augmentation)"}


def policy_clips(policy: str, work: Path) -> Path:
    """The labelled real clips read with ``policy`` and written as AEDAT 4.0, with a labels CSV
    pointing at them; returns that CSV."""
    from neuromoco.events import read_recording, write_events

    out = work / "clips" / policy
    labels = out / "labels.csv"
    if labels.is_file():
        return labels
    out.mkdir(parents=True, exist_ok=True)
    with open(LABELS, newline="") as f:
        rows = list(csv.DictReader(f))
    lines = ["path,label"]
    for r in rows:
        src = LABELS.parent / r["path"]
        rec = read_recording(src, polarity=policy)
        dst = out / (Path(r["path"]).stem + ".aedat4")
        write_events(dst, rec.events, rec.sensor_size)
        lines.append(f"{dst.name},{r['label']}")
    atomic_write_text(labels, "\n".join(lines) + "\n")
    return labels


def repolarise(x, how: str, seed: int = 0):
    """Frames ``[N, T, 2, H, W]`` (event counts, channel 0 OFF, 1 ON) with the polarity replaced:
    ``hash-like`` re-deals each count Binomial(n, ½) between the channels, ``all ON`` moves every
    event to ON."""
    import torch

    if x.shape[2] != 2:
        raise ValueError(f"expected 2 polarity channels, got frames {tuple(x.shape)}")
    total = x.sum(dim=2, keepdim=True)
    if how == "all ON":
        return torch.cat([torch.zeros_like(total), total], dim=2)
    g = torch.Generator().manual_seed(seed)
    on = torch.binomial(total.float(), torch.full_like(total.float(), 0.5), generator=g)
    return torch.cat([total - on.to(x.dtype), on.to(x.dtype)], dim=2)


def procedural_accuracy(ckpt: Path, test_ds) -> dict[str, float]:
    """Top-1 on the procedural test split for each of :data:`TEST_INPUTS`."""
    from functools import partial

    from neuromoco.train.evaluate import evaluate_checkpoint

    out = {}
    for how in TEST_INPUTS:
        change = None if how == "true" else partial(repolarise, how=how)
        # one batch: repolarise deals the counts of the whole split with one seeded generator
        r = evaluate_checkpoint(ckpt, test_ds, batch_size=len(test_ds), transform=change)
        out[how] = r["top1"]
    return out


def finetune_without(seed: int, a, work: Path) -> Path:
    """The scratch arm without RandomPolarity (cached); returns its last checkpoint."""
    over = [*ft_overrides(seed, a.ft_epochs, a.quick, ""), 'data.augment="neuromoco_gesture"']
    stage = Stage(RECIPES / FINETUNE, tuple(over))
    r = resumable(work / f"ft_scratch_nopol_s{seed}", lambda out: finetune(stage, out))
    return Path(r["checkpoint"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.polarity_robustness", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--ft-epochs", type=int, default=12, help="finetuning epochs (recipe: 40)")
    ap.add_argument("--work", default=str(REPO / "runs" / "real_gain"))
    ap.add_argument("--quick", action="store_true", help="tiny settings: prove the harness only")
    a = ap.parse_args(argv)
    if a.quick:
        a.ft_epochs, a.seeds = 1, a.seeds[:1]
        if a.work == str(REPO / "runs" / "real_gain"):
            a.work = str(REPO / "runs" / "polarity_robustness_quick")
    from neuromoco.train.datasets import build_split
    from neuromoco.train.recipe import load_recipe

    work = Path(a.work)
    t0 = time.perf_counter()
    test_ds = build_split(load_recipe(RECIPES / FINETUNE, _common(0, 1, a.quick)), "test")
    labels = {p: policy_clips(p, work) for p in POLICIES}
    res: dict = {"ft_epochs": a.ft_epochs, "runs": {}}
    for seed in a.seeds:
        ckpts = {
            "with": work / f"ft_scratch_s{seed}" / "last.pt",
            "without": finetune_without(seed, a, work),
        }
        if not ckpts["with"].is_file():  # bench.real_gain's scratch arm, same settings
            finetune_arm("scratch", seed, a, work, test_ds, None)
        for arm, ck in ckpts.items():
            r = {"procedural": procedural_accuracy(ck, test_ds)}
            for pol in POLICIES:
                for mode in ("window", "stream"):
                    j = ck.parent / f"real_{pol}_{mode}.json"
                    r[f"real_{pol}_{mode}"] = real_clips(ck, mode, j, labels[pol])
            res["runs"][f"{arm}_s{seed}"] = r
            print(f"[{(time.perf_counter() - t0) / 60:5.1f} min] {arm} s{seed}: {r}", flush=True)
            atomic_write_text(work / "polarity_robustness.json", json.dumps(res, indent=2) + "\n")
    md = markdown(res, a.seeds)
    atomic_write_text(work / "polarity_robustness.md", md)
    print(md)
    return 0


def markdown(res: dict, seeds: list[int]) -> str:
    head = ["training"] + [f"procedural test, {h} polarity (%)" for h in TEST_INPUTS]
    head += [f"real, {p}, {m} (of 5)" for p in POLICIES for m in ("window", "stream")]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for arm, title in ARMS.items():
        runs = [res["runs"][f"{arm}_s{s}"] for s in seeds if f"{arm}_s{s}" in res["runs"]]
        if not runs:
            continue
        cells = [title]
        for h in TEST_INPUTS:
            cells.append(_ms([r["procedural"][h] for r in runs], 100))
        for p in POLICIES:
            for m in ("window", "stream"):
                v = [r[f"real_{p}_{m}"]["correct"] for r in runs]
                cells.append(f"{statistics.fmean(v):.2f} ({' / '.join(str(x) for x in v)})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
