"""`neuromoco info` and `neuromoco convert`: output, JSON, errors without traceback, light import."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neuromoco.events import make_events, read_recording, write_events


def _run(name: str, argv: list[str]) -> int:
    """Run one command module as cli.main does (parser from add_arguments, errors -> 1)."""
    mod = importlib.import_module(f"neuromoco.commands.{name}")
    parser = argparse.ArgumentParser(prog=f"neuromoco {name}")
    mod.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return mod.run(args)
    except (OSError, ValueError) as e:
        print(f"neuromoco {name}: error: {e}", file=sys.stderr)
        return 1


def test_info_json_real_file(testdata, capsys):
    path = testdata / "aedat2/IMU_translBoxes.aedat"
    assert _run("info", [str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    rec = read_recording(path)
    ev = rec.events
    assert info["format"] == "aedat2" and info["camera"] == "DAVIS240C"
    assert info["events"] == ev.shape[0] == 162771
    assert info["t_first_us"] == int(ev["t"][0]) and info["t_last_us"] == int(ev["t"][-1])
    assert info["duration_us"] == int(ev["t"][-1] - ev["t"][0])
    assert (info["width"], info["height"]) == (240, 180)
    assert info["on_fraction"] == pytest.approx(ev["p"].mean())
    assert info["reordered"] == 0


def test_info_text_and_sensor_size(testdata, capsys):
    path = testdata / "atis_bin/sample_nmnist.bin"
    assert _run("info", [str(path), "--sensor-size", "240", "180"]) == 0
    out = capsys.readouterr().out
    assert "atis_bin" in out and "4,325" in out and "240" in out and "180" in out


def test_info_counts_reordered(tmp_path, capsys):
    from neuromoco.formats import aedat3

    ev = make_events([5, 3, 9, 8], [1, 2, 3, 4], [1, 1, 1, 1], [1, 0, 1, 1])
    p = tmp_path / "o.aedat"
    body = aedat3.PACKET_HEADER.pack(1, 1, 8, 4, 0, 4, 4, 4) + aedat3.encode(ev).tobytes()
    p.write_bytes(aedat3.header_bytes() + body)
    assert _run("info", [str(p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["reordered"] == 2 and info["events"] == 4
    assert info["t_first_us"] == 3 and info["t_last_us"] == 9


def test_info_bad_file_is_one_line_error(tmp_path, capsys):
    p = tmp_path / "notes.txt"
    p.write_text("not events")
    assert _run("info", [str(p)]) == 1
    err = capsys.readouterr().err
    assert str(p) in err and "unknown event file format" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "fmt,suffix", [("npz", ".npz"), ("aedat3", ".aedat"), ("aedat4", ".aedat4")]
)
def test_convert_round_trip(fmt, suffix, testdata, tmp_path, capsys):
    src = testdata / "aedat4/dvSave-2024_06_13_16_16_25.aedat4"
    out = tmp_path / f"out{suffix}"
    assert _run("convert", [str(src), str(out), "--format", fmt]) == 0
    a, b = read_recording(src), read_recording(out)
    np.testing.assert_array_equal(a.events, b.events)
    assert a.sensor_size == b.sensor_size
    # and back to npz again
    back = tmp_path / "back.npz"
    assert _run("convert", [str(out), str(back)]) == 0
    np.testing.assert_array_equal(read_recording(back).events, a.events)


def test_convert_every_readable_format_to_npz(testdata, tmp_path):
    for rel in [
        "aedat2/alex_walking_again.aedat",
        "atis_bin/faces_easy_0001.bin",
        "prophesee/NCARS_obj_004397_td.dat",
        "prophesee/evt3_sample.raw",
    ]:
        out = tmp_path / (rel.replace("/", "_") + ".npz")
        assert _run("convert", [str(testdata / rel), str(out)]) == 0
        a, b = read_recording(testdata / rel), read_recording(out)
        np.testing.assert_array_equal(a.events, b.events)
        assert a.sensor_size == b.sensor_size


def test_convert_refuses_overwrite_and_unknown_suffix(tmp_path, capsys):
    ev = make_events([1, 2], [0, 1], [0, 1], [0, 1])
    src = tmp_path / "a.npz"
    write_events(src, ev, (128, 128))
    dst = tmp_path / "b.npz"
    dst.write_bytes(b"precious")
    assert _run("convert", [str(src), str(dst)]) == 1
    assert dst.read_bytes() == b"precious"
    assert _run("convert", [str(src), str(tmp_path / "c.mp4")]) == 1
    assert "suffix" in capsys.readouterr().err


def test_info_does_not_import_torch(testdata):
    """`neuromoco info` stays light: no torch, no Qt (checked in a fresh interpreter)."""
    code = (
        "import sys, argparse\n"
        "from neuromoco.commands import info\n"
        "p = argparse.ArgumentParser(); info.add_arguments(p)\n"
        f"info.run(p.parse_args([{str(testdata / 'aedat4/davis346_sample.aedat4')!r}]))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'spikingjelly')]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_cli_main_registers_info_and_convert(testdata, capsys):
    cli = importlib.import_module("neuromoco.cli")
    assert cli.COMMANDS["info"] == "info" and cli.COMMANDS["convert"] == "convert"
    for mod in cli.COMMANDS.values():  # every registered command imports: a broken one fails
        importlib.import_module(f"neuromoco.commands.{mod}")
    assert cli.main(["info", "--json", str(testdata / "atis_bin/sample_nmnist.bin")]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 4325


def test_output_to_a_closed_pipe_ends_quietly(testdata):
    """`neuromoco info rec | head -3`: the reader goes away. Before, the command printed
    "error: [Errno 32] Broken pipe" (and exited 1); now it exits 141 (as SIGPIPE would) with
    nothing on stderr. The pipe's read end is closed before the command starts, so every write
    fails: deterministic."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "neuromoco.cli",
                "info",
                str(testdata / "prophesee/evt2_sample.raw"),
            ],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(w)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
