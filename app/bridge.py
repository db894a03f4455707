"""Engine ↔ Qt: the thread-safe hand-over between the streaming engine's threads and the GUI.

The engine calls :meth:`Bridge.on_prediction`, :meth:`Bridge.on_status` and
:meth:`Bridge.on_error` from its own threads. They only append to a bounded inbox under a lock
(never touching a widget, never blocking on the GUI), and errors/status changes are also emitted
as Qt signals, which Qt delivers to the GUI thread as queued calls because the bridge lives
there. The GUI pulls the inbox from its display timer (:meth:`Bridge.drain`), so a fast engine
cannot flood the event loop: at most one redraw per display frame, whatever the prediction rate.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore


@dataclass(frozen=True)
class ViewPrediction:
    """What the views need from one prediction (plain numpy, no engine types). The names are
    those of ``neuromoco.streaming.Prediction``: ``*_index`` fields are class indices (the views
    place them on the class axis); the class names stay with the views.

    Attributes:
        t_us: stream time of the prediction (window end), µs.
        probs_per_step: ``[T, C]`` class probabilities per time step (oldest step first).
        probs: ``[C]`` aggregated class probabilities.
        label_index: index of the top class.
        confidence: ``probs[label_index]``.
        latency_ms: event arrival → prediction, ms (``nan`` when unknown).
        n_events: events in the window.
        dropped: windows dropped so far (inference slower than input).
        truth_index: ground-truth class index when the source knows it, else ``None``.
        decision_index: early decision (``--early-threshold``): the class index whose per-step
            probability stayed above the threshold for k steps, else ``None``.
        decision_step: the row of ``probs_per_step`` where that happened.
        gesture_index: the class the app shows, None when no gesture is under way (the
            no-gesture gate); the top class for a prediction that carries no gate decision.
    """

    t_us: int
    probs_per_step: np.ndarray
    probs: np.ndarray
    label_index: int
    confidence: float
    latency_ms: float
    n_events: int
    dropped: int
    truth_index: int | None = None
    decision_index: int | None = None
    decision_step: int | None = None
    gesture_index: int | None = None


_ABSENT = object()


def _get(obj, name: str, default=None):
    """Attribute ``name`` of a ``Prediction``, or key ``name`` of its JSON form (the same name)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def to_view_prediction(pred) -> ViewPrediction:
    """Convert an engine prediction (a ``Prediction`` or its JSON form) to a :class:`ViewPrediction`.

    Each field is read under one name, the ``Prediction`` attribute (= the JSON key):
    ``label_index``, ``truth_index``, ``decision_index``, ``gesture_index``, ``n_events``. The
    class-name fields (``label``, ``truth``, ``decision``, ``gesture``) are not read, and neither
    is any other spelling (e.g. the old ``events`` key): the views place indices on the class axis.
    """
    raw = _get(pred, "probs")
    if raw is None:
        raise ValueError(f"{type(pred).__name__} has no class probabilities ('probs')")
    probs = np.asarray(raw, dtype=np.float32).reshape(-1)
    if probs.size == 0:
        raise ValueError("empty class probabilities")
    pps = _get(pred, "probs_per_step")
    pps = probs[None] if pps is None else np.asarray(pps, dtype=np.float32)
    if pps.ndim == 1:
        pps = pps[None]
    label = _index_or_none(_get(pred, "label_index"))
    if label is None:  # no top-class index given: the argmax of the probabilities
        label = int(np.argmax(probs))
    lat = _get(pred, "latency_ms")
    gesture = _get(pred, "gesture_index", _ABSENT)
    if gesture is _ABSENT:  # no gate decision carried: show the top class, as before the gate
        gesture = label
    return ViewPrediction(
        t_us=int(_get(pred, "t_us", 0)),
        probs_per_step=pps,
        probs=probs,
        label_index=label,
        confidence=float(_get(pred, "confidence", probs[label])),
        latency_ms=float("nan") if lat is None else float(lat),
        n_events=int(_get(pred, "n_events", 0) or 0),
        dropped=int(_get(pred, "dropped", 0) or 0),
        truth_index=_index_or_none(_get(pred, "truth_index")),
        decision_index=_index_or_none(_get(pred, "decision_index")),
        decision_step=_index_or_none(_get(pred, "decision_step")),
        gesture_index=_index_or_none(gesture),
    )


def _index_or_none(v) -> int | None:
    return int(v) if isinstance(v, int | np.integer) else None


class Bridge(QtCore.QObject):
    """Thread-safe inbox from the engine. Create it on the GUI thread.

    Signals (queued to the GUI thread when emitted from an engine thread):
        error(str): a user-facing error message (no traceback).
        status(str, str): ``(kind, message)`` of an engine status event (``started``, ``ended``,
            ``paused``, ``resumed``, ``config``, ``recording``); ``error`` events go to ``error``.
    """

    error = QtCore.Signal(str)
    status = QtCore.Signal(str, str)

    def __init__(self, parent=None, maxlen: int = 512):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._inbox: deque[ViewPrediction] = deque(maxlen=maxlen)
        self._received = 0
        self._generation = 0

    @property
    def received(self) -> int:
        """Predictions received since creation."""
        return self._received

    def new_generation(self) -> int:
        """Start a new source/model generation: predictions of older engines are ignored."""
        with self._lock:
            self._generation += 1
            self._inbox.clear()
            return self._generation

    def callbacks(self):
        """``(on_prediction, on_status)`` bound to the current generation, to hand to an
        engine; callbacks of a replaced engine become no-ops, so a late prediction or status
        from a stopping engine never shows up under the new source.

        ``on_status`` takes a status event with ``kind`` and ``message`` attributes (or a
        plain string, taken as an info message)."""
        gen = self._generation

        def on_prediction(pred) -> None:
            self.on_prediction(pred, gen)

        def on_status(event) -> None:
            if gen != self._generation:
                return
            kind = str(getattr(event, "kind", "info"))
            message = str(getattr(event, "message", event))
            if kind == "error":
                self.error.emit(message)
            else:
                self.status.emit(kind, message)

        return on_prediction, on_status

    def on_prediction(self, pred, generation: int | None = None) -> None:
        """Any thread: queue one prediction (converted here, off the GUI thread)."""
        try:
            vp = to_view_prediction(pred)
        except Exception as e:  # a malformed prediction must not kill the engine thread
            self.error.emit(f"bad prediction from the engine: {e}")
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._inbox.append(vp)
            self._received += 1

    def drain(self) -> list[ViewPrediction]:
        """GUI thread: take every queued prediction (oldest first)."""
        with self._lock:
            out = list(self._inbox)
            self._inbox.clear()
        return out
