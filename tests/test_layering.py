"""The import graph, read from the source files (every ``import``, also inside functions), keeps
the layers of the design card:

    neuromoco.types  ←  neuromoco (core: events, formats, framing, data, moco, losses, train)
                     ←  neuromoco.models  ←  neuromoco.streaming  ←  neuromoco.app

* no cycles between modules;
* core never imports ``neuromoco.streaming`` or ``neuromoco.app`` — except the command-line entry
  points (``neuromoco.cli``, ``neuromoco.commands.*``), which sit on top of every layer like
  ``neuromoco.app.main`` does: ``neuromoco evaluate --recordings`` drives the streaming engine so
  that a recording is scored exactly as the app runs it. They never import the app;
* ``neuromoco.models`` never imports ``neuromoco.train`` (nor streaming or the app);
* ``neuromoco.streaming`` never imports ``neuromoco.app``;
* the base-types module ``neuromoco.types`` imports nothing from the project.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"neuromoco": "neuromoco", "streaming": "neuromoco.streaming",
         "models": "neuromoco.models", "app": "neuromoco.app"}  # fmt: skip
ENTRY_POINTS = ("neuromoco.cli", "neuromoco.commands")
BASE_TYPES = "neuromoco.types"


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, pkg in ROOTS.items():
        for f in sorted((REPO / folder).rglob("*.py")):
            rel = f.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mods[".".join([pkg, *parts])] = f
    return mods


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (itself, or the closest enclosing module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str) -> set[str]:
    tree = ast.parse(MODULES[mod].read_text(), str(MODULES[mod]))
    base = mod if _is_package(mod) else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                src = ".".join(anchor + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            # `from pkg import sub` imports the submodule when there is one
            targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in MODULES else src
                       for a in node.names]  # fmt: skip
        else:
            continue
        for t in targets:
            if t.split(".")[0] != "neuromoco":
                continue
            r = _resolve(t)
            if r is not None and r != mod:
                out.add(r)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(mod: str) -> str:
    for pkg in ("neuromoco.streaming", "neuromoco.models", "neuromoco.app"):
        if mod == pkg or mod.startswith(pkg + "."):
            return pkg
    return "core"


def _edges(pred):
    return sorted(f"{a} -> {b}" for a, deps in GRAPH.items() for b in deps if pred(a, b))


def test_the_graph_is_read():
    # a sanity check that the walker sees real edges (it must be able to fail)
    assert "neuromoco.streaming.engine" in GRAPH["neuromoco.app.headless"] or any(
        d.startswith("neuromoco.streaming") for d in GRAPH["neuromoco.app.engine_adapter"]
    )
    assert "neuromoco.framing" in GRAPH["neuromoco.streaming.windower"]


def test_no_import_cycles():
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_core_never_imports_streaming_or_app():
    def bad(a, b):
        if _layer(a) != "core" or _layer(b) not in ("neuromoco.streaming", "neuromoco.app"):
            return False
        entry = a in ENTRY_POINTS or a.startswith(tuple(e + "." for e in ENTRY_POINTS))
        return not (entry and _layer(b) == "neuromoco.streaming")

    assert not _edges(bad)


def test_models_never_import_training_streaming_or_app():
    def bad(a, b):
        return _layer(a) == "neuromoco.models" and (
            b.startswith("neuromoco.train") or _layer(b) in ("neuromoco.streaming", "neuromoco.app")
        )

    assert not _edges(bad)


def test_streaming_never_imports_the_app():
    assert not _edges(
        lambda a, b: _layer(a) == "neuromoco.streaming" and _layer(b) == "neuromoco.app"
    )


@pytest.mark.parametrize("mod", [BASE_TYPES])
def test_base_types_import_nothing_from_the_project(mod):
    assert mod in MODULES, f"{mod} is missing"
    assert not GRAPH[mod], f"{mod} imports {sorted(GRAPH[mod])}"


def test_app_talks_to_streaming_not_to_models_or_core_internals():
    """The app reaches models only through streaming (the design card's one-way data flow)."""
    assert not _edges(lambda a, b: _layer(a) == "neuromoco.app" and _layer(b) == "neuromoco.models")


# Layers inside the core, lowest first: a module may import from its own row and rows above it.
# The event-processing layer (readers, framing, filters, generated noise and gestures) never
# reaches the datasets, augmentation or training; the models never reach the datasets.
CORE_ROWS = (
    ("neuromoco.types", "neuromoco.gesture_classes", "neuromoco.lazy", "neuromoco.atomic",
     "neuromoco.malloc_tuning"),
    ("neuromoco.events", "neuromoco.formats", "neuromoco.denoise", "neuromoco.framing",
     "neuromoco.sensor_noise", "neuromoco.event_variants", "neuromoco.polarity",
     "neuromoco.emulator",
     "neuromoco.synth"),
    ("neuromoco.data", "neuromoco.augment"),
    ("neuromoco.moco", "neuromoco.losses", "neuromoco.train"),
)  # fmt: skip


def _core_row(mod: str) -> int | None:
    for i, row in enumerate(CORE_ROWS):
        if any(mod == p or mod.startswith(p + ".") for p in row):
            return i
    return None


def test_core_rows_import_only_downwards():
    bad = _edges(
        lambda a, b: (
            (ra := _core_row(a)) is not None and (rb := _core_row(b)) is not None and rb > ra
        )
    )
    assert not bad, f"a core layer imports a higher one: {bad}"


# The procedural generator's own layers, lowest first (see neuromoco/synth/__init__.py); the
# dataset writer is dataset code (neuromoco.data.procedural_writer), a row above all of them.
SYNTH_ROWS = ("neuromoco.synth.params", "neuromoco.synth.kinematics", "neuromoco.synth.render",
              "neuromoco.synth.gesture", "neuromoco.synth.stream")  # fmt: skip


def test_synth_layers_import_only_downwards():
    assert set(SYNTH_ROWS) == {m for m in MODULES if m.startswith("neuromoco.synth.")}
    assert GRAPH["neuromoco.synth"] <= {"neuromoco.lazy"}, "the package __init__ stays light"
    assert _core_row("neuromoco.synth.stream") < _core_row("neuromoco.data.procedural_writer")
    bad = _edges(
        lambda a, b: (
            a in SYNTH_ROWS and b in SYNTH_ROWS and SYNTH_ROWS.index(b) > SYNTH_ROWS.index(a)
        )
    )
    assert not bad, f"a synth layer imports a higher one: {bad}"


def test_models_never_import_the_datasets():
    bad = _edges(lambda a, b: _layer(a) == "neuromoco.models" and _core_row(b) in (2, 3))
    assert not bad, f"models import datasets, augmentation or training: {bad}"


def test_every_core_module_has_a_row():
    """A new core module must be placed (entry points and the package itself aside)."""
    loose = [
        m
        for m in MODULES
        if _layer(m) == "core"
        and _core_row(m) is None
        and m != "neuromoco"
        and not m.startswith(("neuromoco.cli", "neuromoco.commands"))
    ]
    assert not loose, f"core modules without a row in CORE_ROWS: {loose}"


def test_create_model_does_not_load_the_datasets():
    """The class names live in a leaf module: building a model (the ported DVS128 Gesture SNN
    included) imports no dataset code, checked in a fresh interpreter."""
    from conftest import fresh_modules

    code = "from neuromoco.models.registry import create_model\ncreate_model('neurobench_dvs_gesture', num_classes=11)"
    assert fresh_modules(code, "neuromoco.data") == []


def test_tests_never_import_bench():
    """bench/ only measures and compares: a test that needs a peer implementation takes it from
    tests/peers.py, never from bench (which may import the tests' peers, not the other way)."""
    bad = []
    for f in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(f.read_text(), str(f))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [f"{f.name}: {n}" for n in names if n == "bench" or n.startswith("bench.")]
    assert not bad, f"tests import bench: {bad}"
