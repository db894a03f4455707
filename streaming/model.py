"""Opening the model a stream runs on: a bundled model's name, a ``.pt`` checkpoint or an ``.onnx`` file.

The verbs, one job each: ``neuromoco.models.bundled.resolve_model`` (a name or a path → the file),
``neuromoco.models.checkpoint.load_checkpoint``/``load_model`` and
``neuromoco.models.inference.load_predictor`` (a file → its data, torch module or predictor, for
a model graph), and :func:`open_model` here (a name or a path → a predictor for a streaming mode:
the one call the app and the commands make)."""

from __future__ import annotations

from pathlib import Path

# the bundled models' names and defaults, re-exported as they are: the app reaches them here
from neuromoco.models.bundled import (
    BUNDLED,
    bundled_model_path,
    default_model_name,
    preferred_mode,
    resolve_model,
)

from .engine_config import check_mode

__all__ = [
    "ModelError",
    "bundled_model_path",
    "default_model_name",
    "graph_for",
    "inference_threads",
    "open_model",
    "preferred_mode",
]


class ModelError(ValueError):
    """No usable model (missing file, unknown name, unreadable checkpoint, wrong backend...)."""


def inference_threads() -> int:
    """The intra-op CPU threads a streaming model gets by default: half the CPUs, at least 1.

    The other half is left to the source thread, framing and drawing: on the 2-core machine a
    small net with 2 torch threads beside a busy source ran up to 8× slower than with 1
    (oversubscription; docs/benchmarks.md). One policy for the app, its headless runner and
    ``neuromoco evaluate --recordings``."""
    import os

    return max(1, (os.cpu_count() or 2) // 2)


def graph_for(mode: str) -> str:
    """The model graph that runs streaming ``mode``: ``window`` → ``window``, ``stream`` → ``step``.

    The one place where the user's word for per-bin inference (``stream``: ``--mode``,
    ``EngineConfig.mode``, the app) becomes the model's word (``step``: the stateful ONNX graph,
    ``neuromoco.models.onnx_metadata.GRAPHS``, ``export-onnx --graph step``). ``ValueError`` for
    a mode not in :data:`~neuromoco.streaming.engine_config.MODES`."""
    return "step" if check_mode(mode) == "stream" else "window"


def open_model(
    model: str | Path | None = None,
    backend: str = "auto",
    mode: str = "window",
    device: str = "auto",
    threads: int | None = None,
    source_kind: str | None = None,
):
    """A predictor for streaming ``mode`` (``"window"`` or ``"stream"``; :func:`graph_for`).

    ``model``: a bundled model's name (``dvs128-gesture``, ``gesture-demo``: see
    ``neuromoco.models.bundled``), a model the user taught, a ``.pt`` checkpoint or an ``.onnx``
    file; None takes the default bundled model of ``source_kind`` (``default_model_name``). The
    predictor gets a ``model_name`` attribute (the
    bundled name or the file name) for window titles and status lines.

    ``threads``: intra-op CPU threads (default :func:`inference_threads`). Every failure is a
    :class:`ModelError` naming the model and the reason (no traceback needed); an unknown
    ``mode`` is a ``ValueError``.
    """
    graph = graph_for(mode)
    m = BUNDLED.get(model) if isinstance(model, str) else None
    if m is not None and m.kind == "encoder":
        raise ModelError(
            f"{model} is an encoder without classes: teach it gestures first "
            f"(neuromoco teach --examples EXAMPLES.csv --out MINE.onnx --base {model} --only), "
            "then --model MINE.onnx"
        )
    try:
        # a bundled model ships both files: the torch backend needs the checkpoint
        prefer = "pt" if backend == "torch" else "onnx"
        path, name = resolve_model(model, source_kind, prefer=prefer)
    except (ValueError, FileNotFoundError) as e:
        raise ModelError(f"{e}; pass --model NAME or PATH (.pt checkpoint or .onnx file)") from None
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        from neuromoco.models.inference import load_predictor
    except ImportError as e:  # pragma: no cover - broken install
        raise ModelError(f"cannot import the model runtime ({e})") from None
    try:
        predictor = load_predictor(
            path,
            backend=backend,
            device=device,
            graph=graph,
            threads=inference_threads() if threads is None else threads,
        )
    except (ValueError, OSError, KeyError, RuntimeError) as e:
        msg = str(e)
        if str(path) not in msg:
            msg = f"{path}: {msg}"
        raise ModelError(f"cannot load model: {msg}") from None
    predictor.model_name = name
    return predictor
