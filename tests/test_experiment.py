"""The experiment runner (train.experiment) and evaluate_checkpoint: a finished run is read back from
its result.json, an interrupted one starts over, the chain pretrain → finetune → evaluate starts
the finetuning from the pretraining, and the top-1 of a checkpoint equals a hand-made count."""

from __future__ import annotations

import json

import pytest
import torch

from neuromoco.framing import FramingSpec
from neuromoco.models.checkpoint import CheckpointError, save_checkpoint
from neuromoco.models.registry import create_model
from neuromoco.train.evaluate import evaluate_checkpoint
from neuromoco.train.experiment import Stage, pretrain_then_finetune, resumable
from neuromoco.train.probe import calibrate_batchnorm
from neuromoco.train.recipe import dumps, load_recipe
from tests.test_train import SMALL, Synth

KW = {"img_size": [16, 16], "widths": [8, 8, 16, 16]}


def _recipe(path, *overrides) -> Stage:
    """A recipe file with ``overrides`` baked in (a Stage needs a file, as the bench ones use)."""
    path.write_text(dumps(load_recipe(None, [*SMALL, *overrides])))
    return Stage(path)


def test_resumable_reads_back_a_finished_run_and_restarts_an_interrupted_one(tmp_path):
    calls = []

    def run(out):
        calls.append(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "log.txt").write_text("ran\n")
        return {"n": len(calls)}

    out = tmp_path / "run"
    assert resumable(out, run) == {"n": 1}
    assert json.loads((out / "result.json").read_text()) == {"n": 1}
    assert resumable(out, run) == {"n": 1} and len(calls) == 1  # read back, not run again

    # interrupted: a folder without result.json is emptied, then run again
    (out / "result.json").unlink()
    (out / "stale.pt").write_text("half written")
    assert resumable(out, run) == {"n": 2}
    assert not (out / "stale.pt").exists() and (out / "log.txt").is_file()

    # a run that fails writes no result: the next call runs it again
    def fails(out):
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        resumable(tmp_path / "f", fails)
    assert not (tmp_path / "f" / "result.json").exists()

    (out / "result.json").write_text("{not json")
    with pytest.raises(ValueError, match="result.json"):
        resumable(out, run)


def test_stage_overrides_and_label(tmp_path):
    s = Stage(tmp_path / "recipes" / "a.toml", ("run.seed=1",))
    t = s.with_overrides("run.seed=2", "run.epochs=3").starting_from(tmp_path / "p" / "last.pt")
    assert s.overrides == ("run.seed=1",)  # frozen: a new stage
    assert t.overrides[:3] == ("run.seed=1", "run.seed=2", "run.epochs=3")
    assert t.overrides[3] == f'finetune.pretrained="{(tmp_path / "p" / "last.pt").as_posix()}"'
    assert s.label == "recipes/a.toml"


def test_chain_pretrain_finetune_evaluate_resumes(tmp_path, monkeypatch):
    pre = _recipe(
        tmp_path / "pre.toml",
        "run.task=pretrain",
        "optim.batch_size=4",
        "moco.queue_size=8",
        "run.epochs=1",
        "data.augment=none",
    )
    ft = _recipe(tmp_path / "ft.toml", "optim.batch_size=4", "run.epochs=1")
    test = Synth(n=6, seed=1)
    dirs = (tmp_path / "pre", tmp_path / "ft")
    r = pretrain_then_finetune(pre, ft, *dirs, test=test, resume=True, train_ds=Synth())

    p, f = r["pretrain"], r["finetune"]
    assert p["recipe"] == f"{tmp_path.name}/pre.toml" and p["steps"] == 3
    assert p["checkpoint"] == str(tmp_path / "pre" / "last.pt")
    assert f["train_samples"] == 12 and f["test"]["n"] == 6
    # the finetuning started from the pretraining's checkpoint
    ft_recipe = load_recipe(tmp_path / "ft" / "recipe.toml")
    assert ft_recipe["finetune"]["pretrained"] == (tmp_path / "pre" / "last.pt").as_posix()
    assert f["test"] == evaluate_checkpoint(tmp_path / "ft" / "last.pt", test)

    # a second call reads both results back and trains nothing
    def no_training(*a, **k):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr("neuromoco.train.pretrain.run_pretrain", no_training)
    monkeypatch.setattr("neuromoco.train.finetune.run_finetune", no_training)
    assert pretrain_then_finetune(pre, ft, *dirs, test=test, resume=True, train_ds=Synth()) == r
    with pytest.raises(AssertionError, match="ran again"):  # without resume, it does run
        pretrain_then_finetune(pre, ft, *dirs, test=test, train_ds=Synth())


def _classifier_checkpoint(path, seed=0):
    """A random classifier that still answers differently for different inputs: BatchNorm
    calibrated on the data (a fresh one in eval mode is silent) and a strong head."""
    torch.manual_seed(seed)
    model = create_model("lif_convnet4", num_classes=3, **KW)
    calibrate_batchnorm(model, Synth(n=9, seed=3), seed=0)
    with torch.no_grad():
        model.head.weight.normal_(0, 3)
    framing = FramingSpec(T=4, split_by="time", size=(16, 16))
    save_checkpoint(
        path, model, arch="lif_convnet4", model_kwargs={"num_classes": 3, **KW},
        class_names=["a", "b", "c"], framing=framing,
    )  # fmt: skip
    return model.eval()


def _naive_top1(model, ds, change=None) -> float:
    right = 0
    for i in range(len(ds)):
        x, y = ds[i]
        x = x.unsqueeze(0).float()
        if change is not None:
            x = change(x)
        with torch.no_grad():
            logits = model(x.transpose(0, 1))  # [T, 1, C]
        right += int(logits.mean(0).argmax(1).item() == y)
    return right / len(ds)


def test_evaluate_checkpoint_equals_a_hand_count(tmp_path):
    ds = Synth(n=9, seed=3)
    model = _classifier_checkpoint(tmp_path / "c.pt")
    r = evaluate_checkpoint(tmp_path / "c.pt", ds, batch_size=4)
    assert r["n"] == 9 and len(r["latency_acc"]) == 4
    assert r["top1"] == pytest.approx(_naive_top1(model, ds))
    assert r["latency_acc"][-1] == pytest.approx(r["top1"])
    assert sum(any(row[c] for row in r["confusion"]) for c in range(3)) > 1  # not one answer

    def swap(x):  # ON and OFF exchanged: another answer, computed the same way
        return x.flip(2)

    r2 = evaluate_checkpoint(tmp_path / "c.pt", ds, batch_size=9, transform=swap)
    assert r2["top1"] == pytest.approx(_naive_top1(model, ds, swap))


def test_evaluate_checkpoint_errors_name_the_file(tmp_path):
    enc = create_model("lif_convnet4", num_classes=0, **KW)
    p = tmp_path / "enc.pt"
    framing = FramingSpec(T=4, split_by="time", size=(16, 16))
    save_checkpoint(
        p, enc, arch="lif_convnet4", model_kwargs={"num_classes": 0, **KW}, class_names=[],
        framing=framing,
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="enc.pt.*finetune it first"):
        evaluate_checkpoint(p, Synth())
    _classifier_checkpoint(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_checkpoint(tmp_path / "c.pt", Synth(), batch_size=0)
