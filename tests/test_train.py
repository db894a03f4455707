"""Training engine: exact resume, tiny-batch overfit, pretrained → finetune, evaluation report."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch.utils.data import Dataset

from neuromoco.models.checkpoint import CheckpointError, load_checkpoint
from neuromoco.train.finetune import run_finetune
from neuromoco.train.pretrain import run_pretrain
from neuromoco.train.recipe import load_recipe

SMALL = [
    "data.T=4",
    "data.size=[16,16]",
    "model.arch=lif_convnet4",
    "model.kwargs.widths=[8,8,16,16]",
    "run.progress=false",
    "run.log_every=1",
]


class Synth(Dataset):
    """3 classes: a bright bar whose row and polarity depend on the class, moving over time."""

    class_names = ["a", "b", "c"]

    def __init__(self, n=12, T=4, S=16, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.targets = [i % 3 for i in range(n)]
        self.x = torch.rand(n, T, 2, S, S, generator=g) * 0.3
        for i, c in enumerate(self.targets):
            for t in range(T):
                self.x[i, t, c % 2, 2 + 4 * c : 5 + 4 * c, 1 + 3 * t : 5 + 3 * t] += 2.0

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.x[i], self.targets[i]


def pre_cfg(*extra):
    return load_recipe(
        None,
        [
            *SMALL,
            "run.task=pretrain",
            "optim.batch_size=4",
            "moco.queue_size=8",
            "run.epochs=2",
            "data.augment=neuromoco",
            *extra,
        ],
    )


def ft_cfg(*extra):
    return load_recipe(
        None,
        [
            *SMALL,
            "optim.batch_size=4",
            "optim.name=adamw",
            "optim.lr=0.01",
            "schedule.name=cosine",
            "schedule.warmup_epochs=1",
            "run.epochs=2",
            *extra,
        ],
    )


def _trainer(path):
    return load_checkpoint(path).extra["trainer"]


def _assert_same_state(a, b):
    assert a["global_step"] == b["global_step"]
    for k, v in a["module"].items():
        assert torch.allclose(v.double(), b["module"][k].double(), atol=1e-6, rtol=0), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for k, v in sa[i].items():
            assert torch.allclose(
                torch.as_tensor(v).double(), torch.as_tensor(sb[i][k]).double(), atol=1e-6
            ), (i, k)
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])
    assert torch.equal(a["rng"][0]["augment"], b["rng"][0]["augment"])


def test_pretrain_resume_equals_uninterrupted(tmp_path):
    ds = Synth()
    full = run_pretrain(pre_cfg("run.max_steps=4"), tmp_path / "full", train_ds=ds)
    assert full["global_step"] == 4 and full["steps_per_epoch"] == 3
    run_pretrain(pre_cfg("run.max_steps=2"), tmp_path / "part", train_ds=ds)
    assert _trainer(tmp_path / "part" / "last.pt")["global_step"] == 2
    run_pretrain(
        pre_cfg("run.max_steps=4"),
        tmp_path / "part",
        train_ds=ds,
        resume=tmp_path / "part" / "last.pt",
    )
    a, b = _trainer(tmp_path / "full" / "last.pt"), _trainer(tmp_path / "part" / "last.pt")
    _assert_same_state(a, b)
    assert torch.equal(a["module"]["queue"], b["module"]["queue"])
    assert int(a["module"]["queue_ptr"]) == (4 * 4) % 8
    # the logs of the resumed run equal the uninterrupted ones
    assert (tmp_path / "full" / "train.csv").read_text() == (
        tmp_path / "part" / "train.csv"
    ).read_text()


def test_finetune_resume_equals_uninterrupted(tmp_path):
    tr, va = Synth(), Synth(n=6, seed=1)
    run_finetune(ft_cfg("run.max_steps=4"), tmp_path / "full", train_ds=tr, val_ds=va)
    run_finetune(ft_cfg("run.max_steps=2"), tmp_path / "part", train_ds=tr, val_ds=va)
    run_finetune(
        ft_cfg("run.max_steps=4"),
        tmp_path / "part",
        train_ds=tr,
        val_ds=va,
        resume=tmp_path / "part" / "last.pt",
    )
    _assert_same_state(
        _trainer(tmp_path / "full" / "last.pt"), _trainer(tmp_path / "part" / "last.pt")
    )


def test_pretrain_checkpoint_is_key_backbone_and_finetune_loads_it(tmp_path):
    r = run_pretrain(pre_cfg("run.epochs=1"), tmp_path / "pre", train_ds=Synth())
    ck = load_checkpoint(tmp_path / "pre" / "last.pt")
    assert ck.num_classes == 0 and ck.arch == "lif_convnet4" and ck.framing.T == 4
    module = ck.extra["trainer"]["module"]
    for k, v in ck.state_dict.items():  # the saved model is the S-encoder, not the M-encoder
        assert torch.equal(v, module[f"encoder_k.{k}"])
    assert r["global_step"] == 3
    # pretraining has no labels: "best" is the lowest epoch training loss, and says so
    assert r["best_metric"] == "train_loss" and r["best"] == r["train_loss"]
    best = load_checkpoint(tmp_path / "pre" / "best.pt").meta["best"]
    assert best == {"metric": "train_loss", "higher_is_better": False, "value": r["best"]}
    out = run_finetune(
        ft_cfg("run.epochs=1", f'finetune.pretrained="{tmp_path / "pre" / "last.pt"}"'),
        tmp_path / "ft",
        train_ds=Synth(),
        val_ds=Synth(n=6, seed=1),
    )
    assert out["pretrain_step"] == 3
    # a wrong architecture is refused with the file named
    with pytest.raises(CheckpointError, match="pretrained as 'lif_convnet4'"):
        run_finetune(
            ft_cfg(
                "model.arch=sew_resnet_tiny",
                "model.kwargs={}",
                f'finetune.pretrained="{tmp_path / "pre" / "last.pt"}"',
            ),
            tmp_path / "ft2",
            train_ds=Synth(),
            val_ds=None,
        )


def test_best_model_is_the_validation_top1_of_validated_epochs_only(tmp_path):
    # 3 epochs, validation every 2nd epoch and at the end: epoch 0 is not validated, so it must
    # not become "best" through its training loss (the old rule mixed -loss and top-1)
    cfg = ft_cfg("run.epochs=3", "run.eval_every=2")
    r = run_finetune(cfg, tmp_path / "ft", train_ds=Synth(), val_ds=Synth(n=6, seed=1))
    assert r["best_metric"] == "val_top1"
    val = (tmp_path / "ft" / "val.csv").read_text().splitlines()
    head = val[0].split(",")
    rows = [dict(zip(head, line.split(","), strict=True)) for line in val[1:]]
    assert [int(x["epoch"]) for x in rows] == [1, 2]
    top1 = [float(x["top1"]) for x in rows]
    assert r["best"] == pytest.approx(max(top1), abs=1e-5)
    first_best = rows[top1.index(max(top1))]
    ck = load_checkpoint(tmp_path / "ft" / "best.pt")
    assert ck.meta["global_step"] == int(first_best["step"])  # ties keep the earlier epoch
    assert ck.meta["best"]["metric"] == "val_top1" and ck.meta["best"]["higher_is_better"]
    assert ck.meta["metrics"]["val_top1"] == pytest.approx(float(first_best["top1"]), abs=1e-5)
    best_log = (tmp_path / "ft" / "best.csv").read_text().splitlines()
    assert best_log[0] == "step,epoch,val_top1" and best_log[1].split(",")[1] == "1"


def test_best_metric_rule_and_old_resume_states():
    from neuromoco.train.engine import TRAIN_LOSS, VAL_TOP1, _resumed_best

    assert VAL_TOP1.improves(0.5, None) and VAL_TOP1.improves(0.6, 0.5)
    assert not VAL_TOP1.improves(0.5, 0.5) and not VAL_TOP1.improves(None, 0.1)
    assert TRAIN_LOSS.improves(0.4, 0.5) and not TRAIN_LOSS.improves(float("nan"), 0.5)
    assert _resumed_best({"metric": "val_top1", "value": 0.7}, VAL_TOP1) == 0.7
    assert _resumed_best({"metric": "train_loss", "value": 0.7}, VAL_TOP1) is None
    # checkpoints from before BestMetric stored -loss or a top-1 as one float
    assert _resumed_best(-1.25, TRAIN_LOSS) == 1.25 and _resumed_best(-1.25, VAL_TOP1) is None
    assert _resumed_best(0.75, VAL_TOP1) == 0.75 and _resumed_best(None, TRAIN_LOSS) is None


@pytest.mark.parametrize("loss", ["mix", "tcl", "stcl"])
def test_tiny_batch_overfits(tmp_path, loss):
    ds = Synth(n=6)
    cfg = ft_cfg(
        "run.epochs=25",
        "optim.batch_size=6",
        "schedule.name=constant",
        "schedule.warmup_epochs=0",
        "data.augment=none",
        f"loss.name={loss}",
    )
    run_finetune(cfg, tmp_path / loss, train_ds=ds, val_ds=ds)
    rows = (tmp_path / loss / "train.csv").read_text().splitlines()
    head = rows[0].split(",")
    losses = [float(r.split(",")[head.index("loss")]) for r in rows[1:]]
    # the supervised contrastive term cannot go below λ·log(#positives per anchor): 2 samples per
    # class × T=4 steps (× 2 views for STCL) minus the anchor itself
    import math

    floor = {"tcl": 0.5 * math.log(7), "stcl": 5.0 * math.log(15)}.get(loss, 0.0)
    assert losses[-1] - floor < 0.5 * (losses[0] - floor), losses
    accs = [float(r.split(",")[head.index("acc")]) for r in rows[1:]]
    assert accs[-1] == 1.0  # every training sample right (train mode: batch statistics)


def test_pretrain_loss_falls(tmp_path):
    ds = Synth(n=8)
    cfg = pre_cfg(
        "run.epochs=20",
        "optim.batch_size=8",
        "moco.queue_size=16",
        "moco.momentum=0.9",
        "optim.lr=0.1",
        "data.augment=none",
        "run.log_every=1",
    )
    run_pretrain(cfg, tmp_path / "p", train_ds=ds)
    rows = (tmp_path / "p" / "train.csv").read_text().splitlines()
    head = rows[0].split(",")
    acc = [float(r.split(",")[head.index("contrast_acc")]) for r in rows[1:]]
    losses = [float(r.split(",")[head.index("loss")]) for r in rows[1:]]
    assert sum(losses[-3:]) < sum(losses[2:5]), losses  # after the random queue is replaced
    assert acc[-1] == 1.0


def test_evaluate_command_writes_report(tmp_path, monkeypatch):
    run_finetune(ft_cfg("run.epochs=1"), tmp_path / "ft", train_ds=Synth(), val_ds=None)
    import neuromoco.data as data_mod
    from neuromoco.commands import evaluate as cmd

    monkeypatch.setattr(
        data_mod, "build_dataset", lambda *a, **k: Synth(n=7, seed=3), raising=False
    )
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    args = p.parse_args(
        [
            str(tmp_path / "ft" / "last.pt"),
            "--data",
            "synth",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "ev"),
            "--batch-size",
            "3",
        ]
    )
    assert cmd.run(args) == 0
    rep = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert rep["n"] == 7 and len(rep["latency_acc"]) == 4
    assert sum(map(sum, rep["confusion"])) == 7
    assert rep["top1"] == pytest.approx(sum(rep["confusion"][i][i] for i in range(3)) / 7)
    assert rep["latency_acc"][-1] == pytest.approx(rep["top1"])
    rates = rep["firing_rates"]
    assert len(rates) == 4 and all(0.0 <= r <= 1.0 for r in rates.values())
    for png in ("latency_curve.png", "confusion.png", "firing_rates.png"):
        assert (tmp_path / "ev" / png).stat().st_size > 1000


def test_resume_rejects_other_task_and_existing_run(tmp_path):
    run_finetune(ft_cfg("run.epochs=1"), tmp_path / "ft", train_ds=Synth(), val_ds=None)
    with pytest.raises(CheckpointError, match="'finetune' run"):
        run_pretrain(
            pre_cfg(), tmp_path / "ft", train_ds=Synth(), resume=tmp_path / "ft" / "last.pt"
        )
    from neuromoco.commands import finetune as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    args = p.parse_args(["x.toml", "--out", str(tmp_path / "ft")])
    from neuromoco.commands._train_common import resolve_out

    with pytest.raises(FileExistsError, match="--resume"):
        resolve_out(args, "finetune")


def test_batch_larger_than_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fewer than one batch"):
        run_finetune(ft_cfg("optim.batch_size=64"), tmp_path / "x", train_ds=Synth(), val_ds=None)


@pytest.mark.slow
def test_cli_pretrain_finetune_evaluate_on_procedural(tmp_path, capsys):
    """The whole chain through ``neuromoco`` on the in-memory procedural gestures."""
    from neuromoco.cli import main

    small = [
        "--set",
        "data.T=4",
        "--set",
        "data.size=[16,16]",
        "--set",
        "run.epochs=1",
        "--set",
        "data.options={per_class=2}",
        "--set",
        "optim.batch_size=4",
        "--set",
        "model.kwargs.widths=[4,4,8,8]",
        "--set",
        "run.progress=false",
        "--set",
        'data.cache_dir=""',
    ]
    pre = tmp_path / "pre"
    assert (
        main(
            [
                "pretrain",
                "recipes/pretrain_procedural_cpu.toml",
                *small,
                "--set",
                "moco.queue_size=8",
                "--out",
                str(pre),
            ]
        )
        == 0
    )
    ft = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "recipes/finetune_procedural_cpu.toml",
                *small,
                "--set",
                'data.val_split=""',
                "--pretrained",
                str(pre / "last.pt"),
                "--out",
                str(ft),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "evaluate",
                str(ft / "last.pt"),
                "--data",
                "procedural",
                "--option",
                "per_class=2",
                "--split",
                "train",
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    rep = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert rep["n"] == 22 and len(rep["latency_acc"]) == 4
    # a second pretrain into the same folder is refused (nothing is overwritten)
    assert (
        main(["pretrain", "recipes/pretrain_procedural_cpu.toml", *small, "--out", str(pre)]) == 1
    )
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("loss", ["mbc", "mac", "infonce"])
def test_other_pretraining_losses_run(tmp_path, loss):
    r = run_pretrain(
        pre_cfg("run.epochs=1", f"moco.loss={loss}", "moco.momentum_schedule=cosine"),
        tmp_path / loss,
        train_ds=Synth(),
    )
    assert r["global_step"] == 3 and r["train_loss"] == r["train_loss"]  # finite, not NaN


def test_tet_and_linear_probe_finetune_run(tmp_path):
    r = run_finetune(
        ft_cfg("run.epochs=1", "loss.name=tet"),
        tmp_path / "tet",
        train_ds=Synth(),
        val_ds=Synth(n=6, seed=1),
    )
    assert r["last_val"]["n"] == 6
    run_finetune(
        ft_cfg("run.epochs=1", "finetune.freeze_backbone=true"),
        tmp_path / "probe",
        train_ds=Synth(),
        val_ds=None,
    )
    ck = load_checkpoint(tmp_path / "probe" / "last.pt")
    torch.manual_seed(0)  # the same seed rebuilds the same initial backbone
    from neuromoco.models.registry import create_model

    init = create_model("lif_convnet4", num_classes=3, img_size=[16, 16], widths=[8, 8, 16, 16])
    for k, v in init.state_dict().items():
        if not k.startswith(
            "head."
        ):  # frozen backbone in eval mode: weights and BN stats unchanged
            assert torch.equal(v, ck.state_dict[k]), k
