"""Models a user taught (``neuromoco teach``, the app's Teach panel), kept in one folder so that
``neuromoco models`` lists them and ``--model NAME`` finds them like a bundled model.

The folder is ``$NEUROMOCO_MODELS_DIR``, else ``$XDG_DATA_HOME/neuromoco/models``, else
``~/.local/share/neuromoco/models``. A model ``NAME`` is ``NAME.onnx`` there, with its ``NAME.pt``
and its card ``NAME.json`` beside it. Names are plain: letters, digits, ``-`` and ``_``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def user_models_dir() -> Path:
    """The folder of the user's models (not created here)."""
    env = os.environ.get("NEUROMOCO_MODELS_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "neuromoco" / "models"


def check_name(name: str) -> str:
    """``name`` if it is a usable model name; ``ValueError`` saying why otherwise."""
    if not _NAME.match(name or ""):
        raise ValueError(
            f"model name {name!r}: use 1–64 letters, digits, '-' or '_' (starting with a letter "
            "or digit)"
        )
    return name


def user_model_path(name: str) -> Path:
    """Where user model ``name`` lives (``NAME.onnx`` in :func:`user_models_dir`)."""
    return user_models_dir() / f"{check_name(name)}.onnx"


def find_user_model(name: str) -> Path | None:
    """The ``.onnx`` of user model ``name``, or None when there is none (or the name is not one)."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    p = user_model_path(name)
    return p if p.is_file() else None


def list_user_models() -> list[tuple[str, Path, dict]]:
    """``(name, .onnx path, card)`` of every user model, by name (card ``{}`` when unreadable)."""
    d = user_models_dir()
    out = []
    for p in sorted(d.glob("*.onnx")) if d.is_dir() else []:
        try:
            card = json.loads(p.with_suffix(".json").read_text())
        except (OSError, ValueError):
            card = {}
        out.append((p.stem, p, card))
    return out
