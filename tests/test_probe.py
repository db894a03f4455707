"""train.probe: BatchNorm calibration against the statistics computed by hand, the random-BN
encoder baseline, the linear probe against a hand-made linear head and a plain logistic regression
on the same frozen features, and the few-label plan against its arithmetic."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from neuromoco.framing import FramingSpec
from neuromoco.models.checkpoint import load_checkpoint, load_model
from neuromoco.models.registry import create_model
from neuromoco.train.experiment import Stage
from neuromoco.train.probe import (
    calibrate_batchnorm,
    few_label_plan,
    linear_probe,
    random_bn_encoder,
)
from neuromoco.train.recipe import dumps, load_recipe
from tests.test_train import SMALL, Synth

KW = {"num_classes": 0, "img_size": [16, 16], "widths": [8, 8, 16, 16]}
FRAMING = FramingSpec(T=4, split_by="time", size=(16, 16))


def _frames(ds) -> torch.Tensor:
    return torch.stack([ds[i][0] for i in range(len(ds))]).float()  # [N, T, 2, H, W]


@pytest.mark.parametrize("batch_size", [9, 4])
def test_calibrate_batchnorm_is_the_average_of_the_batch_statistics(batch_size):
    ds = Synth(n=9, seed=3)
    torch.manual_seed(0)
    model = create_model("lif_convnet4", **KW)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert calibrate_batchnorm(model, ds, seed=5, batch_size=batch_size) == 9

    # by hand: the first BN sees conv(frames) of every (step, sample); momentum None keeps the
    # plain mean over batches of each batch's mean and unbiased variance
    x = _frames(ds)
    order = torch.randperm(9, generator=torch.Generator().manual_seed(5)).tolist()
    means, variances = [], []
    with torch.no_grad():
        for i in range(0, 9, batch_size):
            y = conv(x[order[i : i + batch_size]].flatten(0, 1))  # [n·T, C, H, W]
            flat = y.transpose(0, 1).flatten(1)  # [C, n·T·H·W]
            means.append(flat.mean(1))
            variances.append(flat.var(1, unbiased=True))
    torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, torch.stack(variances).mean(0), rtol=1e-4, atol=1e-5)


def test_random_bn_encoder_is_not_silent_and_is_kept(tmp_path):
    ds = Synth(n=9, seed=3)
    x = _frames(ds).transpose(0, 1)
    torch.manual_seed(1)
    fresh = create_model("lif_convnet4", **KW).eval()
    with torch.no_grad():
        assert float(fresh.forward_features(x).abs().sum()) == 0.0  # why the baseline is calibrated

    p = random_bn_encoder("lif_convnet4", KW, FRAMING, ds, seed=1, path=tmp_path / "rnd.pt")
    enc, ck = load_model(p)
    assert ck.num_classes == 0 and ck.meta["calibration_samples"] == 9
    with torch.no_grad():
        assert float((enc.forward_features(x) > 0).float().mean()) > 0.01
    # same seed, same initial weights as the fresh network: only the BN statistics differ
    for k, v in fresh.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, ck.state_dict[k]), k

    stamp = p.stat().st_mtime_ns
    assert random_bn_encoder("lif_convnet4", KW, FRAMING, ds, 2, p) == p
    assert p.stat().st_mtime_ns == stamp  # an existing encoder is kept
    with pytest.raises(ValueError, match="num_classes = 0"):
        random_bn_encoder("lif_convnet4", {**KW, "num_classes": 3}, FRAMING, ds, 1, tmp_path / "b")
    with pytest.raises(ValueError, match="no samples"):
        random_bn_encoder("lif_convnet4", KW, FRAMING, Synth(n=0), 1, tmp_path / "c.pt")


def _logistic_regression(f, y, classes, steps=300, lr=0.5):
    """Plain softmax regression by full-batch gradient descent on features ``f [N, D]`` (numpy)."""
    f = f.numpy()
    w, b = np.zeros((f.shape[1], classes)), np.zeros(classes)
    onehot = np.eye(classes)[np.asarray(y)]
    for _ in range(steps):
        z = f @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        g = (p / p.sum(1, keepdims=True) - onehot) / f.shape[0]
        w -= lr * f.T @ g
        b -= lr * g.sum(0)
    return torch.from_numpy(w), torch.from_numpy(b)


def test_linear_probe_is_a_linear_head_on_the_frozen_encoder(tmp_path):
    train, test = Synth(n=12, seed=0), Synth(n=9, seed=3)
    enc_path = random_bn_encoder("lif_convnet4", KW, FRAMING, train, 0, tmp_path / "enc.pt")
    recipe = tmp_path / "ft.toml"
    over = [*SMALL, "optim.batch_size=12", "run.epochs=20", "optim.name=adamw"]
    over += ["optim.weight_decay=0", "schedule.name=constant", "schedule.warmup_epochs=0"]
    recipe.write_text(dumps(load_recipe(None, over)))
    stage = Stage(recipe)
    r = linear_probe(stage, tmp_path / "probe", enc_path, test=test, train_ds=train, lr=0.1)
    assert r["overrides"][-2:] == ["finetune.freeze_backbone=true", "optim.lr=0.1"]

    # by hand: the encoder's own features (it stayed frozen), the probe's linear head, mean over T
    enc, _ = load_model(enc_path)
    probe = load_checkpoint(tmp_path / "probe" / "last.pt")
    for k, v in enc.state_dict().items():
        assert torch.equal(v, probe.state_dict[k]), k
    W, b = probe.state_dict["head.weight"].double(), probe.state_dict["head.bias"].double()

    def features(ds):
        with torch.no_grad():
            return enc.forward_features(_frames(ds).transpose(0, 1)).double()  # [T, N, D]

    y_test = torch.tensor(test.targets)
    hand = ((features(test) @ W.T + b).mean(0).argmax(1) == y_test).double().mean()
    assert r["test"]["top1"] == pytest.approx(float(hand))

    # a plain logistic regression on the same frozen features (time-averaged) does no better
    w_lr, b_lr = _logistic_regression(features(train).mean(0), torch.tensor(train.targets), 3)
    naive = float(((features(test).mean(0) @ w_lr + b_lr).argmax(1) == y_test).double().mean())
    assert naive > 1 / 3  # the features carry the class: a baseline that can be beaten
    assert r["test"]["top1"] >= naive - 1 / len(test), (r["test"]["top1"], naive)


def test_few_label_plan_is_its_arithmetic():
    ds = Synth(n=30)  # 10 per class
    for fraction, steps, max_batch in [(0.1, 120, 16), (0.5, 120, 4), (1.0, 7, 16)]:
        plan = few_label_plan(ds, fraction, seed=0, steps=steps, max_batch=max_batch)
        labelled = 3 * max(1, math.ceil(fraction * 10))
        batch = min(max_batch, labelled)
        epochs = max(1, math.ceil(steps / (labelled // batch)))
        assert (plan.labelled, plan.batch, plan.epochs) == (labelled, batch, epochs)
        assert plan.steps == epochs * (labelled // batch) >= steps
        assert plan.overrides == (f"data.label_fraction={fraction}", f"optim.batch_size={batch}")
    for bad in ({"fraction": 0.0, "steps": 5}, {"fraction": 1.5, "steps": 5}):
        with pytest.raises(ValueError, match="fraction"):
            few_label_plan(ds, seed=0, **bad)
    with pytest.raises(ValueError, match="steps"):
        few_label_plan(ds, 0.5, seed=0, steps=0)


def test_probe_command(tmp_path, capsys):
    """``neuromoco probe ENC --recipe R --baseline``: both probes, their JSON, read back on a rerun,
    and a classifier given as the encoder is a one-line error naming the file."""
    from neuromoco.cli import main
    from neuromoco.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    enc = tmp_path / "enc.pt"
    save_checkpoint(
        enc, create_model("lif_convnet4", **KW), arch="lif_convnet4", model_kwargs=KW,
        class_names=[], framing=FRAMING,
    )  # fmt: skip
    recipe = tmp_path / "ft.toml"
    data = ["data.name=procedural", 'data.root=""', f"data.cache_dir={tmp_path / 'cache'}"]
    data += ["data.options={per_class=2, seed=0, test_fraction=0.5}"]
    recipe.write_text(dumps(load_recipe(None, [*SMALL, *data, "optim.batch_size=4"])))
    argv = ["probe", str(enc), "--recipe", str(recipe), "--set", "run.epochs=1"]
    argv += ["--out", str(tmp_path / "out"), "--baseline"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "linear probe on enc.pt: top-1" in out and "BatchNorm calibrated: top-1" in out
    res = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert res["overrides"] == ["run.epochs=1"] and res["lr"] == 0.01
    for kind in ("encoder", "random_bn"):
        assert 0.0 <= res[kind]["top1"] <= 1.0 and res[kind]["n"] == 11
    assert res["random_bn"]["checkpoint"] == str(tmp_path / "out" / "random_bn.pt")
    stamp = (tmp_path / "out" / "probe" / "last.pt").stat().st_mtime_ns
    assert main(argv) == 0  # finished runs are read back
    assert (tmp_path / "out" / "probe" / "last.pt").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "out" / "probe.json").read_text()) == res

    classifier = tmp_path / "cls.pt"
    save_checkpoint(
        classifier, create_model("lif_convnet4", **{**KW, "num_classes": 3}), arch="lif_convnet4",
        model_kwargs={**KW, "num_classes": 3}, class_names=["a", "b", "c"], framing=FRAMING,
    )  # fmt: skip
    capsys.readouterr()
    assert main(["probe", str(classifier), "--recipe", str(recipe)]) == 1
    err = capsys.readouterr().err
    assert "cls.pt" in err and "not a pretrained encoder" in err and "Traceback" not in err
