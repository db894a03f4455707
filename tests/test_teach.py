"""``neuromoco teach``: the CLI contract (every bad input: one line, no model written), a taught
model that round-trips through ONNX and ``evaluate``, base classes kept exactly, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuromoco.cli import main
from tests.conftest import shared_file

CLIPS = "dvsgesture_csv"


def _csv(tmp_path, rows, header="path,label,t0_us,t1_us", name="ex.csv"):
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return p


def _stretch(clip: str, a_s: float, b_s: float) -> tuple[str, int, int]:
    from neuromoco.events import read_events

    path = shared_file(f"{CLIPS}/{clip}")
    t0 = int(read_events(path, sensor_size=(128, 128))["t"][0])
    return str(path), t0 + int(a_s * 1e6), t0 + int(b_s * 1e6)


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """gesture-demo taught two new classes (stretches of two real clips under new names) and an
    example of an existing class; seed 3."""
    tmp = tmp_path_factory.mktemp("teach")
    a = _stretch("class2_user02_led.csv", 0.0, 2.0)
    b = _stretch("class6_user02_led.csv", 0.0, 2.0)
    c = _stretch("class3_user02_led.csv", 0.0, 2.0)
    rows = [f"{a[0]},my_wave,{a[1]},{a[2]}", f"{b[0]},my_circle,{b[1]},{b[2]}",
            f"{c[0]},left_hand_wave,{c[1]},{c[2]}"]  # fmt: skip
    csv = _csv(tmp, rows)
    out = tmp / "mine.onnx"
    args = ["teach", "--examples", str(csv), "--out", str(out), "--seed", "3", "--no-progress"]
    assert main(args) == 0
    return tmp, csv, out, args


def test_taught_model_round_trips_and_keeps_the_base_classes(taught, capsys):
    import torch

    from neuromoco.models.bundled import bundled_model
    from neuromoco.models.checkpoint import load_checkpoint
    from neuromoco.streaming.model import ModelError, open_model

    tmp, _, out, _ = taught
    card = json.loads(out.with_suffix(".json").read_text())
    base = load_checkpoint(bundled_model("gesture-demo").checkpoint)
    new = load_checkpoint(out.with_suffix(".pt"))
    assert new.class_names == base.class_names + ["my_wave", "my_circle"]
    assert card["new_classes"] == ["my_wave", "my_circle"] and card["base"] == "gesture-demo"
    assert new.framing == base.framing and card["seconds"] > 0
    # with direction features (the default): the base encoder read forwards and backwards
    assert new.arch == "direction_classifier" and card["modes"] == ["window"]
    assert new.model_kwargs["base_arch"] == base.arch
    # base rows kept exactly (zeros on the direction block: the base's own read-out), but the
    # one the CSV gave an example of (left_hand_wave)
    W0, b0 = base.state_dict["head.weight"], base.state_dict["head.bias"]
    W, b = new.state_dict["head.weight"], new.state_dict["head.bias"]
    D = W0.shape[1]
    assert W.shape == (len(new.class_names), 2 * D)
    keep = [k for k, n in enumerate(base.class_names) if n != "left_hand_wave"]
    assert torch.equal(W[keep, :D], W0[keep]) and torch.equal(b[keep], b0[keep])
    assert not W[keep, D:].any()
    k = base.class_names.index("left_hand_wave")
    assert not torch.equal(W[k, :D], W0[k])
    # the encoder is the base's, untouched
    for name, v in base.state_dict.items():
        if not name.startswith("head."):
            assert torch.equal(new.state_dict["encoder." + name], v), name
    # the ONNX model is what the app loads: framing and names inside; window mode only
    p = open_model(str(out), mode="window")
    assert list(p.class_names) == new.class_names and p.framing == base.framing
    with pytest.raises(ModelError, match="window mode only"):
        open_model(str(out), mode="stream")
    # evaluate takes it: held-out stretches of the two clips come out as the new classes
    a = _stretch("class2_user02_led.csv", 2.5, 5.5)
    b = _stretch("class6_user02_led.csv", 2.5, 6.0)
    from neuromoco.events import read_events, write_events

    for (path, t0, t1), name in ((a, "a.aedat4"), (b, "b.aedat4")):
        ev = read_events(path, sensor_size=(128, 128))
        write_events(tmp / name, ev[(ev["t"] >= t0) & (ev["t"] < t1)], (128, 128))
    labels = tmp / "held_out.csv"
    labels.write_text("path,label\na.aedat4,my_wave\nb.aedat4,my_circle\n")
    assert (
        main(["evaluate", str(out), "--recordings", str(labels), "--json", str(tmp / "r.json")])
        == 0
    )
    r = json.loads((tmp / "r.json").read_text())
    assert r["correct"] == 2, r["clips"]


def test_teaching_is_deterministic(taught, tmp_path):
    import torch

    from neuromoco.models.checkpoint import load_checkpoint

    _, csv, out, args = taught
    again = tmp_path / "again.onnx"
    args = [a if a != str(out) else str(again) for a in args]
    assert main(args) == 0
    s1 = load_checkpoint(out.with_suffix(".pt")).state_dict
    s2 = load_checkpoint(again.with_suffix(".pt")).state_dict
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)


def test_only_teaches_just_the_csv_classes(tmp_path, capsys):
    """(and ``--no-direction``: a model of the encoder's architecture, which stream mode steps)"""
    from neuromoco.models.checkpoint import load_checkpoint
    from neuromoco.streaming.model import open_model

    a = _stretch("class2_user02_led.csv", 0.0, 1.5)
    b = _stretch("class5_user02_led.csv", 0.0, 1.5)
    csv = _csv(tmp_path, [f"{a[0]},wave,{a[1]},{a[2]}", f"{b[0]},circle,{b[1]},{b[2]}"])
    out = tmp_path / "only.onnx"
    args = ["teach", "--examples", str(csv), "--out", str(out), "--only", "--augment", "1"]
    assert main([*args, "--no-progress", "--no-direction"]) == 0
    assert "runs in window and stream mode" in capsys.readouterr().out
    ck = load_checkpoint(out.with_suffix(".pt"))
    assert ck.class_names == ["wave", "circle"] and ck.arch == "lif_convnet4"
    p = open_model(str(out), mode="stream")
    assert p.step(np.zeros((1, *p.input_shape), np.float32), p.init_state(1))[0].shape == (1, 2)


@pytest.mark.parametrize(
    "rows, header, extra, match",
    [
        (["nope.csv,x"], "path,label", [], "not found"),
        (["{clip},x,5"], "path,label,speed", [], "unknown column"),
        (["{clip},x,0,10"], "path,label,t0_us,t1_us", [], "no events in"),
        (["{clip},x,10,10"], "path,label,t0_us,t1_us", [], "empty stretch"),
        (["{clip},x"], "path,label", ["--only"], "at least two classes"),
        (["{clip},x"], "path,label", ["--base", "dvs128-gesture"], "output spikes"),
        (["{clip},x"], "path,label", ["--base", "no_such_model.pt"], "no such"),
    ],
)
def test_bad_inputs_write_nothing(tmp_path, capsys, rows, header, extra, match):
    clip = shared_file(f"{CLIPS}/class3_user02_led.csv")
    csv = _csv(tmp_path, [r.format(clip=clip) for r in rows], header=header)
    out = tmp_path / "m.onnx"
    rc = main(["teach", "--examples", str(csv), "--out", str(out), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc != 0 and match in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex.csv"]


def test_existing_out_needs_force_and_bad_suffix(tmp_path, capsys):
    clip = shared_file(f"{CLIPS}/class3_user02_led.csv")
    csv = _csv(tmp_path, [f"{clip},x"], header="path,label")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    assert main(["teach", "--examples", str(csv), "--out", str(out), "--no-progress"]) != 0
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    bad = tmp_path / "m.pt"
    assert main(["teach", "--examples", str(csv), "--out", str(bad), "--no-progress"]) != 0
    assert ".onnx" in capsys.readouterr().err and not bad.exists()
    missing = tmp_path / "none.csv"
    fresh = tmp_path / "fresh.onnx"
    assert main(["teach", "--examples", str(missing), "--out", str(fresh), "--no-progress"]) != 0
    assert "no such examples file" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me" and not fresh.exists()


def test_an_unreadable_recording_is_named(tmp_path, capsys):
    (tmp_path / "junk.aedat4").write_bytes(b"\x00not an event file\x01" * 10)
    csv = _csv(tmp_path, ["junk.aedat4,x"], header="path,label")
    out = tmp_path / "m.onnx"
    assert main(["teach", "--examples", str(csv), "--out", str(out), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "junk.aedat4" in err and "line 2" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".pt").exists()


def test_models_lists_a_taught_model_and_the_modes_it_runs_in(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROMOCO_MODELS_DIR", str(tmp_path))
    card = {"base": "neuromoco-ssl", "classes": ["a", "b"], "new_classes": ["a", "b"],
            "examples": [{}, {}], "seconds": 3.2}  # fmt: skip
    for name, modes in (("dir", ["window"]), ("steps", ["window", "stream"]), ("old", None)):
        (tmp_path / f"{name}.onnx").write_bytes(b"")
        c = card if modes is None else {**card, "modes": modes}
        (tmp_path / f"{name}.json").write_text(json.dumps(c))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    mine = out[out.index("your models") :]
    assert "taught on neuromoco-ssl: 2 classes (a, b new), 2 examples, 3.2 s" in mine
    assert mine.count("runs in window mode only") == 1
    dir_block = mine[mine.index("\ndir\n") : mine.index("\nold\n")]
    assert "runs in window mode only (direction features)" in dir_block
