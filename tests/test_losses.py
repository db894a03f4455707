"""Every loss against a naive per-sample / per-step Python loop (float64, 1e-6)."""

from __future__ import annotations

import math
import os

import pytest
import torch

from neuromoco import losses
from neuromoco.losses import (
    infonce_loss,
    mac_loss,
    mbc_loss,
    mix_infonce,
    set_debug_checks,
    stcl_loss,
    tcl_loss,
    temporal_contrastive_loss,
    tet_loss,
)

SHAPES = [(1, 1, 2), (4, 3, 5), (3, 8, 11), (16, 2, 17)]


def _ce(row: torch.Tensor, y: int) -> float:
    """−log softmax(row)[y], one row at a time."""
    m = max(float(v) for v in row)
    lse = m + math.log(sum(math.exp(float(v) - m) for v in row))
    return lse - float(row[y])


def _data(T, N, K, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(T, N, K, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, K, (N,), generator=g)
    return logits, target


def naive_mbc(logits, target):
    T, N, _ = logits.shape
    total = 0.0
    for n in range(N):
        mean_row = sum(logits[t, n] for t in range(T)) / T
        total += _ce(mean_row, int(target[n]))
    return total / N


def naive_mac(logits, target):
    T, N, _ = logits.shape
    return sum(sum(_ce(logits[t, n], int(target[n])) for n in range(N)) / N for t in range(T)) / T


@pytest.mark.parametrize("shape", SHAPES)
def test_mbc_mac_match_naive(shape):
    logits, target = _data(*shape)
    assert float(mbc_loss(logits, target)) == pytest.approx(naive_mbc(logits, target), abs=1e-6)
    assert float(mac_loss(logits, target)) == pytest.approx(naive_mac(logits, target), abs=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.3, 1.0])
def test_mix_infonce_matches_naive(shape, alpha):
    logits, target = _data(*shape, seed=1)
    beta = 1.0 - alpha
    want = alpha * naive_mbc(logits, target) + beta * naive_mac(logits, target)
    assert float(mix_infonce(logits, target, alpha, beta)) == pytest.approx(want, abs=1e-6)


def test_mbc_differs_from_mac_when_steps_disagree():
    # T=2 steps that predict opposite classes: the mean is uncertain, each step is confident.
    logits = torch.tensor([[[5.0, -5.0]], [[-5.0, 5.0]]], dtype=torch.float64)
    target = torch.tensor([0])
    assert float(mbc_loss(logits, target)) == pytest.approx(math.log(2), abs=1e-9)
    assert float(mac_loss(logits, target)) > 4.0


def test_contrastive_target_zero_positive_first():
    # logits [T, N, 1+L] with a large positive in column 0 → loss near 0 for every variant
    T, N, L = 3, 4, 6
    logits = torch.zeros(T, N, 1 + L, dtype=torch.float64)
    logits[..., 0] = 50.0
    zero = torch.zeros(N, dtype=torch.long)
    for fn in (mbc_loss, mac_loss, mix_infonce):
        assert float(fn(logits, zero)) < 1e-12
    logits[..., 0], logits[..., 1] = 0.0, 50.0
    assert float(mix_infonce(logits, zero)) > 40


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.6), (-0.1, 1.1), (float("nan"), 0.5), (True, 0.0)])
def test_mix_infonce_rejects_bad_weights(alpha, beta):
    logits, target = _data(2, 3, 4)
    with pytest.raises(ValueError, match="mix_infonce"):
        mix_infonce(logits, target, alpha, beta)


@pytest.fixture
def debug_checks():
    """Value checks on for every device (NEUROMOCO_DEBUG_CHECKS=1), restored afterwards."""
    previous = set_debug_checks(True)
    yield
    set_debug_checks(previous)


@pytest.mark.parametrize(
    "logits,target,match",
    [
        (torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), r"\[T, N, K\]"),
        (torch.zeros(2, 3, 4), torch.zeros(4, dtype=torch.long), r"target must be \[N\]"),
        (torch.zeros(2, 3, 4), torch.zeros(3), "integer class indices"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 1, 4]), r"outside \[0, 4\)"),
        (torch.zeros(2, 3, 4, dtype=torch.long), torch.zeros(3, dtype=torch.long), "floating"),
    ],
)
def test_bad_inputs_name_the_argument(logits, target, match, debug_checks):
    for fn in (mbc_loss, mac_loss, mix_infonce):
        with pytest.raises(ValueError, match=match):
            fn(logits, target)


def test_value_checks_never_read_device_tensors_unless_debugging():
    # "meta" tensors have shapes but no values: any read of a value (the GPU→CPU sync a CUDA
    # tensor would pay) raises. Shape and dtype checks still run; value checks do not.
    logits = torch.zeros(2, 3, 4, device="meta")
    target = torch.zeros(3, dtype=torch.long, device="meta")
    z = torch.zeros(2, 3, 8, device="meta")
    assert not losses.debug_checks()
    for loss in (
        mbc_loss(logits, target),
        mac_loss(logits, target),
        mix_infonce(logits, target),
        tet_loss(logits, target),
        tcl_loss(logits, z, target),
        stcl_loss(logits, logits, z, z, target),
        temporal_contrastive_loss(z, torch.arange(3, device="meta")),
        infonce_loss(z, z, torch.zeros(2, 5, 8, device="meta")),
    ):
        assert loss.device.type == "meta" and loss.shape == ()
    with pytest.raises(ValueError, match=r"target must be \[N\]"):
        mac_loss(logits, target[:2])  # shapes: always checked
    previous = set_debug_checks(True)
    try:
        with pytest.raises((RuntimeError, NotImplementedError)):
            mac_loss(logits, target)  # debugging: the value check reads the meta tensor
    finally:
        set_debug_checks(previous)


def test_debug_checks_env_variable_turns_value_checks_on():
    import subprocess
    import sys

    from neuromoco.losses._check import env_flag

    assert env_flag("1") and env_flag("yes") and not env_flag("0") and not env_flag(" ")
    assert not env_flag(None)
    code = "from neuromoco import losses; print(losses.debug_checks())"
    env = {**os.environ, losses.DEBUG_CHECKS_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def naive_temporal_contrastive(z, groups, tau):
    T, M, C = z.shape
    pairs = [(t, m) for t in range(T) for m in range(M)]
    feats = {p: z[p[0], p[1]] / z[p[0], p[1]].norm() for p in pairs}
    losses = []
    for a in pairs:
        others = [b for b in pairs if b != a]
        sims = {b: float(feats[a] @ feats[b]) / tau for b in others}
        mx = max(sims.values())
        log_den = mx + math.log(sum(math.exp(s - mx) for s in sims.values()))
        positives = [b for b in others if int(groups[b[1]]) == int(groups[a[1]])]
        if positives:
            losses.append(-sum(sims[b] - log_den for b in positives) / len(positives))
    return sum(losses) / len(losses) if losses else 0.0


@pytest.mark.parametrize("T,M,C", [(1, 3, 4), (2, 2, 3), (4, 3, 8), (3, 5, 2)])
@pytest.mark.parametrize("supervised", [False, True])
def test_temporal_contrastive_matches_naive(T, M, C, supervised):
    g = torch.Generator().manual_seed(T * 100 + M)
    z = torch.randn(T, M, C, generator=g, dtype=torch.float64)
    groups = torch.randint(0, 2, (M,), generator=g) if supervised else torch.arange(M)
    got = float(temporal_contrastive_loss(z, groups, tau=0.1))
    assert got == pytest.approx(naive_temporal_contrastive(z, groups, 0.1), abs=1e-6)


@pytest.mark.parametrize("supervised", [False, True])
def test_tcl_is_mbc_plus_lambda_cl(supervised):
    T, N, K, C = 4, 5, 3, 6
    logits, target = _data(T, N, K, seed=3)
    z = torch.randn(T, N, C, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    groups = target if supervised else torch.arange(N)
    want = naive_mbc(logits, target) + 0.5 * naive_temporal_contrastive(z, groups, 0.07)
    got = float(tcl_loss(logits, z, target, supervised=supervised))
    assert got == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("supervised", [False, True])
def test_stcl_matches_naive(supervised):
    T, N, K, C = 3, 4, 3, 5
    l1, target = _data(T, N, K, seed=5)
    l2, _ = _data(T, N, K, seed=6)
    gen = torch.Generator().manual_seed(7)
    z1 = torch.randn(T, N, C, dtype=torch.float64, generator=gen)
    z2 = torch.randn(T, N, C, dtype=torch.float64, generator=gen)
    ids = target if supervised else torch.arange(N)
    cl = naive_temporal_contrastive(torch.cat([z1, z2], 1), torch.cat([ids, ids]), 0.07)
    want = naive_mbc(l1, target) + naive_mbc(l2, target) + 5.0 * cl
    got = float(stcl_loss(l1, l2, z1, z2, target, supervised=supervised))
    assert got == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("M", [1, 3])  # one pair alone, or three pairs of distinct groups
def test_temporal_contrastive_no_positive_is_zero_with_grad(M):
    z = torch.randn(1, M, 4, requires_grad=True)
    loss = temporal_contrastive_loss(z, torch.arange(M))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert z.grad is not None and torch.equal(z.grad, torch.zeros_like(z))


def naive_infonce(q, k, queue, tau):
    T, N, C = q.shape
    L = queue.shape[1]

    def avg(x):
        m = sum(x[t] for t in range(T)) / T
        return m / m.norm()

    total = 0.0
    for n in range(N):
        qn = avg(q[:, n])
        row = [float(qn @ avg(k[:, n])) / tau] + [
            float(qn @ avg(queue[:, j])) / tau for j in range(L)
        ]
        total += _ce(torch.tensor(row, dtype=torch.float64), 0)
    return total / N


@pytest.mark.parametrize("T,N,L,C", [(1, 2, 3, 4), (4, 3, 8, 5)])
def test_infonce_matches_naive(T, N, L, C):
    g = torch.Generator().manual_seed(9)
    q, k, queue = (torch.randn(T, n, C, generator=g, dtype=torch.float64) for n in (N, N, L))
    got = float(infonce_loss(q, k, queue, tau=0.2))
    assert got == pytest.approx(naive_infonce(q, k, queue, 0.2), abs=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_tet_matches_naive(shape):
    logits, target = _data(*shape, seed=2)
    mse = float(((logits - 1.0) ** 2).mean())
    want = (1 - 1e-3) * naive_mac(logits, target) + 1e-3 * mse
    assert float(tet_loss(logits, target)) == pytest.approx(want, abs=1e-6)
    assert float(tet_loss(logits, target, lamb=0)) == pytest.approx(
        naive_mac(logits, target), abs=1e-6
    )
