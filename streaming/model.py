"""Loading the model a stream runs on: a bundled model's name, a ``.pt`` checkpoint or an ``.onnx`` file."""

from __future__ import annotations

from pathlib import Path


class ModelError(ValueError):
    """No usable model (missing file, unknown name, unreadable checkpoint, wrong backend...)."""


def bundled_model_path(name: str | None = None) -> Path | None:
    """The file of bundled model ``name`` (default: the default bundled model: an ``.onnx`` step
    graph, else its ``.pt``), or None if absent."""
    from neuromoco.models.bundled import DEFAULT_MODEL
    from neuromoco.models.bundled import bundled_model_path as path

    return path(name or DEFAULT_MODEL)


def inference_threads() -> int:
    """The intra-op CPU threads a streaming model gets by default: half the CPUs, at least 1.

    The other half is left to the source thread, framing and drawing: on the 2-core machine a
    small net with 2 torch threads beside a busy source ran up to 8× slower than with 1
    (oversubscription; docs/benchmarks.md). One policy for the app, its headless runner and
    ``neuromoco evaluate --recordings``."""
    import os

    return max(1, (os.cpu_count() or 2) // 2)


def default_model_name(source_kind: str | None = None) -> str:
    """The bundled model a source of ``source_kind`` runs when no model is given (``camera``,
    ``file``: ``dvs128-gesture``; ``demo``, ``webcam``: ``gesture-demo``)."""
    from neuromoco.models.bundled import default_model_name as name

    return name(source_kind)


def preferred_mode(model: str | Path | None, source_kind: str | None = None) -> str:
    """The mode ``model`` runs in when none is asked for (``stream`` for ``dvs128-gesture``,
    ``window`` otherwise); see ``neuromoco.models.bundled.preferred_mode``."""
    from neuromoco.models.bundled import preferred_mode as mode

    return mode(model, source_kind)


def open_model(
    model: str | Path | None = None,
    backend: str = "auto",
    mode: str = "window",
    device: str = "auto",
    threads: int | None = None,
    source_kind: str | None = None,
):
    """Load a predictor for streaming ``mode`` (``"window"`` or ``"stream"``).

    ``model``: a bundled model's name (``dvs128-gesture``, ``gesture-demo``: see
    ``neuromoco.models.bundled``), a ``.pt`` checkpoint or an ``.onnx`` file; None takes the
    default bundled model of ``source_kind`` (``camera``/``file``: ``dvs128-gesture``;
    ``demo``/``webcam``: ``gesture-demo``). The predictor gets a ``model_name`` attribute (the
    bundled name or the file name) for window titles and status lines.

    ``threads``: intra-op CPU threads (default :func:`inference_threads`). Every failure is a
    :class:`ModelError` naming the model and the reason (no traceback needed).
    """
    from neuromoco.models.bundled import BUNDLED, resolve_model

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
            graph="step" if mode == "stream" else "window",
            threads=inference_threads() if threads is None else threads,
        )
    except (ValueError, OSError, KeyError, RuntimeError) as e:
        msg = str(e)
        if str(path) not in msg:
            msg = f"{path}: {msg}"
        raise ModelError(f"cannot load model: {msg}") from None
    predictor.model_name = name
    return predictor
