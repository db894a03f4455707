"""Export a model to ONNX as a ``window`` graph or a stateful ``step`` graph.

Graph conventions (tools rely on them):

* ``window``: one input ``frames`` ``[T, N, 2, H, W]`` (T fixed by the framing spec, N dynamic)
  → one output ``logits`` ``[T, N, C]`` (per-step logits; neurons start from zero).
* ``step``: inputs ``frame`` ``[N, 2, H, W]`` then ``state_0 .. state_{k-1}`` (membrane
  potentials) → outputs ``logits`` ``[N, C]`` then ``new_state_0 .. new_state_{k-1}`` in the same
  order. The initial state is all zeros of the declared shapes; stepping T frames reproduces the
  window graph.

Weights are embedded (``external_data=False``: one self-contained file). Metadata properties
(``neuromoco.*``, JSON values) carry the framing spec, class names, architecture and kwargs, graph kind (key ``mode``: ``onnx_metadata.GRAPH_KEY``),
state names/shapes (without the batch axis) and ``output`` (``"logits"``, or ``"spikes"`` for a
model whose output layer spikes, e.g. ``neurobench_dvs_gesture``: the ``logits`` output then holds
its output spikes), so an app needs only the ``.onnx`` file.
Uses the dynamo exporter (``torch.onnx.export(dynamo=True)``; the legacy exporter cannot trace
spikingjelly's LIF op). The file is written atomically.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from neuromoco.atomic import atomic_path
from neuromoco.framing import FramingSpec
from neuromoco.models.checkpoint import Checkpoint, build_model, load_checkpoint
from neuromoco.models.onnx_metadata import (
    GRAPH_KEY,
    GRAPHS,
    META_PREFIX,
    STEPPABLE_KEY,
    parse_metadata,
)
from neuromoco.models.stateful import StatefulStep

ONNX_FORMAT_VERSION = 1
OUTPUT_KINDS = ("logits", "spikes")


class OnnxExportError(ValueError):
    """Export failed: names the output file and the reason."""


def _resolve(checkpoint_or_model, framing, class_names):
    if isinstance(checkpoint_or_model, str | Path | Checkpoint):
        ckpt = (
            checkpoint_or_model
            if isinstance(checkpoint_or_model, Checkpoint)
            else load_checkpoint(checkpoint_or_model)
        )
        model = build_model(ckpt)
        return model, ckpt.arch, dict(ckpt.model_kwargs), ckpt.framing, list(ckpt.class_names)
    model = checkpoint_or_model
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"expected a checkpoint path, Checkpoint or nn.Module, got {type(model).__name__}"
        )
    kwargs = dict(getattr(model, "model_kwargs", {}) or {})
    if framing is None:
        from neuromoco.models.classifier import as_hw

        h, w = as_hw(kwargs.get("img_size", 128))
        framing = FramingSpec(size=(w, h))
    n = int(getattr(model, "num_classes", 0))
    class_names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(n)]
    if n and len(class_names) != n:
        raise ValueError(f"{len(class_names)} class names for a model with {n} classes")
    return model, getattr(model, "arch", type(model).__name__), kwargs, framing, class_names


def export_onnx(
    checkpoint_or_model,
    out_path: str | Path,
    graph: str = "window",
    *,
    framing: FramingSpec | None = None,
    class_names: list[str] | None = None,
    opset: int | None = None,
    verbose: bool = False,
) -> Path:
    """Export a checkpoint (path or ``Checkpoint``) or a model to ``out_path``.

    Args:
        checkpoint_or_model: ``.pt`` checkpoint path, ``Checkpoint``, or an ``SNNClassifier``
            (then ``framing`` gives T and the input size, default T=16 at the model's img_size,
            and ``class_names`` default to ``class_0..``).
        out_path: the ``.onnx`` file to write (atomically).
        graph: ``"window"`` or ``"step"`` (see the module docstring).
        opset: ONNX opset (default: the exporter's).
        verbose: show the exporter's progress messages.

    Returns:
        ``out_path``.
    """
    import onnx

    out_path = Path(out_path)
    if graph not in GRAPHS:
        raise ValueError(f"graph must be 'window' or 'step', got {graph!r}")
    model, arch, kwargs, framing, class_names = _resolve(checkpoint_or_model, framing, class_names)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    w, h = framing.size
    c_in = int(getattr(model, "in_channels", framing.channels))
    # Example batch 2: an example batch of 1 would be specialised as a constant by torch.export.
    batch = torch.export.Dim("batch", min=1, max=4096)
    meta = {
        "format_version": ONNX_FORMAT_VERSION,
        GRAPH_KEY: graph,
        "arch": arch,
        "output": output_kind(model),
        STEPPABLE_KEY: bool(getattr(model, "steppable", True)),
        "model_kwargs": kwargs,
        "class_names": class_names,
        "framing": framing.to_dict(),
        "input_shape": [framing.T, "N", c_in, h, w] if graph == "window" else ["N", c_in, h, w],
    }
    if graph == "window":
        module = model
        args = (torch.zeros(framing.T, 2, c_in, h, w, device=device),)
        input_names, output_names = ["frames"], ["logits"]
        dynamic_shapes = ({1: batch},)
    else:
        try:
            module = StatefulStep(model).eval()
        except ValueError as e:  # e.g. a model that reads its windows backwards too
            raise OnnxExportError(f"{out_path}: no step graph: {e}") from None
        states = module.init_state(2, device=device, frame_shape=(c_in, h, w))
        args = (torch.zeros(2, c_in, h, w, device=device), *states)
        k = len(states)
        input_names = ["frame"] + [f"state_{i}" for i in range(k)]
        output_names = ["logits"] + [f"new_state_{i}" for i in range(k)]
        # forward(frame, *states): torch.export groups the varargs into one tuple.
        dynamic_shapes = ({0: batch}, tuple({0: batch} for _ in range(k)))
        meta["state_names"] = [f"state_{i}" for i in range(k)]
        meta["state_layers"] = module.state_names
        meta["state_shapes"] = [list(s.shape[1:]) for s in states]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=".onnx-export-", dir=out_path.parent)
    raw = Path(tmpdir) / "raw.onnx"  # the exporter's intermediate, never a user's file
    try:
        sink = io.StringIO()
        quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(sink)
        with quiet, _quiet_loggers(not verbose), warnings.catch_warnings(), torch.no_grad():
            if not verbose:
                warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    module,
                    args,
                    str(raw),
                    dynamo=True,
                    external_data=False,
                    input_names=input_names,
                    output_names=output_names,
                    dynamic_shapes=dynamic_shapes,
                    opset_version=opset,
                    optimize=True,
                )
            except Exception as e:
                raise OnnxExportError(
                    f"{out_path}: ONNX export of {arch} ({graph}) failed: {e}"
                ) from e
        proto = onnx.load(str(raw))
        got_in = [i.name for i in proto.graph.input]
        got_out = [o.name for o in proto.graph.output]
        if got_in != input_names or got_out != output_names:
            raise OnnxExportError(
                f"{out_path}: exported graph has inputs {got_in} / outputs {got_out}, "
                f"expected {input_names} / {output_names}"
            )
        del proto.metadata_props[:]
        for key, value in meta.items():
            p = proto.metadata_props.add()
            p.key = META_PREFIX + key
            p.value = json.dumps(value)
        proto.producer_name = "neuromoco"
        with atomic_path(out_path, suffix=".onnx") as tmp:
            onnx.save(proto, str(tmp))
    finally:
        with contextlib.suppress(FileNotFoundError):
            raw.unlink()
        with contextlib.suppress(OSError):
            for f in Path(tmpdir).iterdir():  # e.g. a stray .onnx.data
                f.unlink()
            os.rmdir(tmpdir)
        model.train(was_training)
    return out_path


def output_kind(model: nn.Module) -> str:
    """``"spikes"`` for a model whose outputs are output-layer spikes, else ``"logits"``."""
    kind = getattr(model, "output_kind", "logits")
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"{type(model).__name__}.output_kind must be one of {OUTPUT_KINDS}")
    return kind


@contextlib.contextmanager
def _quiet_loggers(enabled: bool):
    """Hide the exporter's harmless warnings (e.g. "torchvision is not installed. Skipping ...")."""
    names = (
        "torch.onnx",
        "torch.onnx._internal.exporter._registration",
        "torch.export",
        "torch._export",
    )
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    if enabled:
        for lg, _ in saved:
            lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in saved:
            lg.setLevel(level)


def read_onnx_metadata(path: str | Path) -> dict:
    """The ``neuromoco.*`` metadata of an exported file, JSON-decoded, keys without the prefix."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such ONNX file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ValueError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    return parse_metadata({p.key: p.value for p in proto.metadata_props}, path)
