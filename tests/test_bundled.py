"""The bundled models: the registry, and the gesture-demo model shipped, loadable by both backends,
consistent, and better than chance."""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.data.dvs128_gesture import CLASS_NAMES
from neuromoco.models import bundled

DEMO = bundled.bundled_model("gesture-demo")


def _shipped():
    if DEMO.path() is None:
        pytest.fail(
            "no gesture-demo model in models/weights/: run python -m tools.build_bundled --build"
        )
    return DEMO.onnx, DEMO.checkpoint


def test_bundled_files_and_metadata():
    onnx_path, ckpt_path = _shipped()
    assert bundled.bundled_model_path("gesture-demo") == onnx_path
    assert bundled.bundled_model_path("gesture-demo", prefer="pt") == ckpt_path
    # a few MB at most (issue E)
    assert onnx_path.stat().st_size < 4 << 20 and ckpt_path.stat().st_size < 4 << 20
    metrics = DEMO.metrics()
    assert metrics["top1"] > 0.3 and len(metrics["latency_acc"]) == metrics["framing"]["T"]


def _test_windows(framing, n_per_class=2):
    """Random sub-windows of procedural test-split gestures, framed as in training."""
    from neuromoco.data import build_dataset

    ds = build_dataset(
        "procedural",
        None,
        "test",
        framing,
        sampling="window",
        window_seed=123,
        progress=False,
        per_class=5,
        seed=7,  # other gestures than the training set (seed 0)
        test_fraction=0.4,
    )
    idx = [
        i
        for c in range(len(CLASS_NAMES))
        for i in np.flatnonzero(np.array(ds.labels) == c)[:n_per_class]
    ]
    x = np.stack([ds[i][0].numpy() for i in idx], axis=1)  # [T, N, 2, H, W]
    y = np.array([ds.labels[i] for i in idx])
    return x, y


def test_bundled_torch_and_onnx_agree_and_beat_chance():
    from neuromoco.models.inference import load_predictor

    onnx_path, ckpt_path = _shipped()
    ort = load_predictor(onnx_path, backend="onnx", graph="step")
    pt = load_predictor(ckpt_path, backend="torch", graph="step")
    assert list(ort.class_names) == list(CLASS_NAMES) == list(pt.class_names)
    assert ort.framing == pt.framing and ort.framing.split_by == "time"
    assert ort.framing.window_us % ort.framing.T == 0  # stream mode needs whole bins

    x, y = _test_windows(ort.framing)
    logits_pt = pt.window(x)
    logits_ort = ort.window(x)
    np.testing.assert_allclose(logits_ort, logits_pt, atol=1e-4)
    # stepping the explicit-state graph T times == the window
    state = ort.init_state(x.shape[1])
    steps = []
    for t in range(x.shape[0]):
        out, state = ort.step(x[t], state)
        steps.append(out)
    np.testing.assert_allclose(np.stack(steps), logits_ort, atol=1e-4)
    acc = float((logits_ort.mean(0).argmax(1) == y).mean())
    assert acc > 0.3, (
        f"bundled model accuracy {acc:.2f} on unseen procedural gestures (chance 0.09)"
    )


@pytest.mark.slow
def test_bundled_build_runs_end_to_end(tmp_path):
    """The whole build (pretrain, finetune, measure, export, atomic replace) on tiny settings.
    The procedural recipe pair: its flat ``data.options`` take one override for both recipes
    (the mixed pretraining recipe nests options per dataset; bench.real_gain --quick runs it)."""
    from tools.build_bundled import build

    m = build(
        tmp_path / "runs",
        (
            "run.epochs=1",
            "run.progress=false",
            "data.options={per_class=2, seed=0, test_fraction=0.5}",
            "optim.batch_size=4",
            "moco.queue_size=8",
            f"data.cache_dir={tmp_path / 'cache'}",
        ),
        out=tmp_path / "weights",
        recipe_set="procedural",
    )
    ssl = bundled.bundled_model("neuromoco-ssl")
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == sorted(
        [DEMO.checkpoint.name, DEMO.onnx.name, DEMO.metrics_path.name]
        + [ssl.checkpoint.name, ssl.metrics_path.name]
    )
    assert 0.0 <= m["top1"] <= 1.0 and m["arch"] == "lif_convnet4"


def test_registry_names_defaults_and_resolution(tmp_path):
    assert set(bundled.BUNDLED) == {"dvs128-gesture", "gesture-demo", "neuromoco-ssl"}
    assert set(bundled.CLASSIFIERS) == {"dvs128-gesture", "gesture-demo"}
    # every source runs the winner of the continuous benchmark on real clips (docs/results.md)
    for kind in ("camera", "file", "demo", "webcam"):
        assert bundled.default_model_name(kind) == "gesture-demo"
    path, name = bundled.resolve_model("gesture-demo")
    assert (path, name) == (DEMO.onnx, "gesture-demo")
    assert bundled.resolve_model(None, "demo") == (DEMO.onnx, "gesture-demo")
    assert bundled.resolve_model("gesture-demo", prefer="pt")[0] == DEMO.checkpoint
    other = tmp_path / "mine.pt"
    assert bundled.resolve_model(str(other)) == (other, "mine.pt")
    for m in bundled.BUNDLED.values():
        assert m.card.is_file(), f"model card {m.card} missing"


def test_registry_bad_names():
    with pytest.raises(ValueError, match="unknown bundled model 'nope'.*gesture-demo"):
        bundled.bundled_model("nope")
    with pytest.raises(ValueError, match="unknown source kind 'tv'"):
        bundled.default_model_name("tv")
    with pytest.raises(ValueError, match="prefer"):
        DEMO.path(prefer="tflite")


def test_gesture_demo_on_the_labelled_real_clips(testdata):
    """Regression guard for the shipped model (no real label was used to train it): on the five
    labelled real DVS128 Gesture clips it got 5/5 when built; fewer than 4 means a regression
    (an arm rotation mislabelled by the generator gave 2/5 before)."""
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import evaluate_recordings

    labels = testdata / "dvsgesture_csv" / "labels.csv"
    res = evaluate_recordings(open_model("gesture-demo", mode="stream"), labels, "stream")
    assert res["correct"] >= 4, [(c["label"], c["pred"]) for c in res["clips"]]


def _card_rows(card_text: str, first_cell: str) -> list[list[str]]:
    """The cells of every markdown table row of a model card whose first cell is ``first_cell``."""
    rows = []
    for line in card_text.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_model_cards_state_the_shipped_figures():
    """What a card says is what the shipped .json measured: gesture-demo's procedural test top-1
    (all T steps), and for both models every live (continuous) figure of the engine defaults."""
    m = DEMO.metrics()
    card = DEMO.card.read_text()
    (row,) = _card_rows(card, "test top-1 (%)")
    assert float(row[-1]) == round(100 * m["top1"], 1)
    assert [float(v) for v in row[1:]] == [round(100 * a, 1) for a in m["latency_acc"]]
    for model in bundled.CLASSIFIERS.values():
        met, text = model.metrics(), model.card.read_text()
        rows = met.get("continuous", {}).get("rows", [])
        assert rows, f"{model.metrics_path}: no continuous figures (python -m bench live --write)"
        for r in rows:
            want = f"{100 * r['in_gesture_right']:.1f} %"
            lines = [
                line
                for line in text.splitlines()
                if line.startswith(f"| {r['mode']}") and f"| {r['room']}" in line
            ]
            assert any(want in line for line in lines), (model.card, r["mode"], r["room"], want)


def test_the_ssl_encoder_ships_without_classes(capsys):
    """neuromoco-ssl: the build's NeuroMoCo-pretrained encoder (no label anywhere), weights only,
    with the demo's framing; the app refuses it with what to do instead."""
    from neuromoco.models.checkpoint import load_checkpoint
    from neuromoco.streaming.model import ModelError, open_model

    ssl = bundled.bundled_model("neuromoco-ssl")
    ck = load_checkpoint(ssl.checkpoint)
    assert ck.num_classes == 0 and ck.class_names == [] and ck.meta["encoder"] is True
    assert ck.framing == load_checkpoint(DEMO.checkpoint).framing
    assert not any(k.startswith("head.") for k in ck.state_dict)
    assert ssl.checkpoint.stat().st_size < 2 << 20 and ssl.card.is_file()
    with pytest.raises(ModelError, match="teach it gestures first"):
        open_model("neuromoco-ssl")
