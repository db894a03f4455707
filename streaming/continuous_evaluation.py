"""What a person sees live: labelled recordings played one after another, with pauses, scored per hop.

Per-clip accuracy (:mod:`~neuromoco.streaming.recording_evaluation`: one summed decision from a
fresh state per trimmed clip) hides what a camera owner watches: the label the app shows at every
hop while gestures follow one another, with pauses between them, in a room with sensor noise.
This module measures that.

**The stream.** The recordings of a labels CSV are played in its order, each shifted to follow
the previous one, and each followed by a gap of ``gap_s`` seconds that holds only generated
background activity (``background_hz`` per pixel, :mod:`neuromoco.sensor_noise`). ``noisy`` adds a
noisy room over the whole stream: 0.5 Hz/pixel more background and 5 hot pixels at 200 Hz. All of
it is seeded.

**The run.** The stream is replayed through the app's own :class:`~neuromoco.streaming.engine.Engine`
(as fast as possible and lossless; at 1× a live source gives the same windows, the same filters
and the same gate decisions, only at wall-clock pace) with the engine's defaults for the model:
no second path. A hop is one prediction.

**The scores** (per model and mode):

* ``in_gesture_right``: share of the hops inside a gesture, from 0.5 s after its first event to its
  last, whose shown ``gesture`` is the true class (``in_gesture_top_right``: the same for the
  model's raw top class ``label``);
* ``pause_no_gesture``: share of the hops in a pause, from 1 s into it to its end, that show no
  gesture (``gesture`` is None);
* ``time_to_right_s``: per gesture, from its first event to the first of 3 hops in a row that
  show the right class (median over gestures that get there; ``never_right`` counts the others);
* ``never_settled``: gestures during which no shown class (right or wrong) holds for 3 hops in a row;
* ``flicker_per_gesture``: changes of the shown ``gesture`` during a gesture, after it first
  shows one (a change to or from "no gesture" counts), averaged over the gestures.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromoco.events import read_recording
from neuromoco.sensor_noise import add_room_noise, background_activity, merge_events

from .engine_config import EngineConfig
from .file_source import ArraySource
from .recording_evaluation import read_labels, replay

SKIP_GESTURE_US = 500_000
"""Hops in the first 0.5 s of a gesture are not scored for ``in_gesture_right`` (the window is
still filling); they count for the time to a right decision."""
PAUSE_SETTLE_US = 1_000_000
"""Hops in the first 1 s of a pause are not scored (the window still holds the gesture)."""
RUN = 3
"""Hops in a row that make a decision "settled"."""

NOISY_BACKGROUND_HZ = 0.5
NOISY_HOT_PIXELS = 5
NOISY_HOT_HZ = 200.0


@dataclass(frozen=True)
class Segment:
    """One stretch of the continuous stream: a gesture (``label`` its class index, ``path`` its
    recording) or a pause (``label`` None), ``[t0_us, t1_us)`` in stream time."""

    kind: str
    t0_us: int
    t1_us: int
    label: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class ContinuousStream:
    """The events of the whole stream (sorted, ``EVENT_DTYPE``), its sensor and its segments."""

    events: np.ndarray
    sensor_size: tuple[int, int]
    segments: list[Segment]

    @property
    def duration_s(self) -> float:
        return (self.segments[-1].t1_us - self.segments[0].t0_us) / 1e6 if self.segments else 0.0


def check_stream_settings(gap_s: float, background_hz: float) -> None:
    """``ValueError`` (naming the option) for a pause that is not positive, or a negative
    background rate."""
    if not gap_s > 0:
        raise ValueError(f"--gap-s must be positive, got {gap_s}")
    if not background_hz >= 0:
        raise ValueError(f"--background-hz must be ≥ 0, got {background_hz}")


def build_stream(
    labels_csv: str | Path,
    class_names: list[str],
    sensor_size: tuple[int, int] | None = None,
    gap_s: float = 3.0,
    background_hz: float = 0.2,
    noisy: bool = False,
    seed: int = 0,
) -> ContinuousStream:
    """The continuous stream of the recordings listed in ``labels_csv`` (see the module docstring).

    ``sensor_size``: for recordings whose format does not store it (else each file's own; all
    must agree). Raises ``ValueError``/``FileNotFoundError`` naming the file and the reason.
    """
    check_stream_settings(gap_s, background_hz)
    items = read_labels(labels_csv, class_names)
    base = Path(labels_csv).parent
    rng = np.random.default_rng(seed)
    gap_us = int(round(gap_s * 1e6))
    parts, segments = [], []
    given = None if sensor_size is None else (int(sensor_size[0]), int(sensor_size[1]))
    sensor = None
    t = 0
    for item in items:
        rec = read_recording(item.path, sensor_size=given)
        size = (int(rec.sensor_size[0]), int(rec.sensor_size[1]))
        if sensor is None:
            sensor = size
        elif size != sensor:
            raise ValueError(
                f"{item.path}: a {size[0]}x{size[1]} recording in a {sensor[0]}x{sensor[1]} stream "
                "(every recording of a continuous run needs the same sensor)"
            )
        ev = rec.events
        if ev.shape[0] == 0:
            raise ValueError(f"{item.path}: no events")
        ev = ev.copy()
        ev["t"] = ev["t"] - int(ev["t"][0]) + t
        end = int(ev["t"][-1]) + 1
        try:
            shown = item.path.relative_to(base).as_posix()
        except ValueError:
            shown = str(item.path)
        segments.append(Segment("gesture", t, end, item.label, shown))
        segments.append(Segment("pause", end, end + gap_us))
        parts.append(ev)
        parts.append(background_activity(end, end + gap_us, sensor, background_hz, rng))
        t = end + gap_us
    events = merge_events(parts)
    if noisy:
        events = add_room_noise(
            events, sensor, 0, t, rng, NOISY_BACKGROUND_HZ, NOISY_HOT_PIXELS, NOISY_HOT_HZ
        )
    return ContinuousStream(events, sensor, segments)


def run_stream(predictor, stream: ContinuousStream, config: EngineConfig | None = None) -> list:
    """Every prediction of one lossless, as-fast-as-possible replay of ``stream`` through an
    :class:`Engine` with ``config`` (default: the engine's defaults, the app's)."""
    source = ArraySource(stream.events, stream.sensor_size, speed=0.0, name="continuous stream")
    return replay(predictor, source, config)


def _first_run(values: list, ok, run: int = RUN) -> int | None:
    """Index of the first of ``run`` consecutive values for which ``ok(value)`` holds, or None."""
    n = 0
    for i, v in enumerate(values):
        n = n + 1 if ok(v) else 0
        if n >= run:
            return i - run + 1
    return None


def score(predictions: list, stream: ContinuousStream) -> dict:
    """The scores of the module docstring, plus one entry per gesture."""
    t = np.array([p.t_us for p in predictions], dtype=np.int64)
    shown = [p.gesture_index for p in predictions]
    top = [p.label_index for p in predictions]
    g_right = g_top = g_n = 0
    p_ok = p_n = 0
    per_gesture = []
    for seg in stream.segments:
        lo, hi = (int(i) for i in np.searchsorted(t, [seg.t0_us, seg.t1_us], side="left"))
        if seg.kind == "pause":
            a = int(np.searchsorted(t, seg.t0_us + PAUSE_SETTLE_US, side="left"))
            for i in range(a, hi):
                p_n += 1
                p_ok += int(shown[i] is None)
            continue
        a = int(np.searchsorted(t, seg.t0_us + SKIP_GESTURE_US, side="left"))
        n = max(0, hi - a)
        right = int(sum(shown[i] == seg.label for i in range(a, hi)))
        g_n += n
        g_right += right
        g_top += int(sum(top[i] == seg.label for i in range(a, hi)))
        vals = shown[lo:hi]
        first_right = _first_run(vals, lambda v, k=seg.label: v == k)
        settled = _settled(vals)
        seen = list(itertools.dropwhile(lambda v: v is None, vals))
        changes = sum(1 for i in range(1, len(seen)) if seen[i] != seen[i - 1])
        per_gesture.append(
            {
                "path": seg.path,
                "label": int(seg.label),
                "hops": n,
                "right": round(right / n, 4) if n else None,
                "time_to_right_s": None
                if first_right is None
                else round((int(t[lo + first_right]) - seg.t0_us) / 1e6, 3),
                "settled": settled,
                "changes": changes,
            }
        )
    ttr = [g["time_to_right_s"] for g in per_gesture if g["time_to_right_s"] is not None]
    return {
        "n_gestures": len(per_gesture),
        "hops_in_gesture": g_n,
        "in_gesture_right": g_right / g_n if g_n else None,
        "in_gesture_top_right": g_top / g_n if g_n else None,
        "hops_in_pause": p_n,
        "pause_no_gesture": p_ok / p_n if p_n else None,
        "time_to_right_s_median": float(np.median(ttr)) if ttr else None,
        "never_right": sum(g["time_to_right_s"] is None for g in per_gesture),
        "never_settled": sum(not g["settled"] for g in per_gesture),
        "flicker_per_gesture": float(np.mean([g["changes"] for g in per_gesture]))
        if per_gesture
        else None,
        "gestures": per_gesture,
    }


def _settled(values: list) -> bool:
    """True when some non-null value holds for :data:`RUN` hops in a row."""
    n, prev = 0, object()
    for v in values:
        n = n + 1 if v is not None and v == prev else (1 if v is not None else 0)
        prev = v
        if n >= RUN:
            return True
    return False


def evaluate_continuous(
    predictor,
    labels_csv: str | Path,
    mode: str = "window",
    gap_s: float = 3.0,
    background_hz: float = 0.2,
    noisy: bool = False,
    seed: int = 0,
    sensor_size: tuple[int, int] | None = None,
    config: EngineConfig | None = None,
) -> dict:
    """Build the stream, run it through the engine in ``mode``, score it (see the module
    docstring). ``config``: engine settings (default: the engine's defaults, the app's); its mode
    is replaced by ``mode``. Returns the scores with the settings and the engine's latency."""
    from dataclasses import replace

    names = [str(c) for c in predictor.class_names]
    t0 = time.perf_counter()
    stream = build_stream(
        labels_csv, names, sensor_size or _framing_sensor(predictor), gap_s, background_hz,
        noisy, seed,
    )  # fmt: skip
    config = replace(config or EngineConfig(), mode=mode)
    preds = run_stream(predictor, stream, config)
    result = score(preds, stream)
    for g in result["gestures"]:
        g["label"] = names[g["label"]]
    result.update(
        mode=mode,
        gap_s=gap_s,
        background_hz=background_hz,
        noisy=bool(noisy),
        seed=int(seed),
        hops=len(preds),
        stream_s=round(stream.duration_s, 3),
        class_names=names,
        seconds=round(time.perf_counter() - t0, 2),
    )
    return result


def _framing_sensor(predictor):
    """The sensor the model was framed for: the size a recording without one is read at."""
    s = getattr(predictor.framing, "sensor_size", None)
    return None if s is None else (int(s[0]), int(s[1]))


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


def format_report(result: dict) -> str:
    """A few lines: the scores, then one line per gesture."""
    ttr = result["time_to_right_s_median"]
    lines = [
        f"continuous: {result['n_gestures']} gestures, gaps of {result['gap_s']:g} s, "
        f"{'noisy room' if result['noisy'] else 'clean'}, {result['mode']} mode, "
        f"{result['hops']} hops over {result['stream_s']:.1f} s",
        f"  in-gesture hops right      {_pct(result['in_gesture_right'])} "
        f"(top class: {_pct(result['in_gesture_top_right'])}) of {result['hops_in_gesture']}",
        f"  pause hops 'no gesture'    {_pct(result['pause_no_gesture'])} of {result['hops_in_pause']}",
        "  time to a right decision   "
        + ("—" if ttr is None else f"{ttr:.2f} s median")
        + f", never right: {result['never_right']}, never settled: {result['never_settled']}",
        f"  changes per gesture        {result['flicker_per_gesture']:.2f}",
    ]
    for g in result["gestures"]:
        tt = "never" if g["time_to_right_s"] is None else f"{g['time_to_right_s']:.2f} s"
        lines.append(
            f"    {g['path']}: {g['label']}: {_pct(g['right'])} right, right after {tt}, "
            f"{g['changes']} changes"
        )
    return "\n".join(lines)
