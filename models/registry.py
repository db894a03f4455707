"""timm-style model registry: ``create_model(name, num_classes, ...)`` and ``list_models()``.

Builders register themselves with ``@register_model`` in the architecture modules; those modules
are imported on first use, so importing this module does not import torch.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

# Architecture modules whose import registers the built-in models.
_BUILTIN_MODULES = ("sew_resnet", "spikformer", "small", "neurobench_gesture", "direction")

_REGISTRY: dict[str, Callable] = {}
_loaded = False

# Arguments every builder takes; anything else is architecture-specific.
_COMMON = ("num_classes", "in_channels", "img_size")


def register_model(fn: Callable) -> Callable:
    """Register ``fn(num_classes, in_channels=2, img_size=128, **kw) -> SNNClassifier`` under its name."""
    name = fn.__name__
    if name in _REGISTRY and _REGISTRY[name] is not fn:
        raise ValueError(f"model {name!r} is already registered")
    params = inspect.signature(fn).parameters
    missing = [p for p in _COMMON if p not in params]
    if missing:
        raise TypeError(f"model builder {name!r} must accept {missing}")
    _REGISTRY[name] = fn
    return fn


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for mod in _BUILTIN_MODULES:
            importlib.import_module(f"neuromoco.models.{mod}")
        _loaded = True


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def model_arguments(name: str) -> dict[str, object]:
    """The keyword arguments a model accepts, with their defaults (``inspect.Parameter.empty`` if none)."""
    fn = _get(name)
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()}


def _get(name: str) -> Callable:
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def create_model(
    name: str,
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] | None = 128,
    **kwargs,
):
    """Build a registered model.

    Args:
        name: registered name (see ``list_models()``).
        num_classes: classifier outputs C (0: no head, ``forward`` returns embeddings ``[T, N, D]``).
        in_channels: input channels (2 polarities).
        img_size: input size in pixels, an int (square) or ``(width, height)`` like every
            size in the project (``FramingSpec.size`` can be passed as it is); ``None``: the
            builder's own default
            (64 for the CPU-sized nets). SEW and conv nets pool globally and accept other sizes;
            Spikformer needs a multiple of its patch size.
        **kwargs: architecture options (e.g. ``base_width`` for SEW nets).

    Returns:
        an ``SNNClassifier`` with ``arch`` and ``model_kwargs`` set so it can be rebuilt from a checkpoint.

    Raises:
        ValueError: unknown name, unknown keyword arguments (listing the valid ones), bad values.
    """
    fn = _get(name)
    params = inspect.signature(fn).parameters
    unknown = sorted(k for k in kwargs if k not in params or k in _COMMON)
    if unknown:
        valid = sorted(k for k in params if k not in _COMMON)
        raise ValueError(
            f"model {name!r} got unknown argument(s) {unknown}; valid options: {valid} "
            f"(plus num_classes, in_channels, img_size)"
        )
    if img_size is None:
        img_size = params["img_size"].default
    if isinstance(img_size, list):
        img_size = tuple(img_size)
    model = fn(
        num_classes=int(num_classes), in_channels=int(in_channels), img_size=img_size, **kwargs
    )
    model.arch = name
    model.model_kwargs = {
        "num_classes": int(num_classes),
        "in_channels": int(in_channels),
        "img_size": list(img_size) if isinstance(img_size, tuple) else img_size,
        **kwargs,
    }
    return model
