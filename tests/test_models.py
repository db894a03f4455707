"""Model zoo: registry, shapes, per-step semantics, reset, surrogate gradients, stateful stepping."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly.activation_based.neuron")

from spikingjelly.activation_based import neuron  # noqa: E402

from neuromoco.models.heads import ProjectionHead  # noqa: E402
from neuromoco.models.registry import create_model, list_models, model_arguments  # noqa: E402
from neuromoco.models.stateful import StatefulStep  # noqa: E402

MODELS = ["sew_resnet18", "spikformer_2_256", "sew_resnet_tiny", "lif_convnet4", "spikformer_tiny"]
SIZE = 32  # small inputs keep the fast tests fast; 128² is covered by the parameter/token checks
T, N, C = 3, 2, 5


def _frames(T=T, N=N, size=SIZE, seed=0, rate=0.3):
    g = torch.Generator().manual_seed(seed)
    # Event counts (Poisson-like): enough input to make the first layers spike.
    return torch.poisson(torch.full((T, N, 2, size, size), rate), generator=g) * 2.0


def _randomize_bn(model, seed=0):
    """Calibrated BN statistics and random affine terms that keep the whole net spiking.

    A freshly initialised deep SNN is often silent at its output (inputs never reach the
    threshold), which would make equality checks pass trivially; this makes them meaningful.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration pass
        m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 1.5)
        m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) * 0.5 + 0.5)
    size = model.model_kwargs.get("img_size", SIZE)
    model.train()
    with torch.no_grad():
        model(_frames(T=2, N=4, size=size, seed=seed + 100, rate=0.5))
    for m in bns:
        m.momentum = 0.1
    return model.eval()


def test_registry_lists_required_models():
    assert set(MODELS) <= set(list_models())
    assert list_models() == sorted(list_models())


def test_registry_rejects_unknown_name_and_kwargs():
    with pytest.raises(ValueError, match=r"unknown model 'resnet50'.*sew_resnet18"):
        create_model("resnet50", num_classes=3)
    with pytest.raises(ValueError, match=r"\['depthh'\].*base_width"):
        create_model("sew_resnet18", num_classes=3, depthh=3)
    with pytest.raises(ValueError, match="cnf"):
        create_model("sew_resnet18", num_classes=3, cnf="XOR")
    with pytest.raises(ValueError, match="multiple of patch_size"):
        create_model("spikformer_2_256", num_classes=3, img_size=100)
    with pytest.raises(ValueError, match="surrogate"):
        create_model("lif_convnet4", num_classes=3, surrogate="relu")
    assert "base_width" in model_arguments("sew_resnet18")


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_features(name):
    model = create_model(name, num_classes=C, img_size=SIZE)
    x = _frames()
    y = model(x)
    f = model.forward_features(x)
    assert y.shape == (T, N, C)
    assert f.shape == (T, N, model.num_features)
    assert torch.isfinite(y).all()
    assert model.spec == {
        "arch": name,
        "kwargs": {"num_classes": C, "in_channels": 2, "img_size": SIZE},
    }
    with pytest.raises(ValueError, match=r"\[T, N, 2, H, W\]"):
        model(x[0])  # [N, 2, H, W]: missing the time axis


@pytest.mark.parametrize("name", MODELS)
def test_reset_semantics_and_causality(name):
    model = _randomize_bn(create_model(name, num_classes=C, img_size=SIZE)).eval()
    x = _frames(seed=1)
    with torch.no_grad():
        a = model(x)
        model(_frames(seed=2))  # a different sample in between must not leak state
        b = model(x)
        assert torch.equal(a, b)
        # Per-step logits: step t depends on frames 0..t only.
        x2 = x.clone()
        x2[2] = _frames(seed=3)[2]
        c = model(x2)
    assert torch.equal(a[:2], c[:2])
    assert not torch.equal(a[2], c[2])


@pytest.mark.parametrize("name", MODELS)
def test_gradient_reaches_first_conv_through_spikes(name):
    model = _randomize_bn(create_model(name, num_classes=C, img_size=SIZE)).train()
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    lifs = [m for m in model.modules() if isinstance(m, neuron.LIFNode)]
    assert lifs and all(m.tau == 2.0 and m.detach_reset and m.step_mode == "m" for m in lifs)
    out = model(_frames(seed=4, rate=1.0))
    out.pow(2).mean().backward()
    g = first_conv.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("name", MODELS)
def test_stateful_step_equals_window(name):
    model = _randomize_bn(create_model(name, num_classes=C, img_size=SIZE), seed=5).eval()
    x = _frames(T=5, N=3, seed=6, rate=0.6)
    step = StatefulStep(model).eval()
    with torch.no_grad():
        ref = model(x)
        state = step.init_state(3)
        assert [tuple(s.shape) for s in state] == step.state_shapes(3)
        assert len(state) == step.num_states == len(step.state_names)
        outs = []
        for t in range(x.shape[0]):
            logits, *state = step(x[t], *state)
            outs.append(logits)
    torch.testing.assert_close(torch.stack(outs), ref, rtol=1e-5, atol=1e-5)
    # the step module shares the model's weights (no copy to keep in sync)
    assert step.net.head.weight.data_ptr() == model.head.weight.data_ptr()
    with pytest.raises(ValueError, match="state tensors"):
        step(x[0])


def test_stateful_rejects_wrong_state_count():
    model = create_model("lif_convnet4", num_classes=C, img_size=SIZE).eval()
    step = StatefulStep(model)
    with pytest.raises(ValueError, match="expects 4 state tensors, got 1"):
        step(_frames()[0], torch.zeros(1))


def test_paper_backbones_at_128():
    sew = create_model("sew_resnet18", num_classes=11)
    n = sum(p.numel() for p in sew.parameters())
    assert 11.1e6 < n < 11.3e6  # SEW-ResNet-18: 11.2 M
    assert sew.num_features == 512
    spk = create_model("spikformer_2_256", num_classes=11)
    n = sum(p.numel() for p in spk.parameters())
    assert 2.5e6 < n < 2.6e6  # Spikformer-2-256: 2.56 M
    assert spk.num_features == 256 and spk.num_tokens == 64  # 128/16 = 8×8 patches
    assert len(spk.blocks) == 2 and spk.blocks[0].attn.num_heads == 16
    assert spk.blocks[0].attn.scale == 0.25 and spk.blocks[0].attn.attn_sn.v_threshold == 0.5
    small = create_model("lif_convnet4", num_classes=11)
    assert sum(p.numel() for p in small.parameters()) < 70_000
    x = _frames(T=2, N=1, size=128, rate=0.1)
    with torch.no_grad():
        assert sew(x).shape == (2, 1, 11)
        assert spk(x).shape == (2, 1, 11)


def test_sew_width_and_connect_function():
    narrow = create_model("sew_resnet18", num_classes=3, base_width=16)
    assert narrow.num_features == 128
    for cnf in ("ADD", "AND", "IAND"):
        m = create_model("sew_resnet18", num_classes=3, base_width=8, cnf=cnf, img_size=SIZE)
        assert m(_frames()).shape == (T, N, 3)


def test_reset_classifier_and_headless():
    model = create_model("sew_resnet_tiny", num_classes=C, img_size=SIZE)
    model.reset_classifier(7)
    assert model(_frames()).shape == (T, N, 7)
    assert model.spec["kwargs"]["num_classes"] == 7
    model.reset_classifier(0)
    x = _frames()
    torch.testing.assert_close(model(x), model.forward_features(x))


def test_rebuild_from_spec():
    model = create_model("lif_convnet4", num_classes=4, img_size=32, widths=(8, 8, 16, 16))
    spec = model.spec
    again = create_model(spec["arch"], **spec["kwargs"])
    again.load_state_dict(model.state_dict())  # strict: same layout
    assert again.num_features == 16


@pytest.mark.parametrize("shape", [(4, 3, 16), (1, 1, 16), (2, 5, 16)])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_projection_head_per_step(shape, batch_norm):
    head = ProjectionHead(16, 32, 8, batch_norm=batch_norm).eval()
    x = torch.randn(shape)
    y = head(x)
    assert y.shape == (*shape[:-1], 8)
    naive = torch.stack(
        [
            torch.stack([head(x[t, n][None, None])[0, 0] for n in range(shape[1])])
            for t in range(shape[0])
        ]
    )
    torch.testing.assert_close(y, naive)
    with pytest.raises(ValueError, match="expected"):
        head(torch.randn(2, 3, 15))
    with pytest.raises(ValueError, match="hidden_dim"):
        ProjectionHead(16, 0, 8)
