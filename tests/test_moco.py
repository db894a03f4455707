"""NeuroMoCo: key encoder gets no gradient, momentum update is the formula, queue FIFO + wrap."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuromoco.losses import mix_infonce
from neuromoco.moco import NeuroMoCo


class TinyNet(nn.Module):
    """Same interface as the registry models: [T, N, 2, H, W] → features [T, N, D]."""

    def __init__(self, D=6):
        super().__init__()
        self.num_features = D
        self.conv = nn.Conv2d(2, D, 3, padding=1)
        self.bn = nn.BatchNorm2d(D)
        self.head = nn.Identity()

    def forward_features(self, x):
        T, N = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1))).relu().mean((2, 3))
        return y.reshape(T, N, -1)

    def forward(self, x):
        return self.head(self.forward_features(x))


def make(T=3, L=8, dim=4, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    m = NeuroMoCo(TinyNet(), T=T, dim=dim, queue_size=L, **kw).to(dtype)
    return m


def views(T=3, N=2, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, N, 2, 8, 8, generator=g, dtype=dtype) for _ in range(2))


def test_shapes_positive_first_and_normalised():
    m = make()
    xq, xk = views()
    out = m(xq, xk)
    assert out.logits.shape == (3, 2, 1 + 8)
    assert out.target.tolist() == [0, 0]
    assert torch.allclose(out.q.norm(dim=2), torch.ones(3, 2), atol=1e-6)
    assert torch.allclose(out.k.norm(dim=2), torch.ones(3, 2), atol=1e-6)
    # column 0 is q_t·k_t / τ, the rest q_t·queue_t / τ (queue before the enqueue)
    pos = (out.q * out.k).sum(2) / m.tau
    assert torch.allclose(out.logits[..., 0], pos, atol=1e-5)
    neg = torch.einsum("tnc,tlc->tnl", out.q, out.neg) / m.tau
    assert torch.allclose(out.logits[..., 1:], neg, atol=1e-5)


def test_queue_initialised_with_unit_vectors():
    m = make(T=2, L=5, dim=3)
    assert m.queue.shape == (2, 5, 3)
    assert torch.allclose(m.queue.norm(dim=2), torch.ones(2, 5), atol=1e-6)
    assert int(m.queue_ptr) == 0
    assert "queue" in dict(m.named_buffers()) and "queue_ptr" in dict(m.named_buffers())


def test_key_encoder_gets_no_gradient_and_same_init():
    m = make()
    for pq, pk in zip(m.query_parameters(), m.key_parameters(), strict=True):
        assert torch.equal(pq, pk)
        assert not pk.requires_grad
    xq, xk = views()
    out = m(xq, xk)
    mix_infonce(out.logits, out.target).backward()
    assert all(p.grad is None for p in m.key_parameters())
    assert all(p.grad is not None for p in m.query_parameters())
    assert not out.k.requires_grad


def test_momentum_update_is_exactly_the_formula():
    m = make(dtype=torch.float64, momentum=0.9)
    # make the encoders differ, then check one update
    with torch.no_grad():
        for p in m.query_parameters():
            p.add_(torch.randn_like(p))
    q_before = [p.clone() for p in m.query_parameters()]
    k_before = [p.clone() for p in m.key_parameters()]
    bn_k = m.encoder_k.bn.running_mean.clone()
    m._momentum_update_key_encoder()
    for pk, k0, q0 in zip(m.key_parameters(), k_before, q_before, strict=True):
        assert torch.allclose(pk, 0.9 * k0 + 0.1 * q0, rtol=0, atol=1e-14)
    assert torch.equal(m.encoder_k.bn.running_mean, bn_k)  # buffers are not momentum-updated


def test_forward_updates_keys_from_current_query_weights():
    m = make(dtype=torch.float64, momentum=0.5)
    opt = torch.optim.SGD(m.query_parameters(), lr=0.5)
    xq, xk = views(dtype=torch.float64)
    out = m(xq, xk)
    mix_infonce(out.logits, out.target).backward()
    opt.step()
    k0 = [p.clone() for p in m.key_parameters()]
    q1 = [p.clone() for p in m.query_parameters()]
    m(xq, xk)
    for pk, a, b in zip(m.key_parameters(), k0, q1, strict=True):
        assert torch.allclose(pk, 0.5 * a + 0.5 * b, atol=1e-14)


def test_cosine_momentum_schedule():
    m = make(momentum=0.99, momentum_schedule="cosine")
    assert m.momentum_at(0, 100) == pytest.approx(0.99)
    assert m.momentum_at(50, 100) == pytest.approx(0.995)
    assert m.momentum_at(100, 100) == pytest.approx(1.0)
    assert make(momentum=0.99).momentum_at(50, 100) == 0.99


def test_queue_fifo_and_pointer_wrap():
    m = make(T=2, L=5, dim=3)
    batches = [F.normalize(torch.randn(2, 2, 3), dim=2) for _ in range(4)]
    m._dequeue_and_enqueue(batches[0])
    assert int(m.queue_ptr) == 2
    assert torch.equal(m.queue[:, 0:2], batches[0])
    m._dequeue_and_enqueue(batches[1])
    m._dequeue_and_enqueue(batches[2])  # slots 4, 0 (wrap): overwrites the oldest key
    assert int(m.queue_ptr) == 1
    assert torch.equal(m.queue[:, 4], batches[2][:, 0])
    assert torch.equal(m.queue[:, 0], batches[2][:, 1])
    assert torch.equal(m.queue[:, 1], batches[0][:, 1])  # still the oldest survivor
    assert torch.equal(m.queue[:, 2:4], batches[1])
    with pytest.raises(ValueError, match="exceed queue_size"):
        m._dequeue_and_enqueue(torch.randn(2, 6, 3))


def test_forward_enqueues_this_batch_keys():
    m = make(T=3, L=8)
    xq, xk = views(N=2)
    out = m(xq, xk)
    assert torch.equal(m.queue[:, 0:2], out.k)
    out2 = m(*views(N=2, seed=5))
    assert torch.equal(out2.neg[:, 0:2], out.k)  # this batch's keys are next batch's negatives
    assert int(m.queue_ptr) == 4


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"momentum": 1.0}, "momentum"),
        ({"tau": 0.0}, "tau"),
        ({"L": 0}, "queue_size"),
        ({"momentum_schedule": "linear"}, "momentum_schedule"),
    ],
)
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        make(**kw)


def test_bad_views():
    m = make(T=3)
    a, _ = views(T=3)
    with pytest.raises(ValueError, match="T=3"):
        m(torch.rand(2, 2, 2, 8, 8), torch.rand(2, 2, 2, 8, 8))
    with pytest.raises(ValueError, match="differ"):
        m(a, a[:, :1])


def test_key_backbone_copy_is_trainable_and_equal():
    m = make()
    b = m.key_backbone()
    assert all(p.requires_grad for p in b.parameters())
    for p, pk in zip(b.parameters(), m.encoder_k.parameters(), strict=True):
        assert torch.equal(p, pk)
