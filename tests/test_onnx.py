"""ONNX export (window and stateful step graphs) and the inference API: parity with PyTorch."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from conftest import shared_file  # noqa: E402

from neuromoco.framing import FramingSpec, to_frames  # noqa: E402
from neuromoco.models.checkpoint import save_checkpoint  # noqa: E402
from neuromoco.models.inference import PredictorError, load_predictor  # noqa: E402
from neuromoco.models.onnx_export import OnnxExportError, export_onnx, read_onnx_metadata  # noqa: E402
from neuromoco.models.registry import create_model, list_models  # noqa: E402
from tests.helpers_models import lively  # noqa: E402

T, SIZE = 8, 32
CLASSES = [f"gesture_{i}" for i in range(5)]
FRAMING = FramingSpec(T=T, split_by="number", size=(SIZE, SIZE), sensor_size=(128, 128))
# Float rounding differs between PyTorch and ONNX Runtime kernels; a membrane potential that lands
# within rounding of the threshold can flip one spike, so logits agree to ~1e-5 almost always.
ATOL = 1e-4


_lively = lively


def _frames(N, seed, T=T, size=SIZE):
    rng = np.random.default_rng(seed)
    return (rng.poisson(0.5, size=(T, N, 2, size, size)) * 2).astype(np.float32)


def _compare(a, b):
    diff = float(np.abs(a - b).max())
    agree = float((a.argmax(-1) == b.argmax(-1)).mean())
    return diff, agree


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    model = _lively(create_model("lif_convnet4", num_classes=len(CLASSES), img_size=SIZE))
    ckpt = save_checkpoint(
        d / "m.pt",
        model,
        arch=model.arch,
        model_kwargs=model.model_kwargs,
        class_names=CLASSES,
        framing=FRAMING,
    )
    win = export_onnx(ckpt, d / "m_window.onnx", graph="window")
    step = export_onnx(ckpt, d / "m_step.onnx", graph="step")
    return {"dir": d, "model": model, "ckpt": ckpt, "window": win, "step": step}


def test_graph_conventions_and_metadata(exported):
    d = exported["dir"]
    # Weights embedded: exactly the files we asked for, no stray .onnx.data, no temp files.
    assert sorted(p.name for p in d.iterdir()) == ["m.pt", "m_step.onnx", "m_window.onnx"]
    w = onnx.load(str(exported["window"]))
    assert [i.name for i in w.graph.input] == ["frames"] and [o.name for o in w.graph.output] == [
        "logits"
    ]
    dims = [x.dim_param or x.dim_value for x in w.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == T and isinstance(dims[1], str) and dims[2:] == [2, SIZE, SIZE]
    meta = read_onnx_metadata(exported["window"])
    assert FramingSpec.from_dict(meta["framing"]) == FRAMING
    assert (
        meta["class_names"] == CLASSES
        and meta["arch"] == "lif_convnet4"
        and meta["mode"] == "window"
    )
    s = onnx.load(str(exported["step"]))
    sm = read_onnx_metadata(exported["step"])
    k = len(sm["state_names"])
    assert k == 4 and sm["state_layers"] == ["body.1", "body.4", "body.7", "body.10"]
    assert [i.name for i in s.graph.input] == ["frame"] + [f"state_{i}" for i in range(k)]
    assert [o.name for o in s.graph.output] == ["logits"] + [f"new_state_{i}" for i in range(k)]
    assert sm["state_shapes"][0] == [16, SIZE, SIZE]


@pytest.mark.parametrize("N", [1, 3])
def test_window_parity_random(exported, N):
    x = _frames(N, seed=N)
    ref = exported["model"](torch.from_numpy(x)).detach().numpy()
    sess = ort.InferenceSession(str(exported["window"]), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"frames": x})[0]
    assert out.shape == (T, N, len(CLASSES))
    diff, agree = _compare(out, ref)
    assert diff < ATOL and agree == 1.0, (diff, agree)


def _stepped(pred, x: np.ndarray) -> np.ndarray:
    """``[T, N, C]`` outputs of stepping ``pred`` through the frames ``x`` [T, N, 2, H, W] from
    a fresh state."""
    state = pred.init_state(x.shape[1])
    outs = []
    for t in range(x.shape[0]):
        logits, state = pred.step(x[t], state)
        outs.append(logits)
    return np.stack(outs)


def test_step_graph_stepped_equals_window_graph(exported):
    x = _frames(2, seed=7)
    win = load_predictor(exported["window"], graph="window")
    step = load_predictor(exported["step"], graph="step")
    ref = win.window(x)
    diff, agree = _compare(_stepped(step, x), ref)
    assert diff < ATOL and agree == 1.0
    # a step graph also serves window() by stepping T times
    diff, _ = _compare(step.window(x), ref)
    assert diff < ATOL


def test_real_recording_parity(exported):
    """Frames from a real DVS128 recording: PyTorch vs both ONNX graphs."""
    from neuromoco.events import read_recording

    rec = read_recording(shared_file("aedat4/dvSave-2024_06_20_16_13_00.aedat4"))
    ev = rec.events
    clips = np.array_split(np.arange(ev.shape[0]), 4)  # 4 consecutive clips → batch of 4
    x = np.stack(
        [
            to_frames(ev[c[0] : c[-1] + 1], T, rec.sensor_size, "number", (SIZE, SIZE))
            for c in clips
        ],
        axis=1,
    )
    assert x.shape == (T, 4, 2, SIZE, SIZE) and x.sum() == ev.shape[0]  # every event counted
    torch_pred = load_predictor(exported["ckpt"], backend="torch", device="cpu")
    ref = torch_pred.window(x)
    assert np.unique(ref.argmax(-1)).size >= 1 and np.abs(ref).max() > 0
    for path, graph in ((exported["window"], "window"), (exported["step"], "step")):
        pred = load_predictor(path, graph=graph)
        diff, agree = _compare(pred.window(x), ref)
        assert diff < ATOL and agree == 1.0, (graph, diff, agree)


def test_torch_predictor_step_matches_window(exported):
    pred = load_predictor(exported["ckpt"], backend="torch", device="cpu", graph="step")
    assert pred.framing == FRAMING and pred.class_names == CLASSES and pred.backend == "torch"
    x = _frames(1, seed=9)
    ref = pred.window(x)
    np.testing.assert_allclose(_stepped(pred, x), ref, atol=1e-5)
    assert "lif_convnet4" in pred.describe()


def test_onnx_predictor_providers_and_describe(exported):
    pred = load_predictor(exported["window"], device="cpu")
    assert (
        pred.backend == "onnx"
        and pred.device == "cpu"
        and pred.providers == ["CPUExecutionProvider"]
    )
    assert pred.framing == FRAMING and pred.class_names == CLASSES
    assert "CPUExecutionProvider" in pred.describe()
    auto = load_predictor(exported["window"], device="auto")
    assert auto.providers == auto.session.get_providers()  # what really loaded, not what was asked


def test_predictor_errors(exported, tmp_path):
    win = load_predictor(exported["window"])
    with pytest.raises(PredictorError, match="cannot be stepped"):
        win.step(_frames(1, 0)[0], None)
    with pytest.raises(PredictorError, match="cannot be stepped"):
        load_predictor(exported["window"], graph="step")
    with pytest.raises(PredictorError, match="T=8"):
        win.window(_frames(1, 0, T=4))
    with pytest.raises(PredictorError, match=r"\(2, 32, 32\)"):
        win.window(_frames(1, 0, size=64))
    with pytest.raises(PredictorError, match="needs a .pt checkpoint"):
        load_predictor(exported["window"], backend="torch")
    with pytest.raises(PredictorError, match="no such model file"):
        load_predictor(tmp_path / "none.onnx")
    with pytest.raises(PredictorError, match="backend must be"):
        load_predictor(exported["window"], backend="tensorflow")
    step = load_predictor(exported["step"], graph="step")
    with pytest.raises(PredictorError, match="init_state"):
        step.step(_frames(2, 0)[0], step.init_state(1))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx at all")
    with pytest.raises(ValueError, match="junk.onnx"):
        load_predictor(junk)


def test_checkpoint_with_onnx_backend_exports_on_the_fly(exported, tmp_path):
    pred = load_predictor(exported["ckpt"], backend="onnx", graph="step", cache_dir=tmp_path)
    assert pred.backend == "onnx" and pred.file_graph == "step"
    x = _frames(1, seed=11)
    ref = exported["model"](torch.from_numpy(x)).detach().numpy()
    assert _compare(pred.window(x), ref)[0] < ATOL


def test_cli_export_onnx(exported, tmp_path, capsys):
    from neuromoco.commands import export_onnx as cmd

    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    out = tmp_path / "cli.onnx"
    assert cmd.run(parser.parse_args([str(exported["ckpt"]), str(out), "--graph", "step"])) == 0
    text = capsys.readouterr().out
    assert "argmax agreement 100.0%" in text and out.is_file()
    with pytest.raises(ValueError, match="must end in .onnx"):
        cmd.run(parser.parse_args([str(exported["ckpt"]), str(tmp_path / "x.bin")]))
    with pytest.raises(ValueError, match="no such checkpoint"):
        cmd.run(parser.parse_args([str(tmp_path / "missing.pt"), str(out)]))


@pytest.mark.slow
@pytest.mark.parametrize("name", [m for m in list_models() if m != "lif_convnet4"])
def test_every_model_exports_both_modes(name, tmp_path):
    T4 = 4
    model = _lively(create_model(name, num_classes=3, img_size=SIZE))
    fr = FramingSpec(T=T4, size=(SIZE, SIZE))
    x = _frames(2, seed=3, T=T4)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    win = load_predictor(export_onnx(model, tmp_path / "w.onnx", "window", framing=fr))
    preds = [win]
    if model.steppable:
        s = export_onnx(model, tmp_path / "s.onnx", "step", framing=fr)
        preds.append(load_predictor(s, graph="step"))
    else:  # reads its windows backwards too (direction features): a window graph only
        with pytest.raises(OnnxExportError, match="no step graph"):
            export_onnx(model, tmp_path / "s.onnx", "step", framing=fr)
    for pred in preds:
        diff, agree = _compare(pred.window(x), ref)
        assert diff < ATOL and agree == 1.0, (name, pred.graph, diff, agree)


def test_cuda_requests_fail_clearly_without_gpu(exported):
    """device='cuda' never silently runs on the CPU; 'auto' falls back and says what it got."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(PredictorError, match="no CUDA provider"):
            load_predictor(exported["window"], device="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(PredictorError, match="no CUDA device"):
            load_predictor(exported["ckpt"], backend="torch", device="cuda")
        assert load_predictor(exported["ckpt"], backend="torch", device="auto").device == "cpu"
