"""Loading the model a stream runs on: a ``.pt`` checkpoint or ``.onnx`` file, or the bundled one."""

from __future__ import annotations

from pathlib import Path


class ModelError(ValueError):
    """No usable model (missing file, unreadable checkpoint, wrong backend...)."""


def bundled_model_path() -> Path | None:
    """The bundled default model (an ``.onnx`` step graph, else its ``.pt``), or None if absent."""
    from neuromoco.models.bundled import bundled_model_path as path

    return path()


def load_model(
    path: str | Path | None = None,
    backend: str = "auto",
    mode: str = "window",
    device: str = "auto",
    threads: int | None = 1,
):
    """Load a predictor for streaming ``mode`` (``"window"`` or ``"stream"``).

    ``path=None`` takes the bundled model. ``threads``: intra-op CPU threads; 1 by default
    because streaming runs the source and windowing on another thread, and on the 2-core
    machine a small net with 2 torch threads ran up to 8× slower than with 1 (oversubscription);
    None keeps the library default. Every failure is a :class:`ModelError` naming the file and
    the reason (no traceback needed).
    """
    if path is None:
        path = bundled_model_path()
        if path is None:
            raise ModelError(
                "no model given and no bundled model in models/weights/ yet; "
                "pass --model PATH (.pt checkpoint or .onnx file)"
            )
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        from neuromoco.models.inference import load_predictor
    except ImportError as e:  # pragma: no cover - broken install
        raise ModelError(f"cannot import the model runtime ({e})") from None
    try:
        return load_predictor(
            path,
            backend=backend,
            device=device,
            mode="step" if mode == "stream" else "window",
            threads=threads,
        )
    except (ValueError, OSError, KeyError, RuntimeError) as e:
        msg = str(e)
        if str(path) not in msg:
            msg = f"{path}: {msg}"
        raise ModelError(f"cannot load model: {msg}") from None
