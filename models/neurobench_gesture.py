"""NeuroBench's DVS128 Gesture SNN (snnTorch, Apache-2.0) in the project's model code.

The architecture of ``NeuroBench/neurobench`` (commit e521c28,
``examples/dvs_gesture/model_data/dvs_gesture_snn``), per time step, input ``[N, 2, 32, 32]``
(channel 0 = OFF, 1 = ON event counts)::

    conv5x5(2→16, same, bias)  → maxpool2 → Leaky      # 16×16
    conv5x5(16→32, same, bias) → maxpool2 → Leaky      # 8×8
    conv5x5(32→64, same, bias) → maxpool2 → Leaky      # 4×4
    flatten (64·4·4 = 1024) → linear(1024→11) → dropout (training only) → Leaky (output)

with snnTorch's ``Leaky`` neuron (``neuromoco.models.leaky``: subtractive reset from the previous
step's spike, per-layer β and θ). The model's outputs are the output layer's **spikes** per step
(``output_kind = "spikes"``): ``forward(x [T, N, 2, H, W]) -> [T, N, 11]`` in {0, g}. The
decision of the original benchmark is the class whose output neuron spiked most over the trial
(NeuroBench's ``ChooseMaxCount``).

Registered as ``neurobench_dvs_gesture``. :func:`convert_state_dict` maps the original state-dict
keys onto it; ``python -m neuromoco.models.neurobench_gesture --build`` converts the shipped
weights into the bundled model ``dvs128-gesture`` (``models/weights/dvs128_gesture.*``).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neuromoco.gesture_classes import DVS128_GESTURE_CLASSES as DVS128_CLASS_NAMES
from neuromoco.models.classifier import PerStep, SNNClassifier, as_hw
from neuromoco.models.leaky import Leaky, reset_mechanism_name
from neuromoco.models.registry import register_model

if __name__ == "__main__":  # pragma: no cover
    # ``python -m``: run the CLI from the module under its package name, so the architecture is
    # registered once (running this file's own definitions as __main__ would register it twice)
    from neuromoco.models.neurobench_gesture import main

    sys.exit(main())

ARCH = "neurobench_dvs_gesture"

CLASS_NAMES = list(DVS128_CLASS_NAMES)
"""DVS128 Gesture's 11 classes in the dataset's order (label = IBM class number − 1)."""

SOURCE_FILE = "dvs_gesture_snn.pt"
SOURCE_SHA256 = "2d3a0d8165e0d0a818ba29c735e32b5bb7ada9e1700912d05ae74770e889c370"
SOURCE_DROPOUT = 0.5956071342984011  # NeuroBench's training hyperparameter (train-only)
REPORTED_ACCURACY = (
    0.8636363636363633  # NeuroBench's benchmark output on the DVS128 Gesture test set
)

BIN_US = 40_000
"""Fixed bin duration: DVS128 Gesture trials are ~6 s framed into 150 bins (≈ 40 ms each)."""
T_STEPS = 150
DENOISE_US = 10_000


class NeuroBenchGestureSNN(SNNClassifier):
    """See the module docstring. ``num_features`` = 64·(H/8)·(W/8) (1024 at 32×32)."""

    output_kind = "spikes"

    def __init__(
        self,
        num_classes: int = 11,
        in_channels: int = 2,
        img_size: int | tuple[int, int] = 32,
        widths: tuple[int, int, int] = (16, 32, 64),
        kernel_size: int = 5,
        dropout: float = SOURCE_DROPOUT,
        reset_mechanism: tuple[str, ...] = ("subtract",) * 4,
    ):
        h, w = as_hw(img_size)
        widths = tuple(int(c) for c in widths)
        if len(widths) != 3 or min(widths) <= 0:
            raise ValueError(f"widths must be 3 positive channel counts, got {widths!r}")
        if h % 8 or w % 8:
            raise ValueError(f"img_size {(h, w)} must be divisible by 8 (three 2x2 poolings)")
        if int(kernel_size) % 2 != 1:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {kernel_size}")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        resets = [reset_mechanism_name(r) for r in reset_mechanism]
        if len(resets) != 4:
            raise ValueError(f"reset_mechanism needs 4 entries (3 hidden + output), got {resets}")
        super().__init__(widths[-1] * (h // 8) * (w // 8), num_classes, in_channels)
        k = int(kernel_size)
        cin = in_channels
        for i, c in enumerate(widths, start=1):
            # 'same' padding for an odd kernel at stride 1 is k // 2 on every side
            setattr(self, f"conv{i}", PerStep(nn.Conv2d(cin, c, k, 1, k // 2, bias=True)))
            setattr(self, f"lif{i}", Leaky(reset_mechanism=resets[i - 1]))
            cin = c
        self.pool = PerStep(nn.MaxPool2d(2))
        self.dropout = nn.Dropout(float(dropout))
        self.lif_out = Leaky(reset_mechanism=resets[3])

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        for i in (1, 2, 3):
            x = getattr(self, f"lif{i}")(self.pool(getattr(self, f"conv{i}")(x)))
        return x.flatten(2)  # [T, N, C·H·W], snnTorch's flatten(1) order per step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[T, N, num_classes]`` of frames ``[T, N, C_in, H, W]``."""
        return self.lif_out(self.dropout(self.head(self.forward_features(x))))


@register_model
def neurobench_dvs_gesture(
    num_classes: int = 11,
    in_channels: int = 2,
    img_size: int | tuple[int, int] = 32,
    widths: tuple[int, int, int] | list[int] = (16, 32, 64),
    kernel_size: int = 5,
    dropout: float = SOURCE_DROPOUT,
    reset_mechanism: tuple[str, ...] | list[str] = ("subtract",) * 4,
) -> NeuroBenchGestureSNN:
    """NeuroBench's DVS128 Gesture SNN (3 conv-pool-Leaky blocks, linear, Leaky output; 32×32)."""
    return NeuroBenchGestureSNN(
        num_classes, in_channels, img_size, tuple(widths), kernel_size, dropout,
        tuple(reset_mechanism),
    )  # fmt: skip


# ---------------------------------------------------------------------------- conversion
_LAYER_MAP = {
    "conv1": "conv1.0",
    "conv2": "conv2.0",
    "conv3": "conv3.0",
    "linear1": "head",
    "lif1": "lif1",
    "lif2": "lif2",
    "lif3": "lif3",
    "lif4": "lif_out",
}
_NEURON_KEYS = ("beta", "threshold", "graded_spikes_factor")


def convert_state_dict(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    """Map NeuroBench's snnTorch state dict onto :class:`NeuroBenchGestureSNN`.

    Args:
        sd: the original ``state_dict`` (keys ``conv1.weight`` … ``lif4.reset_mechanism_val``).

    Returns:
        ``(state_dict, model_kwargs)``: the project's keys (``conv1.0.weight``, ``head.weight``,
        ``lif_out.threshold``, …) and the ``create_model`` keyword arguments (incl. each layer's
        reset mechanism, read from ``lifK.reset_mechanism_val``).

    Raises:
        ValueError: a missing, unexpected or ill-shaped key (named).
    """
    out: dict[str, torch.Tensor] = {}
    resets: dict[str, str] = {}
    expected = {
        f"{layer}.{p}"
        for layer in ("conv1", "conv2", "conv3", "linear1")
        for p in ("weight", "bias")
    }
    expected |= {f"lif{i}.{k}" for i in range(1, 5) for k in (*_NEURON_KEYS, "reset_mechanism_val")}
    missing = sorted(expected - set(sd))
    unexpected = sorted(set(sd) - expected)
    if missing or unexpected:
        raise ValueError(
            f"not NeuroBench's DVS128 Gesture state dict: missing {missing}, unexpected {unexpected}"
        )
    for key, value in sd.items():
        layer, _, param = key.partition(".")
        if param == "reset_mechanism_val":
            resets[layer] = reset_mechanism_name(int(value))
            continue
        if layer.startswith("lif") and value.numel() != 1:
            raise ValueError(f"{key}: expected one value per layer, got shape {tuple(value.shape)}")
        t = value.detach().to("cpu", torch.float32)
        out[f"{_LAYER_MAP[layer]}.{param}"] = t.reshape(()) if layer.startswith("lif") else t
    w1 = sd["conv1.weight"]
    widths = [int(sd[f"conv{i}.weight"].shape[0]) for i in (1, 2, 3)]
    num_classes, num_features = (int(v) for v in sd["linear1.weight"].shape)
    side = int(round((num_features / widths[-1]) ** 0.5)) * 8
    kwargs = {
        "num_classes": num_classes,
        "in_channels": int(w1.shape[1]),
        "img_size": side,
        "widths": widths,
        "kernel_size": int(w1.shape[-1]),
        "dropout": SOURCE_DROPOUT,
        "reset_mechanism": [resets[f"lif{i}"] for i in range(1, 5)],
    }
    return out, kwargs


def gesture_framing():
    """The bundled model's :class:`~neuromoco.framing.FramingSpec`: 10 ms neighbour denoise
    (tonic's ``Denoise(filter_time=10000)``), 128→32 downsample on event coordinates (⌊x/4⌋),
    150 fixed bins of 40 ms (a 6 s window), event counts."""
    from neuromoco.framing import FramingSpec

    return FramingSpec(
        T=T_STEPS,
        split_by="time",
        size=(32, 32),
        sensor_size=(128, 128),
        window_us=T_STEPS * BIN_US,
        normalize="none",
        denoise_us=DENOISE_US,
    )


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_source(source: str | Path) -> dict[str, torch.Tensor]:
    """Read the original state dict (file or folder holding ``dvs_gesture_snn.pt``) after
    checking its sha256; ``ValueError`` naming the file otherwise."""
    p = Path(source)
    if p.is_dir():
        p = p / SOURCE_FILE
    if not p.is_file():
        raise ValueError(f"{p}: no such file (NeuroBench's {SOURCE_FILE})")
    digest = sha256_file(p)
    if digest != SOURCE_SHA256:
        raise ValueError(f"{p}: sha256 {digest} is not the expected {SOURCE_SHA256}")
    sd = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        raise ValueError(f"{p}: not a state dict ({type(sd).__name__})")
    return sd


def build_model_from_source(source: str | Path) -> NeuroBenchGestureSNN:
    """The ported model with the original weights (eval mode)."""
    from neuromoco.models.registry import create_model

    sd, kwargs = convert_state_dict(load_source(source))
    model = create_model(ARCH, **kwargs)
    model.load_state_dict(sd, strict=True)
    return model.eval()


# ---------------------------------------------------------------------------- build
_REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = _REPO.parent / "shared" / "models" / "neurobench_dvs_gesture"
STEM = "dvs128_gesture"


def build(source: str | Path = DEFAULT_SOURCE, out: str | Path | None = None) -> dict:
    """Convert NeuroBench's weights into the bundled model ``dvs128-gesture``.

    Writes ``{out}/dvs128_gesture.pt`` (checkpoint), ``.onnx`` (step graph, weights embedded),
    ``.json`` (figures) and ``LICENSE.dvs128_gesture`` (the source's Apache-2.0 text), all
    replaced together only once every file is written and checked (``atomic_paths``). Checks:
    the source's sha256, the window forward == stepping, the ONNX step graph's spikes == torch's.
    Accuracy on labelled real recordings is measured afterwards through the app's streaming path
    (``neuromoco evaluate dvs128-gesture --recordings ...``; ``python -m bench.real_clips``
    records it in the ``.json``).

    Returns the figures written to the ``.json``.
    """
    import json
    import tempfile

    from neuromoco.atomic import atomic_paths
    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.inference import load_predictor
    from neuromoco.models.onnx_export import export_onnx

    source = Path(source)
    out = Path(out) if out is not None else Path(__file__).resolve().parent / "weights"
    src_file = source / SOURCE_FILE if source.is_dir() else source
    licence = src_file.parent / "LICENSE"
    if not licence.is_file():
        raise ValueError(
            f"{licence}: the source's licence text is missing (Apache-2.0 requires it)"
        )
    sd, kwargs = convert_state_dict(load_source(src_file))
    from neuromoco.models.registry import create_model

    model = create_model(ARCH, **kwargs)
    model.load_state_dict(sd, strict=True)
    model.eval()
    framing = gesture_framing()
    meta = {
        "source": {
            "repository": "https://github.com/NeuroBench/neurobench",
            "commit": "e521c28",
            "path": "examples/dvs_gesture/model_data/dvs_gesture_snn",
            "sha256": SOURCE_SHA256,
            "licence": "Apache-2.0",
            "licence_file": f"LICENSE.{STEM}",
            "notice": "Weights by the NeuroBench authors (Apache License 2.0); converted to "
            "NeuroMoCo's model code without retraining.",
        },
        "reported_test_accuracy": REPORTED_ACCURACY,
        "output": "spikes",
        "decision": "class with the most output spikes over the last T steps",
    }
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gesture-build-", dir=out) as tmp:
        tmp = Path(tmp)
        ckpt = save_checkpoint(
            tmp / f"{STEM}.pt", model, arch=ARCH, model_kwargs=kwargs,
            class_names=CLASS_NAMES, framing=framing, meta=meta,
        )  # fmt: skip
        onnx_path = export_onnx(ckpt, tmp / f"{STEM}.onnx", graph="step")
        parity = _check_parity(ckpt, onnx_path, load_predictor)
        figures = {
            "arch": ARCH,
            "params": int(sum(p.numel() for p in model.parameters())),
            "framing": framing.to_dict(),
            "output": "spikes",
            "source_sha256": SOURCE_SHA256,
            "reported_test_accuracy": REPORTED_ACCURACY,
            "onnx_parity": parity,
        }
        (tmp / f"{STEM}.json").write_text(json.dumps(figures, indent=2) + "\n")
        (tmp / f"LICENSE.{STEM}").write_bytes(licence.read_bytes())
        names = [f"{STEM}.pt", f"{STEM}.onnx", f"{STEM}.json", f"LICENSE.{STEM}"]
        with atomic_paths([out / n for n in names], mkdir=True) as targets:
            for n, target in zip(names, targets, strict=True):
                target.write_bytes((tmp / n).read_bytes())
    return figures


def _check_parity(ckpt: Path, onnx_path: Path, load_predictor, steps: int = 60) -> dict:
    """Random event-count frames through torch window, torch step and the ONNX step graph:
    the output spikes must be identical."""
    g = np.random.default_rng(0)
    x = (g.random((steps, 2, 2, 32, 32)) < 0.08) * g.integers(1, 6, (steps, 2, 2, 32, 32))
    x = x.astype(np.float32)
    torch_p = load_predictor(ckpt, backend="torch", graph="step", device="cpu")
    onnx_p = load_predictor(onnx_path, backend="onnx", graph="step", device="cpu")
    want = torch_p.window(x)
    state_t, state_o = torch_p.init_state(2), onnx_p.init_state(2)
    for t in range(steps):
        st, state_t = torch_p.step(x[t], state_t)
        so, state_o = onnx_p.step(x[t], state_o)
        if not (np.array_equal(st, want[t]) and np.array_equal(so, want[t])):
            raise RuntimeError(f"{onnx_path.name}: torch/ONNX spikes differ at step {t}")
    if want.sum() == 0:
        raise RuntimeError("parity check input drove no output spike (check is void)")
    return {"steps": steps, "batch": 2, "output_spikes": int(want.sum()), "identical": True}


def main(argv: list[str] | None = None) -> int:
    """``python -m neuromoco.models.neurobench_gesture --build [--source DIR] [--out DIR]``."""
    import argparse
    import json

    ap = argparse.ArgumentParser(
        prog="python -m neuromoco.models.neurobench_gesture",
        description="Convert NeuroBench's DVS128 Gesture SNN into the bundled model dvs128-gesture.",
    )
    ap.add_argument("--build", action="store_true", help="convert, check and write the files")
    ap.add_argument(
        "--source", default=str(DEFAULT_SOURCE), help="folder with dvs_gesture_snn.pt and LICENSE"
    )
    ap.add_argument("--out", default=None, help="output folder (default: models/weights)")
    args = ap.parse_args(argv)
    if not args.build:
        ap.print_help()
        return 2
    try:
        figures = build(args.source, args.out)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(figures, indent=2))
    return 0
