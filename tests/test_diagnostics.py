"""train.diagnostics against the formulas written out by hand, and their place in the pretraining
log (train.csv: queue_fill, key_spread, key_eff_rank)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from neuromoco.train.diagnostics import effective_rank, queue_fill, spread, training_diagnostics
from neuromoco.train.finetune import run_finetune
from neuromoco.train.pretrain import run_pretrain
from tests.test_train import Synth, ft_cfg, pre_cfg


def _naive_effective_rank(x: np.ndarray) -> float:
    """exp(entropy of the normalised singular values of the centred matrix), as in the paper."""
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    p = [v / s.sum() for v in s if v / s.sum() > 0]
    return math.exp(-sum(q * math.log(q) for q in p))


def _naive_spread(z: np.ndarray) -> float:
    rows = [r / math.sqrt(sum(v * v for v in r)) for r in z]
    n, c = len(rows), len(rows[0])
    stds = []
    for j in range(c):
        col = [r[j] for r in rows]
        m = sum(col) / n
        stds.append(math.sqrt(sum((v - m) ** 2 for v in col) / (n - 1)))
    return sum(stds) / c * math.sqrt(c)


def test_effective_rank_against_the_formula_and_known_cases():
    x = np.random.default_rng(0).normal(size=(20, 6)) * np.array([5, 3, 1, 1, 0.2, 0.1])
    assert effective_rank(torch.from_numpy(x)) == pytest.approx(_naive_effective_rank(x), rel=1e-9)
    line = np.outer(np.arange(10.0), [1.0, -2.0, 0.5])  # every sample on one line
    assert effective_rank(torch.from_numpy(line)) == pytest.approx(1.0)
    # ±e_i for i < 4: centred already, 4 equal singular values → rank 4
    eye = np.eye(4)
    assert effective_rank(torch.from_numpy(np.vstack([eye, -eye]))) == pytest.approx(4.0)


def test_spread_against_the_formula_and_collapse():
    z = np.random.default_rng(1).normal(size=(16, 8))
    assert spread(torch.from_numpy(z)) == pytest.approx(_naive_spread(z), rel=1e-9)
    same = np.tile([[0.3, -1.0, 2.0]], (5, 1))
    assert spread(torch.from_numpy(same)) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(spread(torch.ones(1, 3)))  # one sample: nothing to spread


def test_queue_fill():
    assert [queue_fill(s, 4, 10) for s in range(5)] == [0.0, 0.4, 0.8, 1.0, 1.0]
    with pytest.raises(ValueError, match="queue_size"):
        queue_fill(1, 4, 0)


def test_training_diagnostics_use_the_last_step_keys():
    keys = torch.nn.functional.normalize(
        torch.randn(3, 6, 5, generator=torch.Generator().manual_seed(0)), dim=2
    )
    d = training_diagnostics(keys, steps=2, batch=6, queue_size=24)
    assert d == {
        "queue_fill": 0.5,
        "key_spread": pytest.approx(_naive_spread(keys[-1].numpy().astype(float))),
        "key_eff_rank": pytest.approx(_naive_effective_rank(keys[-1].numpy().astype(float))),
    }


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_pretraining_logs_the_diagnostics_finetuning_does_not(tmp_path):
    run_pretrain(pre_cfg("run.epochs=1"), tmp_path / "p", train_ds=Synth())  # batch 4, queue 8
    rows = _rows(tmp_path / "p" / "train.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert [float(r["queue_fill"]) for r in rows] == [0.5, 1.0, 1.0]
    for r in rows:
        assert 1.0 <= float(r["key_eff_rank"]) <= 3.0 + 1e-6  # 4 keys, centred: ≤ 3 directions
        assert 0.0 <= float(r["key_spread"]) <= 2.0
    run_finetune(ft_cfg("run.epochs=1"), tmp_path / "f", train_ds=Synth())
    assert "queue_fill" not in _rows(tmp_path / "f" / "train.csv")[0]


def test_diagnose_run_on_a_tiny_pretraining(tmp_path):
    """The offline check of a finished run (its recipe rebuilds a tiny procedural set)."""
    from neuromoco.train.pretrain_diagnosis import diagnose_run
    from neuromoco.train.recipe import load_recipe
    from tests.test_train import SMALL

    cfg = load_recipe(
        None,
        [*SMALL, "run.task=pretrain", "optim.batch_size=4", "moco.queue_size=8", "run.epochs=1",
         "data.name=procedural", 'data.root=""', f"data.cache_dir={tmp_path / 'cache'}",
         "data.options={per_class=1, seed=0, test_fraction=0.5}"],
    )  # fmt: skip
    run_pretrain(cfg, tmp_path / "p")
    d = diagnose_run(tmp_path / "p", n=8)
    steps, m = d["steps"], cfg["moco"]["momentum"]
    assert steps == len(_rows(tmp_path / "p" / "train.csv")) and d["keys_enqueued"] == 4 * steps
    assert d["queue_fill"] == queue_fill(steps, 4, 8)
    assert d["key_encoder_init_share"] == pytest.approx(m**steps)
    p = d["procedural"]
    assert p["n"] == 8 and 1.0 <= p["proj_eff_rank"] <= 7.0 + 1e-6
    assert 0.0 <= p["feat_nonzero"] <= 1.0 and 0.0 <= p["random_calib_feat_nonzero"] <= 1.0

    with pytest.raises(FileNotFoundError, match="not a pretraining run folder"):
        diagnose_run(tmp_path)
    run_finetune(ft_cfg("run.epochs=1"), tmp_path / "f", train_ds=Synth())
    with pytest.raises(ValueError, match="not a pretraining run"):
        diagnose_run(tmp_path / "f")
