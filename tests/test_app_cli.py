"""``neuromoco-app`` with a window, as a user or CI runs it: --screenshot/--quit-after offscreen,
a bad file, argument errors, the headless path staying Qt-free, and a real X window under Xvfb."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_app_window import _save_tiny

pytest.importorskip("PySide6.QtWidgets")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(_save_tiny(tmp_path_factory.mktemp("app_cli_model") / "tiny.pt"))


def _app(args, env_extra=None, timeout=90):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(env_extra or {})
    code = "import sys; from neuromoco.app.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _png_pixels(path: Path) -> np.ndarray:
    from PySide6 import QtGui

    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert not img.isNull(), f"{path} is not a readable PNG"
    ptr = img.constBits()
    arr = np.frombuffer(ptr, np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def test_screenshot_of_the_demo(tmp_path, tiny_model):
    shot = tmp_path / "docs" / "demo.png"
    r = _app(["--demo", "--model", tiny_model, "--screenshot", str(shot), "--quit-after", "2"])
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    px = _png_pixels(shot)
    assert px.shape[0] >= 600 and px.shape[1] >= 1000
    # the event view drew ON (orange) and OFF (blue) events: both colours are on screen
    on = np.all(np.abs(px.astype(int) - (255, 176, 40)) < 40, axis=-1).sum()
    off = np.all(np.abs(px.astype(int) - (50, 150, 255)) < 40, axis=-1).sum()
    assert on > 50 and off > 50, (on, off)


def test_bad_file_exits_1_with_the_error_and_a_screenshot(tmp_path, tiny_model):
    shot = tmp_path / "bad.png"
    missing = tmp_path / "nope.aedat4"
    r = _app(["--file", str(missing), "--model", tiny_model, "--screenshot", str(shot),
              "--quit-after", "0.5"])  # fmt: skip
    assert r.returncode == 1
    assert "nope.aedat4" in r.stderr and "no such file" in r.stderr
    assert "Traceback" not in r.stderr
    assert shot.is_file()


def test_bad_model_exits_1(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    r = _app(["--demo", "--model", str(bad), "--quit-after", "0.5"])
    assert r.returncode == 1
    assert "bad.onnx" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--headless", "--screenshot", "x.png"], "--screenshot/--quit-after need the window"),
        (["--quit-after", "0"], "--quit-after must be positive"),
    ],
)
def test_argument_errors(args, message):
    r = _app(args, timeout=30)
    assert r.returncode == 2 and message in r.stderr


def test_headless_path_does_not_import_qt(tiny_model):
    code = (
        "import sys; from neuromoco.app.main import main;"
        f"rc = main(['--headless', '--demo', '--model', {tiny_model!r}, '--max-seconds', '1']);"
        "print('QT' if any(m.startswith('PySide6') or m.startswith('pyqtgraph') "
        "for m in sys.modules) else 'NOQT', rc, file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "NOQT 0" in r.stderr, r.stderr[-2000:]
    assert '"probs_per_step"' in r.stdout


def test_real_window_under_xvfb(tmp_path, tiny_model):
    """A real X11 window (xcb platform, not offscreen). CI needs, on Debian/Ubuntu:
    apt-get install xvfb libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
    libxkbcommon-x11-0 libx11-xcb1."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb libxcb-cursor0 libxcb-icccm4 "
                    "libxcb-keysyms1 ...; see this test's docstring)")  # fmt: skip
    r_fd, w_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(w_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(w_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w_fd)
    try:
        with os.fdopen(r_fd) as f:
            display = f.readline().strip()
        if not display:
            pytest.skip("Xvfb did not start")
        shot = tmp_path / "xvfb.png"
        r = _app(
            ["--demo", "--model", tiny_model, "--screenshot", str(shot), "--quit-after", "2"],
            env_extra={"DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb"},
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert "Traceback" not in r.stderr
        assert _png_pixels(shot).std() > 5  # a drawn window, not a blank surface
    finally:
        proc.terminate()
        proc.wait(5)
