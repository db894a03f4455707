"""One-file model checkpoints that carry everything needed to run the model on new events.

A checkpoint is a ``torch.save`` zip holding only tensors and primitives (dicts, lists, str,
numbers, None), so ``load_checkpoint`` uses ``torch.load(weights_only=True)`` and never unpickles
code. Contents (format version 2)::

    {"format": "neuromoco-checkpoint", "format_version": 2,
     "arch": "sew_resnet18", "model_kwargs": {...}, "num_classes": 11,
     "class_names": [...], "framing": FramingSpec.to_dict(),
     "meta": {...}, "state_dict": {name: tensor}, "extra": {...}}

``meta`` is free-form training metadata (data, recipe, metrics, versions); ``extra`` holds training
state for exact resume (optimizer, scheduler, MoCo queue, RNG states) converted to tensors and
primitives. Saving is atomic (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from neuromoco.atomic import atomic_path
from neuromoco.framing import FramingSpec

FORMAT = "neuromoco-checkpoint"
FORMAT_VERSION = 2
"""2: ``model_kwargs["img_size"]`` is ``[width, height]`` (version 1 stored ``[H, W]``)."""
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or loaded: names the file and the reason."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)


@dataclass(frozen=True)
class Checkpoint:
    arch: str
    model_kwargs: dict
    num_classes: int
    class_names: list[str]
    framing: FramingSpec
    meta: dict = field(default_factory=dict)
    state_dict: dict = field(default_factory=dict, repr=False)
    extra: dict = field(default_factory=dict, repr=False)
    format_version: int = FORMAT_VERSION
    path: str | None = None


_PRIMITIVES = (type(None), bool, int, float, str, bytes, torch.dtype, torch.device)


def _check_storable(obj, where: str) -> None:
    """Refuse anything ``torch.load(weights_only=True)`` could not read back."""
    if isinstance(obj, (torch.Tensor, *_PRIMITIVES)):
        return
    if isinstance(obj, list | tuple):  # includes torch.Size
        for i, v in enumerate(obj):
            _check_storable(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str | int | float | bool | type(None)):
                raise CheckpointError(
                    None, f"{where}: key {k!r} of type {type(k).__name__} cannot be stored"
                )
            _check_storable(v, f"{where}[{k!r}]")
        return
    raise CheckpointError(
        None,
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}; checkpoints store only "
        "tensors, numbers, strings, None, lists and dicts (convert it first)",
    )


def _plain(obj):
    """Tuples → lists (JSON-like kwargs that round-trip through ONNX metadata too)."""
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    arch: str,
    model_kwargs: dict,
    class_names: list[str],
    framing: FramingSpec,
    meta: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model``'s weights with everything needed to rebuild and feed it, atomically.

    Args:
        path: output file (``.pt``); missing folders are created.
        model: the model, or a DDP / ``torch.compile`` wrapper of it (the wrapper's key prefix is
            stripped, so the file loads into the plain architecture).
        arch, model_kwargs: registry name and ``create_model`` keyword arguments (incl. num_classes).
        class_names: one name per output class; must match the head size.
        framing: how events were framed for training.
        meta: training metadata (primitives only). extra: resume state (tensors/primitives only).

    Raises:
        CheckpointError: a class-count mismatch or a value that cannot be stored safely.
    """
    path = Path(path)
    if not isinstance(framing, FramingSpec):
        raise CheckpointError(path, f"framing must be a FramingSpec, got {type(framing).__name__}")
    class_names = [str(c) for c in class_names]
    kwargs = _plain(dict(model_kwargs))
    num_classes = int(kwargs.get("num_classes", len(class_names)))
    if num_classes != len(class_names):
        raise CheckpointError(
            path, f"{len(class_names)} class names for a model with num_classes={num_classes}"
        )
    head_classes = getattr(model, "num_classes", None)
    if isinstance(head_classes, int) and head_classes != num_classes:
        raise CheckpointError(
            path, f"the model's head has {head_classes} classes but model_kwargs say {num_classes}"
        )
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # A DDP (``module.``) or torch.compile (``_orig_mod.``) wrapper: store the plain model's keys.
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": str(arch),
        "model_kwargs": kwargs,
        "num_classes": num_classes,
        "class_names": class_names,
        "framing": framing.to_dict(),
        "meta": dict(meta or {}),
        "state_dict": state,
        "extra": dict(extra or {}),
    }
    try:
        for key in ("model_kwargs", "meta", "extra"):
            _check_storable(payload[key], key)
    except CheckpointError as e:
        raise CheckpointError(path, e.reason) from None
    with atomic_path(path, mkdir=True) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> Checkpoint:
    """Read a checkpoint without executing code (``weights_only=True``) and validate its fields.

    Raises:
        CheckpointError: missing file, not a checkpoint, truncated/corrupt, newer format version,
            missing or ill-typed fields.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != _ZIP_MAGIC:
        raise CheckpointError(
            path, "not a NeuroMoCo checkpoint (not a PyTorch zip file; legacy or foreign format?)"
        )
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip/pickle errors of every kind: the file is damaged
        raise CheckpointError(
            path, f"truncated or corrupt checkpoint ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        what = f"keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(path, f"not a NeuroMoCo checkpoint (a PyTorch file holding {what})")
    version = obj.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(path, f"bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"checkpoint format version {version} is newer than this NeuroMoCo supports "
            f"({FORMAT_VERSION}); upgrade neuromoco",
        )
    types = {
        "arch": str,
        "model_kwargs": dict,
        "num_classes": int,
        "class_names": list,
        "framing": dict,
        "state_dict": dict,
    }
    for k, t in types.items():
        if not isinstance(obj.get(k), t):
            raise CheckpointError(path, f"field {k!r} missing or not a {t.__name__}")
    size = obj["model_kwargs"].get("img_size")
    if version < 2 and isinstance(size, list | tuple) and len(size) == 2:
        # version 1 wrote (H, W); every size is (width, height) since version 2
        obj["model_kwargs"] = {**obj["model_kwargs"], "img_size": [size[1], size[0]]}
    if len(obj["class_names"]) != obj["num_classes"]:
        raise CheckpointError(
            path, f"{len(obj['class_names'])} class names but num_classes={obj['num_classes']}"
        )
    try:
        framing = FramingSpec.from_dict(obj["framing"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"bad framing spec: {e}") from None
    return Checkpoint(
        arch=obj["arch"],
        model_kwargs=obj["model_kwargs"],
        num_classes=obj["num_classes"],
        class_names=[str(c) for c in obj["class_names"]],
        framing=framing,
        meta=obj.get("meta") or {},
        state_dict=obj["state_dict"],
        extra=obj.get("extra") or {},
        format_version=version,
        path=str(path),
    )


def build_model(ckpt: Checkpoint) -> nn.Module:
    """Rebuild the model of ``ckpt`` and load its weights strictly (eval mode, CPU)."""
    from neuromoco.models.registry import create_model, list_models

    where = ckpt.path
    if ckpt.arch not in list_models():
        raise CheckpointError(
            where, f"unknown architecture {ckpt.arch!r}; registered: {', '.join(list_models())}"
        )
    kwargs = dict(ckpt.model_kwargs)
    kwargs.setdefault("num_classes", ckpt.num_classes)
    if int(kwargs["num_classes"]) != ckpt.num_classes:
        raise CheckpointError(
            where,
            f"class-count mismatch: model_kwargs num_classes={kwargs['num_classes']} "
            f"but {ckpt.num_classes} class names",
        )
    try:
        model = create_model(ckpt.arch, **kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            where, f"cannot build {ckpt.arch!r} from its stored arguments: {e}"
        ) from None
    own = model.state_dict()
    missing = sorted(set(own) - set(ckpt.state_dict))
    unexpected = sorted(set(ckpt.state_dict) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(ckpt.state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in ckpt.state_dict
        and isinstance(ckpt.state_dict[k], torch.Tensor)
        and ckpt.state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch {_short(shapes)}")
        raise CheckpointError(
            where, f"state_dict does not match {ckpt.arch!r}: " + "; ".join(parts)
        )
    model.load_state_dict(ckpt.state_dict, strict=True)
    return model.eval()


def _short(items: list[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def load_model(
    path: str | Path, device="cpu", classifier: bool = False
) -> tuple[nn.Module, Checkpoint]:
    """Load a checkpoint and its model (eval mode, on ``device``). ``classifier``: refuse a
    pretraining (backbone-only) checkpoint with a :class:`CheckpointError` naming the file."""
    ckpt = load_checkpoint(path, map_location="cpu")
    if classifier and ckpt.num_classes == 0:
        raise CheckpointError(
            path, "is a pretraining (backbone-only) checkpoint; finetune it first"
        )
    model = build_model(ckpt).to(device)
    return model, ckpt
