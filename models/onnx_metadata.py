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
