"""neuromoco-app --headless: JSON schema on a real recording and on the demo, recording, bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from neuromoco.app.main import display_available, main
from neuromoco.events import read_events
from neuromoco.framing import FramingSpec
from tests.conftest import shared_file
from tests.helpers_models import save_model

DVS = "aedat4/dvSave-2024_06_13_16_16_25.aedat4"
T = 8
SPEC = FramingSpec(T=T, split_by="time", size=(16, 16), sensor_size=(128, 128), window_us=240_000)
KEYS = {"t_us", "label", "label_index", "confidence", "probs", "probs_per_step", "latency_ms",
        "n_events", "dropped", "mode"}  # fmt: skip


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A real lif_convnet4 checkpoint with 11 gesture classes (random weights)."""
    from neuromoco.models.registry import create_model
    from neuromoco.synth import CLASS_NAMES

    model = create_model("lif_convnet4", num_classes=11, img_size=16, widths=(4, 8, 8, 8)).eval()
    return save_model(tmp_path_factory.mktemp("model") / "tiny.pt", model, SPEC, CLASS_NAMES)


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _check_schema(d: dict, mode: str, n_steps: int | None = T) -> None:
    assert KEYS <= set(d)
    C = len(d["probs"])
    assert C == 11 and isinstance(d["label"], str) and 0 <= d["label_index"] < C
    assert abs(sum(d["probs"]) - 1) < 1e-3
    assert d["confidence"] == max(d["probs"]) == d["probs"][d["label_index"]]
    rows = d["probs_per_step"]
    assert all(len(r) == C and abs(sum(r) - 1) < 1e-3 for r in rows)
    if n_steps is not None:
        assert len(rows) == n_steps
    assert d["latency_ms"] >= 0 and d["n_events"] >= 0 and d["dropped"] >= 0
    assert d["mode"] == mode
    # the shown gesture: a class of the model, or null (no gesture under way), with its index
    assert "gesture" in d and "gesture_index" in d and d["activity"] >= 0
    if d["gesture"] is None:
        assert d["gesture_index"] is None
    else:
        assert isinstance(d["gesture"], str) and 0 <= d["gesture_index"] < C


@pytest.mark.needs_shared
@pytest.mark.parametrize("mode", ["window", "stream"])
def test_headless_json_on_a_real_recording(ckpt, capsys, mode):
    path = shared_file(DVS)
    rc = main(
        ["--headless", "--file", str(path), "--model", str(ckpt), "--speed", "0", "--mode", mode]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = _lines(out)
    ev = read_events(path)
    bin_us = SPEC.window_us // T
    span = int(ev["t"][-1]) + 1 - int(ev["t"][0])
    if mode == "window":
        # every tick from the first full window to the end of the file, none dropped (speed 0)
        hop = bin_us * round(33_000 / bin_us)
        first = -(-SPEC.window_us // hop) * hop
        assert len(lines) == (span - first) // hop + 1
    else:
        assert len(lines) == span // bin_us  # one step per complete bin
    for i, d in enumerate(lines):
        _check_schema(d, mode, T if mode == "window" or i >= T - 1 else i + 1)
        assert d["dropped"] == 0 and "truth" not in d
    assert np.all(np.diff([d["t_us"] for d in lines]) > 0)
    assert sum(d["n_events"] for d in lines) > 0
    assert "predictions from" in err and "Traceback" not in err


def test_headless_demo_has_ground_truth(ckpt, capsys):
    rc = main(["--headless", "--demo", "--model", str(ckpt), "--mode", "stream", "--speed", "0",
               "--max-seconds", "2", "--early-threshold", "0.05", "--early-steps", "2"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = _lines(out)
    assert len(lines) > 10
    for d in lines:
        _check_schema(d, "stream", None)
    with_truth = [d for d in lines if "truth" in d]
    assert with_truth and all(isinstance(d["truth"], str) for d in with_truth)
    assert any("decision" in d for d in lines)
    assert "stopping after --max-seconds 2" in err


@pytest.mark.needs_shared
def test_record_writes_the_raw_input(ckpt, tmp_path, capsys):
    path = shared_file(DVS)
    out = tmp_path / "rec.aedat4"
    rc = main(["--headless", "--file", str(path), "--model", str(ckpt), "--speed", "0",
               "--record", str(out), "--noise-filter-us", "2000"])  # fmt: skip
    _, err = capsys.readouterr()
    assert rc == 0, err
    # raw input: before the noise filter, every event, written atomically
    np.testing.assert_array_equal(read_events(out), read_events(path))
    assert f"to {out}" in err and not list(tmp_path.glob(".*tmp*"))
    n = read_events(path).shape[0]
    assert f"recording {out}: {n} events in, {n} written, 0 dropped, 0 late" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.aedat4"]  # no .partial left


def test_record_names_leftovers_and_refuses_npz(ckpt, tmp_path, capsys):
    """A .partial file left by a killed run is named at the next start with how to use it;
    EVT 3.0 recordings need --record-format; .npz is refused before anything runs."""
    left = tmp_path / "take.partial.aedat4"
    left.write_bytes(b"leftover")  # content does not matter: it is named, never touched
    out = tmp_path / "take.raw"
    rc = main(["--headless", "--demo", "--model", str(ckpt), "--max-seconds", "1",
               "--record", str(out), "--record-format", "evt3"])  # fmt: skip
    _, err = capsys.readouterr()
    assert rc == 0, err
    assert f"found {left}" in err and f"neuromoco convert {left} {tmp_path / 'take.aedat4'}" in err
    assert left.read_bytes() == b"leftover"
    from neuromoco.events import read_recording

    got = read_recording(out, format="evt3").events
    line = [ln for ln in err.splitlines() if f"recording {out}:" in ln][-1]
    assert f"{got.shape[0]} events in, {got.shape[0]} written, 0 dropped" in line
    assert got.shape[0] > 0
    _fails(
        capsys,
        ["--headless", "--demo", "--model", str(ckpt), "--record", str(tmp_path / "x.npz")],
        "x.npz: cannot record to .npz",
    )
    _fails(
        capsys,
        ["--headless", "--demo", "--model", str(ckpt), "--record", str(tmp_path / "y.raw")],
        "y.raw: a .raw recording is EVT 2.0 or EVT 3.0",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.partial.aedat4", "take.raw"]


def _fails(capsys, argv, match):
    rc = main(argv)
    _, err = capsys.readouterr()
    assert rc == 1, err
    lines = [ln for ln in err.strip().splitlines() if "error" in ln]
    assert len(lines) == 1 and match in lines[0], err
    assert "Traceback" not in err


def test_bad_inputs_are_one_line_errors(ckpt, tmp_path, capsys, monkeypatch):
    _fails(
        capsys,
        ["--headless", "--file", str(tmp_path / "none.aedat4"), "--model", str(ckpt)],
        "none.aedat4",
    )
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(b"\x00" * 300)
    _fails(capsys, ["--headless", "--file", str(bad), "--model", str(ckpt)], "bad.aedat4")
    _fails(capsys, ["--headless", "--demo", "--model", str(tmp_path / "nope.pt")], "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    _fails(capsys, ["--headless", "--demo", "--model", str(junk)], "junk.pt")
    monkeypatch.setattr("neuromoco.models.bundled.WEIGHTS", tmp_path / "no_weights")
    _fails(capsys, ["--headless", "--demo"], "--model")
    _fails(
        capsys,
        ["--headless", "--demo", "--model", str(ckpt), "--record", str(tmp_path / "x.mp4")],
        "x.mp4",
    )

    import dv_processing as dv

    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    _fails(capsys, ["--headless", "--camera", "--model", str(ckpt)], "no iniVation camera found")


def test_bad_arguments_exit_2(capsys):
    for argv in (
        ["--speed", "-1"],
        ["--max-seconds", "0"],
        ["--loop", "--demo"],
        ["--early-threshold", "2"],
    ):
        with pytest.raises(SystemExit) as e:
            main(["--headless", *argv])
        assert e.value.code == 2
    capsys.readouterr()


def test_stream_mode_on_a_number_split_model_is_a_clear_error(tmp_path, capsys):
    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.registry import create_model

    model = create_model("lif_convnet4", num_classes=2, img_size=16, widths=(4, 4, 4, 4))
    p = tmp_path / "num.pt"
    save_checkpoint(p, model, arch="lif_convnet4", model_kwargs=dict(num_classes=2, img_size=16, widths=[4, 4, 4, 4]),
                    class_names=["a", "b"], framing=FramingSpec(T=4, split_by="number", size=(16, 16)))  # fmt: skip
    _fails(capsys, ["--headless", "--demo", "--model", str(p), "--mode", "stream"], "stream mode")


def test_display_detection(monkeypatch):
    assert not display_available({})
    assert display_available({"DISPLAY": ":0"})
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"})
    assert display_available({"QT_QPA_PLATFORM": "offscreen"})
    assert not display_available({"QT_QPA_PLATFORM": "xcb"})


def test_no_display_falls_back_to_headless(ckpt, capsys, monkeypatch):
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(k, raising=False)
    rc = main(["--demo", "--model", str(ckpt), "--speed", "0", "--max-seconds", "1.5"])
    out, err = capsys.readouterr()
    assert rc == 0 and "no display available" in err and "running headless" in err
    assert _lines(out)


def test_console_entry_point_error_has_no_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "neuromoco.app.main", "--headless", "--file", str(tmp_path / "x.aedat4"),
         "--model", str(tmp_path / "m.onnx")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "m.onnx" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


@pytest.mark.needs_shared
def test_file_corrupt_mid_stream_reports_and_exits_1(ckpt, tmp_path, capsys):
    data = shared_file("aedat4/dvSave-2024_06_20_16_13_00.aedat4").read_bytes()
    bad = tmp_path / "cut.aedat4"
    bad.write_bytes(data[: int(len(data) * 0.7)])  # valid header, truncated event stream
    rc = main(["--headless", "--file", str(bad), "--model", str(ckpt), "--speed", "0"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert len(_lines(out)) > 0  # what came before the damage was streamed
    assert any("cut.aedat4" in ln and "corrupt" in ln for ln in err.splitlines())
    assert "Traceback" not in err
