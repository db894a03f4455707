"""Accuracy of a model on labelled recordings, measured through the streaming engine the app uses.

Every recording is replayed by a :class:`~neuromoco.streaming.file_source.FileSource` as fast as
possible and losslessly (the source waits for inference, nothing is dropped) through an
:class:`~neuromoco.streaming.engine.Engine`: the same reader, windower, framing and inference
session as ``neuromoco-app --file``. There is no second framing path.

**One decision per clip** (the class with the most summed per-step evidence):

* ``window`` mode: the sum of the aggregated ``probs`` of every window the engine emitted (each
  window is a fresh network run over its T bins, as in training). A recording shorter than one
  window gets one window ending at its last tick, with the time before its first event as empty
  bins (``Engine(partial_windows=True)``), so that every clip is scored.
* ``stream`` mode: the network steps once per time bin from a fresh state at the clip's start;
  the sum over steps of each step's own distribution (``probs_per_step[-1]`` of the prediction
  emitted at that step). For a model with spiking outputs that is the sum of each step's output
  spikes (normalised per step), i.e. the "most output spikes over the trial" rule.

Ties go to the lower class index. A clip that yields no prediction at all (no events) is wrong.

Labels come from a CSV with a header ``path,label``: ``path`` relative to the CSV's folder (or
absolute), ``label`` a class name of the model or a 0-based class index.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine import Engine
from .engine_config import check_mode
from .file_source import ArraySource, FileSource


@dataclass(frozen=True)
class LabelledRecording:
    """One line of a labels CSV: the recording's ``path`` and its class ``label`` (0-based)."""

    path: Path
    label: int


@dataclass
class ClipResult:
    """The verdict on one recording: ``pred`` is None when the clip gave no prediction."""

    path: str
    label: str
    pred: str | None
    correct: bool
    predictions: int
    share: float
    """Fraction of the summed evidence that went to ``pred`` (0 when no prediction)."""

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "label": self.label,
            "pred": self.pred,
            "correct": self.correct,
            "predictions": self.predictions,
            "share": round(self.share, 4),
        }


def read_labels(csv_path: str | Path, class_names: list[str]) -> list[LabelledRecording]:
    """Parse a ``path,label`` CSV; every problem is a ``ValueError`` naming the file and line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such labels file")
    index = {name: i for i, name in enumerate(class_names)}
    out: list[LabelledRecording] = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if "path" not in cols or "label" not in cols:
            raise ValueError(f"{csv_path}: needs a header with columns path,label (got {cols})")
        reader.fieldnames = cols
        for row in reader:
            line = reader.line_num
            rel = (row.get("path") or "").strip()
            lab = (row.get("label") or "").strip()
            if not rel and not lab:
                continue  # blank line
            if not rel or not lab:
                raise ValueError(f"{csv_path}:{line}: empty path or label")
            if lab in index:
                k = index[lab]
            elif lab.lstrip("-").isdigit():
                k = int(lab)
                if not 0 <= k < len(class_names):
                    raise ValueError(
                        f"{csv_path}:{line}: class index {k} out of range "
                        f"(the model has {len(class_names)} classes)"
                    )
            else:
                raise ValueError(
                    f"{csv_path}:{line}: unknown class {lab!r}; the model's classes: "
                    f"{', '.join(class_names)}"
                )
            path = Path(rel) if Path(rel).is_absolute() else csv_path.parent / rel
            if not path.is_file():
                raise FileNotFoundError(f"{csv_path}:{line}: recording {path} not found")
            out.append(LabelledRecording(path, k))
    if not out:
        raise ValueError(f"{csv_path}: no recordings listed")
    return out


def replay(predictor, source, config=None, what=None, **options) -> list:
    """Every prediction of one lossless, as-fast-as-possible replay of ``source`` through an
    :class:`Engine` with ``config`` (default: the engine's defaults, the app's) and keyword
    ``options`` overriding its fields. A stream that ends in an error raises ``ValueError``
    (prefixed with ``what``, e.g. the file)."""
    engine = Engine(predictor, config, keep_predictions=1 << 30, lossless=True, **options)
    engine.start(source)
    try:
        engine.wait(None)
    finally:
        engine.stop(5.0)
    errors = [s.message for s in engine.poll_status() if s.kind == "error"]
    if errors:
        raise ValueError(errors[0] if what is None else f"{what}: {errors[0]}")
    return engine.poll_predictions()


def _replay(predictor, path, mode: str, partial: bool, sensor_size, config=None) -> list:
    """:func:`replay` of ``path`` (a file, or an in-memory ``(events, sensor_size)`` pair)."""
    if isinstance(path, tuple):
        events, size = path
        source, what = ArraySource(events, size, speed=0.0, name="events"), "events"
    else:
        source, what = FileSource(path, speed=0.0, sensor_size=sensor_size), path
    return replay(predictor, source, config, what, mode=mode, partial_windows=partial)


def clip_scores(predictions: list, mode: str, n_classes: int) -> np.ndarray:
    """Summed evidence ``[C]`` of one clip's predictions (see the module docstring)."""
    total = np.zeros(n_classes, dtype=np.float64)
    for p in predictions:
        total += p.probs if mode == "window" else p.probs_per_step[-1]
    return total


def evaluate_clip(predictor, path, mode: str, sensor_size=None) -> tuple[np.ndarray, int]:
    """``(scores [C], number of predictions)`` of one recording: a file, or an in-memory
    ``(events, sensor_size)`` pair (e.g. a variant made with :mod:`neuromoco.event_variants`)."""
    names = list(predictor.class_names)
    preds = _replay(predictor, path, mode, False, sensor_size)
    if not preds and mode == "window":
        # shorter than one window: score the window that ends at the recording's last tick
        preds = _replay(predictor, path, mode, True, sensor_size)[-1:]
    return clip_scores(preds, mode, len(names)), len(preds)


def evaluate_recordings(
    predictor,
    labels_csv: str | Path,
    mode: str = "window",
    sensor_size=None,
    progress=None,
) -> dict:
    """Replay every recording of ``labels_csv`` through the engine and score it.

    Returns ``{"accuracy", "n", "correct", "mode", "class_names", "confusion" [C][C] (rows:
    truth, columns: prediction; clips without a prediction are not in it), "clips": [...],
    "seconds"}``. ``progress(i, n, ClipResult)`` is called after every clip.
    """
    check_mode(mode)
    names = [str(c) for c in predictor.class_names]
    items = read_labels(labels_csv, names)
    base = Path(labels_csv).parent
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    clips: list[ClipResult] = []
    t0 = time.perf_counter()
    for i, item in enumerate(items):
        scores, n = evaluate_clip(predictor, item.path, mode, sensor_size)
        total = float(scores.sum())
        pred = int(scores.argmax()) if n and total > 0 else None
        if pred is not None:
            confusion[item.label, pred] += 1
        try:
            shown = item.path.relative_to(base).as_posix()
        except ValueError:
            shown = str(item.path)
        res = ClipResult(
            path=shown,
            label=names[item.label],
            pred=None if pred is None else names[pred],
            correct=pred == item.label,
            predictions=n,
            share=float(scores[pred] / total) if pred is not None else 0.0,
        )
        clips.append(res)
        if progress is not None:
            progress(i, len(items), res)
    correct = sum(c.correct for c in clips)
    return {
        "accuracy": correct / len(clips),
        "n": len(clips),
        "correct": correct,
        "mode": mode,
        "class_names": names,
        "confusion": confusion.tolist(),
        "clips": [c.to_json() for c in clips],
        "seconds": round(time.perf_counter() - t0, 2),
    }


def format_report(result: dict) -> str:
    """The per-clip table, the accuracy and the confusion matrix (classes that occur only)."""
    names = result["class_names"]
    clips = result["clips"]
    w = max([len("recording")] + [len(c["path"]) for c in clips])
    lw = max([len("label")] + [len(c["label"]) for c in clips])
    lines = [f"{'recording':<{w}}  {'label':<{lw}}  {'prediction':<28} ok  windows  share"]
    for c in clips:
        pred = c["pred"] or "(no prediction)"
        ok = "✓" if c["correct"] else "✗"
        lines.append(
            f"{c['path']:<{w}}  {c['label']:<{lw}}  {pred:<28} {ok}  {c['predictions']:>7}  "
            f"{c['share']:.2f}"
        )
    lines.append(
        f"accuracy {100 * result['accuracy']:.1f} % ({result['correct']}/{result['n']}), "
        f"{result['mode']} mode"
    )
    cm = np.asarray(result["confusion"])
    used = sorted(set(np.flatnonzero(cm.sum(0) + cm.sum(1))))
    if used:
        short = [names[k] for k in used]
        cw = max(len(s) for s in short)
        lines.append("confusion matrix (rows: truth, columns: prediction):")
        lines.append(" " * (cw + 2) + " ".join(f"{k:>3}" for k in used))
        for k in used:
            row = " ".join(f"{cm[k, j]:>3}" for j in used)
            lines.append(f"{names[k]:>{cw}}  {row}")
        lines.append("columns: " + ", ".join(f"{k}={names[k]}" for k in used))
    return "\n".join(lines)
