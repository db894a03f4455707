"""``neuromoco.streaming.model``: the one seam between the user's words and the model's.

Users and the engine say ``stream`` mode for per-bin inference; the model side says ``step``
graph. :func:`graph_for` is the only place that translates, and the streaming/app code holds no
graph word (nor the windower's old ``"bin"``) anywhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from neuromoco.models import bundled
from neuromoco.models.onnx_metadata import GRAPHS
from neuromoco.streaming import model as streaming_model
from neuromoco.streaming.engine_config import MODES
from neuromoco.streaming.model import graph_for

REPO = Path(__file__).resolve().parents[1]


def test_graph_for_maps_each_mode_to_one_graph():
    assert {m: graph_for(m) for m in MODES} == {"window": "window", "stream": "step"}
    assert sorted(graph_for(m) for m in MODES) == sorted(GRAPHS)  # one-to-one, onto
    for word in ("step", "bin", "Stream", ""):
        with pytest.raises(ValueError, match="mode must be one of"):
            graph_for(word)


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]  # fmt: skip


def test_the_graph_word_appears_only_at_the_seam():
    """A literal ``"step"`` (the graph) or ``"bin"`` (the windower's old word for stream mode)
    in streaming or app code, outside ``graph_for``, would be a second translation."""
    found = []
    for folder in ("streaming", "app"):
        for f in sorted((REPO / folder).glob("*.py")):
            for line, value in _string_constants(f):
                if value in ("step", "bin"):
                    found.append(f"{f.relative_to(REPO)}:{line}: {value!r}")
    seam = ast.parse((REPO / "streaming" / "model.py").read_text())
    fn = next(n for n in seam.body if isinstance(n, ast.FunctionDef) and n.name == "graph_for")
    inside = {f"streaming/model.py:{n.lineno}: 'step'" for n in ast.walk(fn)
              if isinstance(n, ast.Constant) and n.value == "step"}  # fmt: skip
    assert inside, "graph_for no longer names the step graph"
    assert sorted(set(found) - inside) == []


def test_the_models_defaults_are_re_exported_not_wrapped():
    """The app reaches the bundled models' defaults through streaming: the same objects."""
    assert streaming_model.default_model_name is bundled.default_model_name
    assert streaming_model.preferred_mode is bundled.preferred_mode
    assert streaming_model.bundled_model_path is bundled.bundled_model_path


@pytest.mark.parametrize("mode", MODES)
def test_open_model_runs_the_graph_of_its_mode(mode):
    p = streaming_model.open_model("gesture-demo", mode=mode, threads=1)
    assert p.graph == graph_for(mode)
