"""Direction features (``neuromoco.models.direction``): the model against a naive computation
written here from the definition, its time-reversal symmetry, checkpoints, ONNX, and the
refusal to be stepped (stream mode)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromoco.framing import FramingSpec
from neuromoco.models.registry import create_model

FRAMING = FramingSpec(T=4, split_by="time", size=(32, 32), window_us=400_000)
KW = {"img_size": (32, 32), "widths": [8, 8, 16, 16]}


def _encoder(seed: int = 0):
    torch.manual_seed(seed)
    enc = create_model("lif_convnet4", num_classes=0, **KW).eval()
    # BatchNorm that makes the random net fire (fresh running statistics leave it silent)
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(1.0, 3.0)
                m.bias.uniform_(0.0, 1.0)
    return enc


def _frames(seed: int, n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(FRAMING.T, n, 2, 32, 32, generator=g) < 0.15).float()


def _naive_logits(enc, W, b, x):
    """Per step: [f_t(x), b·|mean f(x)| · d/|d|], d = mean f(x) − mean f(x backwards), b = the
    smaller over the larger event count of the first and the second half of the bins, then
    W·+b; the backward window built frame by frame (bin T−1−t, ON and OFF exchanged)."""
    T, N = x.shape[0], x.shape[1]
    xr = torch.empty_like(x)
    for t in range(T):
        for n in range(N):
            xr[t, n, 0] = x[T - 1 - t, n, 1]
            xr[t, n, 1] = x[T - 1 - t, n, 0]
    with torch.no_grad():
        f = enc.forward_features(x)  # [T, N, D]
        r = enc.forward_features(xr)
    out = torch.empty(T, N, W.shape[0])
    for n in range(N):
        fm = sum(f[t, n] for t in range(T)) / T
        rm = sum(r[t, n] for t in range(T)) / T
        d = fm - rm
        first = float(x[: T // 2, n].sum())
        second = float(x[T - T // 2 :, n].sum())
        bal = min(first, second) / max(first, second) if max(first, second) > 0 else 0.0
        nd = torch.sqrt((d**2).sum())
        # a window without direction (d = 0) has a zero direction block
        block = bal * d * (torch.sqrt((fm**2).sum()) / nd) if nd > 0 else torch.zeros_like(d)
        for t in range(T):
            out[t, n] = W @ torch.cat([f[t, n], block]) + b
    return out


def _direction_model(num_classes: int = 5, seed: int = 0):
    from neuromoco.models.direction import with_direction

    net = with_direction(_encoder(seed), num_classes).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        net.head.weight.copy_(torch.randn(net.head.weight.shape, generator=g))
        net.head.bias.copy_(torch.randn(net.head.bias.shape, generator=g))
    return net


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logits_equal_the_naive_computation(seed):
    net = _direction_model(seed=seed)
    x = _frames(seed)
    ref_enc = _encoder(seed)  # the same weights, built again: the naive side shares no module
    with torch.no_grad():
        got = net(x)
        f = ref_enc.forward_features(x)
    assert f.abs().sum() > 0 and (f[:, 0] != f[:, 1]).any()  # the encoder fires, differently
    want = _naive_logits(ref_enc, net.head.weight.detach(), net.head.bias.detach(), x)
    assert got.shape == (FRAMING.T, x.shape[1], 5)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    assert net.num_features == 2 * ref_enc.num_features


def test_the_direction_block_changes_sign_when_time_runs_backwards():
    from neuromoco.models.direction import reverse_time

    net = _direction_model()
    x = _frames(5)
    assert torch.equal(reverse_time(reverse_time(x)), x)
    assert torch.equal(reverse_time(x)[0, :, 0], x[-1, :, 1])
    D = net.encoder.num_features
    with torch.no_grad():
        a = net.forward_features(x).mean(0)[:, D:]
        b = net.forward_features(reverse_time(x)).mean(0)[:, D:]
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    assert torch.allclose(cos, torch.full_like(cos, -1.0), atol=1e-5)
    # and a window that reads the same both ways has no direction
    sym = x + reverse_time(x)
    with torch.no_grad():
        f = net.encoder.forward_features(sym)
        r = net.encoder.forward_features(reverse_time(sym))
    assert torch.allclose(f.mean(0), r.mean(0), atol=1e-6)


def test_a_window_that_has_just_begun_has_little_direction():
    from neuromoco.models.direction import balance

    x = _frames(9, n=2)
    x[: FRAMING.T // 2, 0] = 0  # sample 0: a gesture that begins halfway through the window
    x[FRAMING.T // 2 :, 1] = x[: FRAMING.T // 2, 1]  # sample 1: evenly filled
    b = balance(x)[:, 0]
    assert b[0] == 0 and b[1] == 1
    net = _direction_model()
    D = net.encoder.num_features
    with torch.no_grad():
        block = net.forward_features(x)[0, :, D:]
    assert not block[0].any() and block[1].any()


def test_a_zero_direction_row_is_the_encoders_own_read_out():
    net = _direction_model()
    lin = torch.nn.Linear(net.encoder.num_features, 5)
    D = net.encoder.num_features
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.weight[:, :D] = lin.weight
        net.head.bias.copy_(lin.bias)
        x = _frames(7)
        assert torch.allclose(net(x), lin(net.encoder.forward_features(x)), atol=1e-6)


def test_checkpoint_round_trip_and_onnx_window_graph(tmp_path):
    import onnxruntime as ort

    from neuromoco.models.checkpoint import load_model, save_checkpoint
    from neuromoco.models.onnx_export import OnnxExportError, export_onnx, read_onnx_metadata

    net = _direction_model()
    ck = tmp_path / "dir.pt"
    save_checkpoint(
        ck, net, arch=net.arch, model_kwargs=net.model_kwargs,
        class_names=[f"c{i}" for i in range(5)], framing=FRAMING,
    )  # fmt: skip
    again, info = load_model(ck)
    assert info.arch == "direction_classifier" and not again.steppable
    x = _frames(11, n=2)
    with torch.no_grad():
        want = net(x)
        assert torch.equal(again(x), want)
    onx = export_onnx(ck, tmp_path / "dir.onnx", graph="window")
    meta = read_onnx_metadata(onx)
    assert meta["steppable"] is False
    sess = ort.InferenceSession(str(onx), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"frames": x.numpy()})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4)
    with pytest.raises(OnnxExportError, match=r"dir_step.onnx: no step graph: .*window mode only"):
        export_onnx(ck, tmp_path / "dir_step.onnx", graph="step")
    assert not (tmp_path / "dir_step.onnx").exists()


def test_stream_mode_refuses_it_by_name_and_reason(tmp_path):
    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.onnx_export import export_onnx
    from neuromoco.models.stateful import StatefulStep
    from neuromoco.streaming.model import ModelError, open_model

    net = _direction_model()
    with pytest.raises(ValueError, match="cannot be stepped.*window mode only"):
        StatefulStep(net)
    ck = tmp_path / "dir.pt"
    save_checkpoint(
        ck, net, arch=net.arch, model_kwargs=net.model_kwargs,
        class_names=[f"c{i}" for i in range(5)], framing=FRAMING,
    )  # fmt: skip
    onx = export_onnx(ck, tmp_path / "dir.onnx", graph="window")
    for path, backend in ((ck, "torch"), (onx, "onnx"), (ck, "onnx")):
        with pytest.raises(
            ModelError, match=r"(stream mode|cannot be stepped).*window mode only"
        ) as e:
            open_model(str(path), backend=backend, mode="stream")
        assert "dir" in str(e.value)
        p = open_model(str(path), backend=backend, mode="window")
        assert p.window(_frames(3, 1).numpy()).shape == (FRAMING.T, 1, 5)


def test_bad_base_arch_is_refused():
    with pytest.raises(ValueError, match="encoder architecture"):
        create_model("direction_classifier", num_classes=2, base_arch="direction_classifier")
