"""The built wheel maps streaming/ models/ app/ into the one neuromoco namespace and ships the
bundled model; `neuromoco --help` / `neuromoco info` import neither torch nor Qt."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = [
    "neuromoco",
    "neuromoco.formats",
    "neuromoco.data",
    "neuromoco.losses",
    "neuromoco.train",
    "neuromoco.commands",
    "neuromoco.streaming",
    "neuromoco.models",
    "neuromoco.app",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(REPO)],
        capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{r.stderr[-2000:]}")
    (whl,) = out.glob("neuromoco-*.whl")
    return whl


def test_wheel_layout(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in SUBPACKAGES:
        assert pkg.replace(".", "/") + "/__init__.py" in names
    assert "neuromoco/models/weights/gesture_demo.onnx" in names
    assert "neuromoco/models/weights/gesture_demo.pt" in names
    # nothing generic at the top level; the build scripts (tools/) and benchmarks stay in the checkout
    top = ("app/", "models/", "streaming/", "tests/", "tools/", "bench/")
    assert not any(n.startswith(top) for n in names)
    assert not any("build_bundled" in n or n.endswith("train/bundle.py") for n in names)


def test_wheel_imports_every_subpackage(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import importlib\n"
        f"for m in {SUBPACKAGES!r}:\n"
        f"    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(tmp_path)!r}), (m, mod.__file__)\n"
        "from neuromoco.models.bundled import bundled_model_path\n"
        "assert bundled_model_path() is not None\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("argv", [["--help"], ["info", "--help"], ["models"]])
def test_cli_start_imports_no_torch_or_qt(argv):
    code = (
        "import sys\n"
        "from neuromoco.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'PySide6', 'onnxruntime', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_onnx_inference_imports_neither_torch_nor_onnx():
    """Streaming a bundled ONNX model (load, engine, both modes) needs onnxruntime only."""
    code = (
        "import sys, numpy as np\n"
        "from neuromoco.streaming.model import open_model\n"
        "from neuromoco.streaming.engine import Engine\n"
        "for mode in ('window', 'stream'):\n"
        "    p = open_model('gesture-demo', mode=mode)\n"
        "    Engine(p, mode=mode).warmup(1)\n"
        "heavy = [m for m in ('torch', 'onnx', 'spikingjelly', 'PySide6') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = _run_python(code)
    assert r.returncode == 0, r.stderr


# spikingjelly made unimportable, as in an environment installed without it
_NO_SJ = "import sys; sys.modules['spikingjelly'] = None\n"


def test_without_spikingjelly_info_convert_and_onnx_work(tmp_path):
    from neuromoco.events import make_events, write_events

    src = tmp_path / "a.npz"
    write_events(src, make_events([1, 5, 9], [0, 1, 2], [3, 4, 5], [0, 1, 1]), (8, 8))
    code = _NO_SJ + (
        "from neuromoco.cli import main\n"
        f"assert main(['info', {str(src)!r}]) == 0\n"
        f"assert main(['convert', {str(src)!r}, {str(tmp_path / 'b.aedat')!r}]) == 0\n"
        "from neuromoco.streaming.model import open_model\n"
        "import numpy as np\n"
        "p = open_model('gesture-demo', mode='stream')\n"
        "out, _ = p.step(np.zeros((1, 2, 32, 32), np.float32), p.init_state(1))\n"
        "assert out.shape == (1, 11)\n"
    )
    r = _run_python(code)
    assert r.returncode == 0, r.stderr


def test_without_spikingjelly_models_say_how_to_install_it():
    code = _NO_SJ + (
        "from neuromoco.cli import main\n"
        "raise SystemExit(main(['evaluate', 'gesture-demo', '--data', 'procedural']))\n"
    )
    r = _run_python(code)
    assert r.returncode == 1
    assert "pip install --no-deps spikingjelly==2.0.0" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
