"""The continuous benchmark: the stream it builds, its scores against hand-counted answers, the
CLI's JSON schema on the shared clips, and the bad inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from neuromoco.streaming.continuous_evaluation import (
    ContinuousStream,
    Segment,
    build_stream,
    score,
)
from tests.conftest import shared_file

NAMES = [f"c{i}" for i in range(11)]


@dataclass
class _P:
    t_us: int
    gesture_index: int | None
    label_index: int


def _stream(segments):
    return ContinuousStream(np.zeros(0), (128, 128), segments)


def test_scores_against_hand_counts():
    # gesture of class 3 over [0, 2 s), pause [2 s, 5 s); one hop every 0.25 s
    segs = [Segment("gesture", 0, 2_000_000, 3, "a"), Segment("pause", 2_000_000, 5_000_000)]
    shown = [
        None,
        None,
        3,
        3,
        5,
        3,
        3,
        3,
        3,
        3,
        None,
        None,
        None,
        None,
        7,
        None,
        None,
        None,
        None,
        None,
    ]
    top = [1, 1, 3, 3, 5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 7, 3, 3, 3, 3, 3]
    preds = [_P(i * 250_000, s, k) for i, (s, k) in enumerate(zip(shown, top, strict=True))]
    r = score(preds, _stream(segs))
    # scored gesture hops: t in [0.5 s, 2 s): indices 2..7 → 3 3 5 3 3 3: 5 of 6 right
    assert r["hops_in_gesture"] == 6 and r["in_gesture_right"] == pytest.approx(5 / 6)
    assert r["in_gesture_top_right"] == pytest.approx(5 / 6)
    # pause hops from 3 s: indices 12..19 → one shows class 7
    assert r["hops_in_pause"] == 8 and r["pause_no_gesture"] == pytest.approx(7 / 8)
    # first of 3 right in a row inside the gesture: index 5 (t = 1.25 s)
    assert r["time_to_right_s_median"] == pytest.approx(1.25)
    assert r["never_right"] == 0 and r["never_settled"] == 0
    # changes after the first shown value: 3→5, 5→3
    assert r["gestures"][0]["changes"] == 2 and r["flicker_per_gesture"] == 2.0


def test_a_gesture_that_never_settles():
    segs = [Segment("gesture", 0, 1_000_000, 2, "a"), Segment("pause", 1_000_000, 2_000_000)]
    shown = [2, 4, 2, 4, 2, None, 2, 4]
    preds = [_P(i * 125_000, s, 0) for i, s in enumerate(shown)]
    r = score(preds, _stream(segs))
    assert r["never_right"] == 1 and r["never_settled"] == 1
    assert r["time_to_right_s_median"] is None
    assert r["hops_in_pause"] == 0 and r["pause_no_gesture"] is None


def test_build_stream_layout_and_seed():
    labels = shared_file("dvsgesture_csv/labels.csv")
    a = build_stream(labels, NAMES_DVS, (128, 128), gap_s=2.0, background_hz=0.2, seed=3)
    b = build_stream(labels, NAMES_DVS, (128, 128), gap_s=2.0, background_hz=0.2, seed=3)
    np.testing.assert_array_equal(a.events, b.events)
    assert [s.kind for s in a.segments] == ["gesture", "pause"] * 5
    for g, p in zip(a.segments[::2], a.segments[1::2], strict=True):
        assert p.t0_us == g.t1_us and p.t1_us - p.t0_us == 2_000_000
    assert np.all(np.diff(a.events["t"]) >= 0)
    # a pause holds background only: ~0.2 Hz × 128² × 2 s ≈ 6,550 events
    p = a.segments[1]
    n = np.count_nonzero((a.events["t"] >= p.t0_us) & (a.events["t"] < p.t1_us))
    assert 6000 < n < 7100
    noisy = build_stream(labels, NAMES_DVS, (128, 128), gap_s=2.0, noisy=True, seed=3)
    extra = noisy.events.shape[0] - a.events.shape[0]
    dur = a.segments[-1].t1_us / 1e6
    # 0.5 Hz/pixel + 5 × 200 Hz over the whole stream, give or take the Poisson spread
    assert extra == pytest.approx((0.5 * 128 * 128 + 5 * 200) * dur, rel=0.03)


NAMES_DVS = [
    "hand_clap", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
    "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
    "arm_roll", "air_drums", "air_guitar", "other_gestures",
]  # fmt: skip


def test_cli_json_schema_on_the_shared_clips(tmp_path, capsys):
    from neuromoco.cli import main

    out = tmp_path / "c.json"
    labels = shared_file("dvsgesture_csv/labels.csv")
    rc = main(
        ["evaluate", "gesture-demo", "--recordings", str(labels), "--continuous", "--noisy",
         "--gap-s", "2", "--json", str(out)]
    )  # fmt: skip
    assert rc == 0
    r = json.loads(out.read_text())
    shares = ("in_gesture_right", "in_gesture_top_right", "pause_no_gesture")
    for k in shares:
        assert 0.0 <= r[k] <= 1.0
    for k in ("n_gestures", "hops", "hops_in_gesture", "hops_in_pause", "never_right",
              "never_settled"):  # fmt: skip
        assert isinstance(r[k], int)
    assert r["n_gestures"] == 5 and r["noisy"] is True and r["gap_s"] == 2.0
    assert r["model"] == "gesture-demo" and r["mode"] in ("window", "stream")
    assert isinstance(r["time_to_right_s_median"], float)
    assert isinstance(r["flicker_per_gesture"], float)
    assert {"path", "label", "hops", "right", "time_to_right_s", "settled", "changes"} <= set(
        r["gestures"][0]
    )
    assert "in-gesture hops right" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, match",
    [
        (["--continuous", "--gap-s", "0"], "--gap-s"),
        (["--continuous", "--background-hz", "-1"], "--background-hz"),
    ],
)
def test_cli_bad_inputs(args, match, capsys):
    from neuromoco.cli import main

    labels = shared_file("dvsgesture_csv/labels.csv")
    rc = main(["evaluate", "gesture-demo", "--recordings", str(labels), *args])
    assert rc != 0
    assert match in capsys.readouterr().err


def test_cli_continuous_needs_recordings(capsys):
    from neuromoco.cli import main

    assert main(["evaluate", "gesture-demo", "--data", "procedural", "--continuous"]) != 0
    assert "--continuous needs --recordings" in capsys.readouterr().err


def test_mixed_sensor_sizes_are_refused(tmp_path):
    from neuromoco.events import make_events, write_events

    ev = make_events([0, 10, 20], [1, 2, 3], [1, 2, 3], [0, 1, 0])
    write_events(tmp_path / "a.aedat4", ev, (128, 128))
    write_events(tmp_path / "b.aedat4", ev, (346, 260))
    (tmp_path / "l.csv").write_text("path,label\na.aedat4,hand_clap\nb.aedat4,hand_clap\n")
    with pytest.raises(ValueError, match="b.aedat4.*same sensor"):
        build_stream(tmp_path / "l.csv", NAMES_DVS)
