"""The ported NeuroBench DVS128 Gesture SNN against the original snnTorch module (test-only peer).

The reference below is built with snntorch itself from the documented architecture
(../shared/models/neurobench_dvs_gesture/README.md): conv5x5 → maxpool2 → snn.Leaky ×3, linear,
dropout, output snn.Leaky, ``init_hidden=True``, hidden state reset before each trial
(``snntorch.utils.reset``), one ``net(frame)`` call per time step as NeuroBench's
``SNNTorchModel`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuromoco.models.leaky import Leaky
from neuromoco.models.neurobench_gesture import (
    ARCH,
    CLASS_NAMES,
    build_model_from_source,
    convert_state_dict,
)
from neuromoco.models.registry import create_model, list_models
from neuromoco.models.stateful import StatefulStep
from tests.conftest import REPO, shared_file

snn = pytest.importorskip("snntorch", reason="snntorch (test-only peer, dev extra) not installed")
from snntorch import utils as snn_utils  # noqa: E402

SOURCE = REPO.parent / "shared" / "models" / "neurobench_dvs_gesture"
CLIP = "dvsgesture_csv/class2_user02_led.csv"
WEIGHTS = REPO / "models" / "weights"


def _source_dir() -> Path:
    if not (SOURCE / "dvs_gesture_snn.pt").is_file():
        pytest.skip(f"{SOURCE} is absent: the NeuroBench weights live in ../shared/models")
    return SOURCE


class SnnTorchReference(nn.Module):
    """NeuroBench's network, written with snntorch from the README's description."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 16, 5, padding="same")
        self.pool1 = nn.MaxPool2d(2)
        self.lif1 = snn.Leaky(beta=0.5, init_hidden=True)
        self.conv2 = nn.Conv2d(16, 32, 5, padding="same")
        self.pool2 = nn.MaxPool2d(2)
        self.lif2 = snn.Leaky(beta=0.5, init_hidden=True)
        self.conv3 = nn.Conv2d(32, 64, 5, padding="same")
        self.pool3 = nn.MaxPool2d(2)
        self.lif3 = snn.Leaky(beta=0.5, init_hidden=True)
        self.linear1 = nn.Linear(64 * 4 * 4, 11)
        self.dropout_4 = nn.Dropout(0.5956071342984011)
        self.lif4 = snn.Leaky(beta=0.5, init_hidden=True, output=True)

    def forward(self, x):
        y = self.lif1(self.pool1(self.conv1(x)))
        y = self.lif2(self.pool2(self.conv2(y)))
        y = self.lif3(self.pool3(self.conv3(y)))
        return self.lif4(self.dropout_4(self.linear1(y.flatten(1))))


def _reference(source: Path) -> SnnTorchReference:
    ref = SnnTorchReference()
    sd = torch.load(source / "dvs_gesture_snn.pt", map_location="cpu", weights_only=True)
    ref.load_state_dict(sd, strict=True)
    return ref.eval()


def _run_reference(ref, x):
    """Spikes ``[T, N, 11]`` and every layer's membrane per step ``[T, ...]`` (4 lists)."""
    snn_utils.reset(ref)
    spikes, mems = [], [[] for _ in range(4)]
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, _ = ref(x[t])
            spikes.append(spk)
            for i, lif in enumerate((ref.lif1, ref.lif2, ref.lif3, ref.lif4)):
                mems[i].append(lif.mem.clone())
    return torch.stack(spikes), [torch.stack(m) for m in mems]


def _random_frames(seed, T=40, N=2):
    g = torch.Generator().manual_seed(seed)
    # sparse event counts like a busy DVS stream at 32x32: enough to drive every layer to spike
    active = torch.rand(T, N, 2, 32, 32, generator=g) < 0.08
    counts = torch.randint(1, 6, (T, N, 2, 32, 32), generator=g).float()
    return active * counts


def _clip_frames(T=150, bin_us=40_000, seed=0) -> torch.Tensor:
    """The real clip framed by a plain numpy path (no project code): ⌊x/4⌋, ⌊y/4⌋, 40 ms bins,
    a random polarity per event (the CSV has none)."""
    data = np.loadtxt(shared_file(CLIP), delimiter=",", skiprows=1, dtype=np.int64)
    t, x, y = data[:, 0], data[:, 1], data[:, 2]
    p = np.random.default_rng(seed).integers(0, 2, t.shape[0])
    k = (t - t[0]) // bin_us
    keep = k < T
    frames = np.zeros((T, 2, 32, 32), np.float32)
    np.add.at(frames, (k[keep], p[keep], y[keep] // 4, x[keep] // 4), 1)
    return torch.from_numpy(frames)[:, None]


def _assert_identical(model, ref, x):
    want, mems = _run_reference(ref, x)
    assert want.sum() > 0, "the input must drive the output layer to spike"
    with torch.no_grad():
        got_window = model(x)
    assert torch.equal(got_window, want), "window mode spikes differ from snntorch"
    step = StatefulStep(model).eval()
    assert step.state_names == ["lif1", "lif2", "lif3", "lif_out"]
    state = step.init_state(x.shape[1])
    outs, states = [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, *state = step(x[t], *state)
            outs.append(out)
            states.append(state)
    assert torch.equal(torch.stack(outs), want), "stream mode spikes differ from snntorch"
    for i in range(4):  # every layer's membrane at every step
        got = torch.stack([s[i] for s in states])
        torch.testing.assert_close(got, mems[i], rtol=1e-6, atol=1e-5)
    return want


def test_registered_and_converted_keys():
    assert ARCH in list_models()
    model = create_model(ARCH, num_classes=11, img_size=32)
    assert model.output_kind == "spikes" and model.num_features == 1024
    assert len(CLASS_NAMES) == 11
    with pytest.raises(ValueError, match="divisible by 8"):
        create_model(ARCH, num_classes=11, img_size=30)
    with pytest.raises(ValueError, match="not NeuroBench"):
        convert_state_dict({"conv1.weight": torch.zeros(16, 2, 5, 5)})


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_leaky_neuron_matches_snntorch(reset):
    # every detail at once: beta > 1 (clamped to 1), graded spikes, a membrane exactly at the
    # threshold (strict '>': no spike), reset from the previous step's spike
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 5, 7, generator=g) * 0.8
    x[0, 0, 0] = 0.75  # U[0] == threshold exactly
    for beta in (0.9, 1.3):
        ours = Leaky(beta=beta, threshold=0.75, reset_mechanism=reset, graded_spikes_factor=2.5)
        peer = snn.Leaky(beta=beta, threshold=0.75, reset_mechanism=reset, graded_spikes_factor=2.5)
        mem = torch.zeros(5, 7)
        our_mem = torch.zeros(5, 7)
        spikes = []
        for t in range(x.shape[0]):
            spk, mem = peer(x[t], mem)
            our_spk, our_mem = ours.step(x[t], our_mem)
            assert torch.equal(our_spk, spk), (beta, t)
            assert torch.equal(our_mem, mem), (beta, t)
            spikes.append(spk)
        assert spikes[0][0, 0] == 0  # U == θ does not fire
        assert torch.stack(spikes).sum() > 0
        assert torch.equal(ours(x), torch.stack(spikes))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_identical_spikes_on_random_input(seed):
    src = _source_dir()
    _assert_identical(build_model_from_source(src), _reference(src), _random_frames(seed))


@pytest.mark.needs_shared
def test_identical_spikes_on_a_real_clip():
    src = _source_dir()
    x = _clip_frames()
    want = _assert_identical(build_model_from_source(src), _reference(src), x)
    # the clip is a right hand wave: the original network says so too
    assert CLASS_NAMES[int(want.sum(dim=(0, 1)).argmax())] == "right_hand_wave"


# --------------------------------------------------------------------------- spike read-out
class _SpikePredictor:
    """A predictor whose output layer 'spikes' from a fixed script: step k returns row k."""

    output = "spikes"

    def __init__(self, rows: np.ndarray, T: int):
        from neuromoco.framing import FramingSpec

        self.rows = rows.astype(np.float32)
        self.framing = FramingSpec(T=T, split_by="time", size=(4, 4), window_us=T * 1000)
        self.class_names = [f"c{i}" for i in range(rows.shape[1])]
        self._k = 0

    def window(self, frames):
        return self.rows[: frames.shape[0], None]

    def init_state(self, batch=1):
        return None

    def step(self, frame, state):
        out = self.rows[self._k % len(self.rows)][None]
        self._k += 1
        return out, state


def _window(T, index=0):
    from neuromoco.streaming.windower import Window

    return Window(
        1000 * (index + T), 1000 * index, np.zeros((T, 2, 4, 4), np.float32), 5, index, True
    )


def test_spike_decision_window_mode():
    from neuromoco.streaming.session import InferenceSession

    rows = np.zeros((6, 4))
    rows[[0, 2, 3], 2] = 1  # class 2: 3 spikes
    rows[[1, 4], 1] = 1  # class 1: 2 spikes
    rows[5, 3] = 1
    pred = InferenceSession(_SpikePredictor(rows, 6), "window").process(_window(6))
    assert pred.output == "spikes" and pred.label == "c2"
    np.testing.assert_allclose(pred.probs, [0, 2 / 6, 3 / 6, 1 / 6], rtol=1e-6)
    np.testing.assert_array_equal(pred.probs_per_step, rows)  # the per-step raster
    assert pred.to_json()["output"] == "spikes"
    # no spike at all: uniform, confidence 1/C; a tie goes to the lower index
    none = InferenceSession(_SpikePredictor(np.zeros((6, 4)), 6), "window").process(_window(6))
    np.testing.assert_allclose(none.probs, 0.25)
    assert none.label_index == 0 and none.confidence == pytest.approx(0.25)
    tie = np.zeros((6, 4))
    tie[0, 3] = tie[1, 1] = 1
    assert InferenceSession(_SpikePredictor(tie, 6), "window").process(_window(6)).label == "c1"


def test_spike_decision_stream_mode_is_a_trailing_count():
    from neuromoco.streaming.session import InferenceSession

    T = 4
    rows = np.zeros((10, 3))
    rows[:6, 0] = 1  # class 0 spikes early, class 2 late
    rows[6:, 2] = 1
    rows[5, 1] = 1
    s = InferenceSession(_SpikePredictor(rows, T), "stream", early_threshold=0.9, early_steps=2)
    preds = [s.process(_window(1, k)) for k in range(10)]
    assert [p.label for p in preds] == ["c0"] * 7 + ["c0", "c2", "c2"]  # counts of the last T
    last = preds[-1]
    np.testing.assert_array_equal(last.probs_per_step, rows[-T:])
    np.testing.assert_allclose(last.probs, [0, 0, 1])
    # early decision on the running shares of the first steps
    assert preds[1].decision == "c0" and preds[1].decision_step == 1


def test_shipped_onnx_step_graph_emits_the_same_spikes_as_torch():
    """The shipped step graph against the shipped checkpoint (the export itself runs in the
    slow build test); spikes must be identical, stepped and as a window."""
    pytest.importorskip("onnxruntime")
    from neuromoco.models.inference import load_predictor
    from neuromoco.models.neurobench_gesture import gesture_framing

    tp = load_predictor(WEIGHTS / "dvs128_gesture.pt", backend="torch", graph="step", device="cpu")
    op = load_predictor(WEIGHTS / "dvs128_gesture.onnx", backend="onnx", graph="step", device="cpu")
    assert tp.output == op.output == "spikes" and tp.framing == op.framing == gesture_framing()
    x = _random_frames(5, T=40, N=2).numpy()
    want = tp.window(x)
    assert want.sum() > 0
    np.testing.assert_array_equal(op.window(x), want)  # ONNX steps T times
    state = tp.init_state(2)
    for t in range(x.shape[0]):
        out, state = tp.step(x[t], state)
        np.testing.assert_array_equal(out, want[t])


# --------------------------------------------------------------------------- shipped files


def test_shipped_model_files():
    from neuromoco.models.checkpoint import build_model, load_checkpoint
    from neuromoco.models.neurobench_gesture import SOURCE_SHA256, gesture_framing
    from neuromoco.models.onnx_export import read_onnx_metadata

    ckpt = load_checkpoint(WEIGHTS / "dvs128_gesture.pt")
    assert ckpt.arch == ARCH and ckpt.class_names == CLASS_NAMES
    assert ckpt.framing == gesture_framing() and ckpt.framing.denoise_us == 10_000
    assert ckpt.meta["source"]["sha256"] == SOURCE_SHA256
    assert ckpt.meta["source"]["licence"] == "Apache-2.0"
    model = build_model(ckpt)
    assert model.output_kind == "spikes"
    meta = read_onnx_metadata(WEIGHTS / "dvs128_gesture.onnx")
    assert meta["mode"] == "step" and meta["output"] == "spikes"
    assert meta["class_names"] == CLASS_NAMES and meta["framing"] == gesture_framing().to_dict()
    licence = (WEIGHTS / "LICENSE.dvs128_gesture").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert (REPO / "models" / "MODEL_CARD_dvs128_gesture.md").is_file()
    # the shipped weights are the source's, converted (when the source is here to compare)
    if (SOURCE / "dvs_gesture_snn.pt").is_file():
        src = build_model_from_source(SOURCE)
        for k, v in src.state_dict().items():
            assert torch.equal(model.state_dict()[k], v), k


@pytest.mark.slow
def test_build_command(tmp_path):
    from neuromoco.models.neurobench_gesture import main

    src = _source_dir()
    out = tmp_path / "weights"
    assert main(["--build", "--source", str(src), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "LICENSE.dvs128_gesture",
        "dvs128_gesture.json",
        "dvs128_gesture.onnx",
        "dvs128_gesture.pt",
    ]
    # a source that is not byte-identical is refused, naming the file, and nothing is replaced
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray((src / "dvs_gesture_snn.pt").read_bytes())
    data[-100] ^= 1
    (bad / "dvs_gesture_snn.pt").write_bytes(bytes(data))
    (bad / "LICENSE").write_bytes((src / "LICENSE").read_bytes())
    before = (out / "dvs128_gesture.pt").read_bytes()
    with pytest.raises(ValueError, match="dvs_gesture_snn.pt: sha256"):
        from neuromoco.models.neurobench_gesture import build

        build(bad, out)
    assert (out / "dvs128_gesture.pt").read_bytes() == before
