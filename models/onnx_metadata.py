"""The ``neuromoco.*`` metadata an exported ONNX file carries (framing, class names, mode, state
shapes, output kind), parsed without torch or onnx: running an ONNX model needs only
onnxruntime, which reads the same key/value pairs (``session.get_modelmeta()``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

META_PREFIX = "neuromoco."
"""Prefix of every metadata key the exporter writes."""

GRAPHS = ("window", "step")
"""The graph kinds of an exported model: ``window`` (T frames at once, neurons from zero) or
``step`` (one frame, explicit membrane state). The model's words; the streaming mode that runs a
``step`` graph is called ``stream`` (``neuromoco.streaming.model.graph_for`` translates)."""

GRAPH_KEY = "mode"
"""The metadata key that holds the graph kind (named ``mode`` by format 1; files already out
carry it, so the key stays)."""


STEPPABLE_KEY = "steppable"
"""The metadata key that says whether the model can be stepped at all (False for a model that
reads each window backwards too, ``neuromoco.models.direction``; absent in older files: True)."""

WINDOW_ONLY = (
    "it reads each window forwards and backwards (direction features), so it needs the whole "
    "window first and runs in window mode only (--mode window)"
)
"""Why a model that is not ``steppable`` cannot run in stream mode (every refusal says this)."""


def parse_metadata(props: Mapping[str, str], path: str | Path) -> dict:
    """The ``neuromoco.*`` entries of ``props`` (key → JSON text), JSON-decoded, keys without the
    prefix. ``ValueError`` naming ``path`` for invalid JSON or a file neuromoco did not export."""
    meta = {}
    for key, value in props.items():
        if key.startswith(META_PREFIX):
            try:
                meta[key[len(META_PREFIX) :]] = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{path}: metadata {key} is not valid JSON") from None
    if "framing" not in meta or GRAPH_KEY not in meta:
        raise ValueError(
            f"{path}: not exported by neuromoco (no framing/mode metadata); "
            "export it with `neuromoco export-onnx`"
        )
    return meta
