"""`neuromoco evaluate MODEL --recordings LABELS.csv`: labelled recordings scored through the
streaming engine, checked against offline framing + the model on the same windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuromoco.cli import main as cli
from neuromoco.events import write_events
from neuromoco.framing import to_frames
from neuromoco.synth import generate_gesture

CLASSES = (1, 3, 7)  # right_hand_wave, right_arm_clockwise, arm_roll


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three procedural gestures as .npz recordings + a labels CSV (names, and one index)."""
    d = tmp_path_factory.mktemp("clips")
    from neuromoco.data.dvs128_gesture import CLASS_NAMES

    lines = ["path,label"]
    events = {}
    for i, k in enumerate(CLASSES):
        ev = generate_gesture(k, seed=11 + i, duration_us=1_300_000)
        ev["t"] += 5_000_000  # recordings rarely start at 0
        name = f"sub/g{k}.npz"
        (d / "sub").mkdir(exist_ok=True)
        write_events(d / name, ev, (128, 128))
        events[name] = ev
        lines.append(f"{name},{k if i == 2 else CLASS_NAMES[k]}")
    (d / "labels.csv").write_text("\n".join(lines) + "\n")
    return d, events


@pytest.fixture(scope="module")
def predictor():
    from neuromoco.streaming.model import open_model

    return open_model("gesture-demo", mode="window", threads=1)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _engine_filtered(ev, spec, framing_too=False):
    """What the engine's default filters leave of a clip: its neighbour filter when the model's
    framing has none (none to add for the bundled models, whose framing has it), no hot pixel to
    mask in these clips; ``framing_too``: then the framing's own denoise, as the windower does."""
    from neuromoco.denoise import denoise
    from neuromoco.streaming.engine_config import EngineConfig, plan

    nf = plan(EngineConfig(), spec).noise_filter_us
    if nf:
        ev = denoise(ev, nf, (128, 128))[0]
    if framing_too and spec.denoise_us:
        ev = denoise(ev, spec.denoise_us, (128, 128))[0]
    return ev


def test_window_scores_equal_offline_framing(clips, predictor):
    """Every window the engine scored equals to_frames (of the filtered stream) + the model
    offline on that window, and the clip's decision is the argmax of their summed probabilities."""
    from neuromoco.streaming.recording_evaluation import _replay, clip_scores

    d, events = clips
    spec = predictor.framing
    for name, ev in events.items():
        ev = _engine_filtered(ev, spec)
        preds = _replay(predictor, d / name, "window", False, None)
        assert len(preds) >= 4
        ref_total = np.zeros(len(predictor.class_names))
        for p in preds:
            assert p.t_us - p.t_start_us == spec.window_us
            frames = spec.frames(ev, (128, 128), t_start=p.t_start_us, t_end=p.t_us)
            logits = np.asarray(predictor.window(frames[:, None]))[:, 0]
            probs = _softmax(logits.mean(0))
            np.testing.assert_allclose(p.probs, probs, atol=1e-5)
            ref_total += probs
        np.testing.assert_allclose(
            clip_scores(preds, "window", len(ref_total)), ref_total, atol=1e-5
        )


@pytest.mark.parametrize("mode", ["window", "stream"])
def test_cli_json_schema_and_table(clips, mode, tmp_path, capsys):
    d, _ = clips
    out = tmp_path / "r.json"
    rc = cli(
        ["evaluate", "gesture-demo", "--recordings", str(d / "labels.csv"), "--mode", mode]
        + ["--json", str(out)]
    )
    assert rc == 0
    text = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert set(res) >= {"accuracy", "n", "clips"} and res["n"] == 3 and res["mode"] == mode
    assert [c["path"] for c in res["clips"]] == [f"sub/g{k}.npz" for k in CLASSES]
    for c in res["clips"]:
        assert set(c) >= {"path", "label", "pred", "correct"}
        assert c["correct"] == (c["pred"] == c["label"])
        assert c["predictions"] > 0
    assert res["accuracy"] == pytest.approx(sum(c["correct"] for c in res["clips"]) / 3)
    cm = np.array(res["confusion"])
    assert cm.shape == (11, 11) and cm.sum() == 3 and np.trace(cm) == res["correct"]
    assert "accuracy" in text and "confusion matrix" in text and "arm_roll" in text


def test_stream_mode_sums_each_step_once(clips, predictor):
    """Stream mode: one prediction per bin; the clip score is the sum of each step's own
    distribution, which equals stepping the network offline over the clip's bins."""
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import _replay, clip_scores

    stepper = open_model("gesture-demo", mode="stream", threads=1)
    d, events = clips
    name, ev = next(iter(events.items()))
    from neuromoco.streaming.engine_config import EngineConfig

    # no gate: it would reset the state at a quiet stretch (tests/test_gesture_gate.py)
    preds = _replay(stepper, d / name, "stream", False, None, EngineConfig(gate=None))
    ev = _engine_filtered(ev, stepper.framing, framing_too=True)
    spec = stepper.framing
    bin_us = spec.window_us // spec.T
    t0 = int(ev["t"][0])  # the bin grid starts at the first event the windower gets
    n_bins = len(preds)  # one prediction per bin from the first one on
    frames = to_frames(
        ev, n_bins, (128, 128), split_by="time", size=spec.size, t_start=t0,
        t_end=t0 + n_bins * bin_us,
    )  # fmt: skip
    state = stepper.init_state(1)
    total = np.zeros(len(stepper.class_names))
    for t in range(n_bins):
        out, state = stepper.step(frames[t][None], state)
        total += _softmax(np.asarray(out)[0])
    np.testing.assert_allclose(clip_scores(preds, "stream", len(total)), total, atol=1e-4)


def test_clip_shorter_than_a_window_is_scored(tmp_path, predictor):
    from neuromoco.streaming.recording_evaluation import evaluate_recordings

    ev = generate_gesture(3, seed=5, duration_us=500_000)  # window: 800 ms
    write_events(tmp_path / "short.npz", ev, (128, 128))
    (tmp_path / "l.csv").write_text("path,label\nshort.npz,right_arm_clockwise\n")
    res = evaluate_recordings(predictor, tmp_path / "l.csv", "window")
    assert res["clips"][0]["predictions"] == 1 and res["clips"][0]["pred"] is not None


@pytest.mark.parametrize(
    "content, match",
    [
        ("file,class\na.npz,1\n", "header with columns path,label"),
        ("path,label\na.npz,no_such_class\n", "unknown class 'no_such_class'"),
        ("path,label\na.npz,11\n", "class index 11 out of range"),
        ("path,label\nmissing.npz,1\n", "missing.npz not found"),
        ("path,label\n", "no recordings listed"),
        ("path,label\na.npz,\n", "empty path or label"),
    ],
)
def test_bad_labels_files(tmp_path, capsys, content, match):
    write_events(tmp_path / "a.npz", generate_gesture(1, 0, 300_000), (128, 128))
    (tmp_path / "l.csv").write_text(content)
    assert cli(["evaluate", "gesture-demo", "--recordings", str(tmp_path / "l.csv")]) == 1
    err = capsys.readouterr().err
    assert "l.csv" in err and match in err


def test_bad_model_and_arguments(tmp_path, capsys, clips):
    d, _ = clips
    labels = str(d / "labels.csv")
    assert cli(["evaluate", "no-such-model", "--recordings", labels]) == 1
    assert "no-such-model" in capsys.readouterr().err
    assert cli(["evaluate", "gesture-demo", "--recordings", str(tmp_path / "none.csv")]) == 1
    assert "none.csv: no such labels file" in capsys.readouterr().err
    assert cli(["evaluate", "gesture-demo", "--recordings", labels, "--json", "x.txt"]) == 1
    assert "must end in .json" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --data and --recordings exclude each other
        cli(["evaluate", "gesture-demo", "--recordings", labels, "--data", "procedural"])


def test_models_command_lists_bundled_models(capsys):
    assert cli(["models"]) == 0
    out = capsys.readouterr().out
    assert "dvs128-gesture" in out and "gesture-demo" in out
    assert "--camera --file" in out and "--demo --webcam" in out and "MODEL_CARD_" in out


def test_bundled_name_with_either_backend():
    from neuromoco.streaming.model import open_model

    assert open_model("gesture-demo", backend="torch").backend == "torch"
    assert open_model("gesture-demo", backend="onnx").backend == "onnx"


def test_five_shared_real_clips_json(testdata, tmp_path, capsys):
    """The five labelled real DVS128 Gesture clips (CSV, no polarity) through the engine, with
    the bundled real-data model in its own (stream) mode."""
    labels = testdata / "dvsgesture_csv" / "labels.csv"
    out = tmp_path / "real.json"
    assert cli(["evaluate", "dvs128-gesture", "--recordings", str(labels), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == 5 and res["mode"] == "stream" and res["model"] == "dvs128-gesture"
    assert [c["label"] for c in res["clips"]] == [
        "right_hand_wave", "left_hand_wave", "right_arm_counter_clockwise",
        "left_arm_clockwise", "left_arm_counter_clockwise",
    ]  # fmt: skip
    assert all(c["pred"] is not None and c["predictions"] > 100 for c in res["clips"])
    # the hand waves are the easy part for a model trained on real data
    assert res["clips"][0]["correct"] and res["clips"][1]["correct"]
    assert res["accuracy"] == res["correct"] / 5


def test_preferred_modes():
    from neuromoco.streaming.model import preferred_mode

    assert preferred_mode("dvs128-gesture") == "stream"
    assert preferred_mode("gesture-demo") == "stream"  # measured live: docs/results.md
    assert preferred_mode("gesture-demo", "demo") == "window"  # back-to-back procedural gestures
    assert preferred_mode(None, "camera") == "stream" and preferred_mode(None, "demo") == "window"
    assert preferred_mode("some/model.onnx") == "window"
