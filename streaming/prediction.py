"""One prediction of a streaming session, and its JSON form (the headless output schema)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """What the network says about the stream up to ``t_us``.

    Attributes:
        t_us: stream time (µs) of the window end (exclusive) the prediction is about.
        t_start_us: start of the window (µs).
        probs_per_step: ``[T, C]`` float32 softmax probabilities per time step (window mode: the
            window's T bins; stream mode: the last T steps, oldest first; fewer rows right after
            a (re)start of stream mode). For a spiking output layer (``output == "spikes"``):
            each step's output spikes (0/1 for unit spikes), a spike raster.
        probs: ``[C]`` aggregated probabilities: softmax of the per-step logits averaged over
            time (the usual SNN read-out, as in training); for ``output == "spikes"``: each
            class's share of the output spikes over those steps (uniform when none spiked).
        label_index, label: top class of ``probs``; ``confidence`` = its probability.
        latency_ms: wall time from the arrival of the chunk that completed the window to this
            prediction (windowing + queueing + inference).
        n_events: events inside the window (stream mode: in the last T bins); the name of
            ``Window.n_events`` and of the JSON key.
        dropped: windows (stream mode: bins) dropped so far because inference was slower than the
            input (cumulative since the engine started).
        mode: ``"window"`` or ``"stream"``.
        truth_index, truth: ground-truth class of the window when the source knows it.
        decision_index, decision, decision_step: early decision: the class whose per-step
            probability stayed ≥ threshold for k consecutive steps, and the step (row of
            ``probs_per_step``) where that first happened; None when not reached or disabled.
        step: steps taken since the session (re)started (stream mode), tick index (window mode).
        output: ``"logits"`` or ``"spikes"``: what the model emits (see ``probs_per_step``).
        gesture_index, gesture: the class the app shows, or None when the no-gesture gate
            decides that no gesture is under way (a pause, a still scene) or none has won yet
            (:mod:`neuromoco.streaming.gesture_gate`); ``label`` stays the top class.
        activity_hz: supported events per second just before ``t_us`` (what the gate read);
            None when the engine measured none.
    """

    t_us: int
    t_start_us: int
    probs_per_step: np.ndarray
    probs: np.ndarray
    label_index: int
    label: str
    confidence: float
    latency_ms: float
    n_events: int
    dropped: int
    mode: str
    truth_index: int | None = None
    truth: str | None = None
    decision_index: int | None = None
    decision: str | None = None
    decision_step: int | None = None
    step: int = 0
    output: str = "logits"
    gesture_index: int | None = None
    gesture: str | None = None
    activity_hz: float | None = None

    def to_json(self, digits: int = 4) -> dict:
        """The headless JSON object (see ``neuromoco.app.headless`` for the schema)."""
        d = {
            "t_us": int(self.t_us),
            "label": self.label,
            "label_index": int(self.label_index),
            "confidence": round(float(self.confidence), digits),
            "probs": np.round(self.probs.astype(np.float64), digits).tolist(),
            "probs_per_step": np.round(self.probs_per_step.astype(np.float64), digits).tolist(),
            "latency_ms": round(float(self.latency_ms), 3),
            "n_events": int(self.n_events),
            "dropped": int(self.dropped),
            "mode": self.mode,
            "gesture": self.gesture,
            "gesture_index": self.gesture_index,
        }
        if self.activity_hz is not None:
            d["activity"] = round(float(self.activity_hz), 1)
        if self.truth is not None:
            d["truth"] = self.truth
            d["truth_index"] = int(self.truth_index)
        if self.decision is not None:
            d["decision"] = self.decision
            d["decision_step"] = int(self.decision_step)
        if self.output != "logits":  # only spike models add the key (the schema is unchanged)
            d["output"] = self.output
        return d


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def spike_readout(spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output spikes ``[T, C]`` → ``(per_step [T, C] float32 = the spikes, probs [C] = count
    shares (uniform when there is no spike), counts [C])``."""
    per_step = np.asarray(spikes, dtype=np.float32)
    counts = per_step.sum(axis=0, dtype=np.float64)
    total = counts.sum()
    if total > 0:
        probs = (counts / total).astype(np.float32)
    else:
        probs = np.full(per_step.shape[-1], 1.0 / per_step.shape[-1], dtype=np.float32)
    return per_step, probs, counts


def running_shares(per_step: np.ndarray) -> np.ndarray:
    """Row ``t`` = the count shares of steps ``0..t`` (uniform while nothing has spiked)."""
    cum = np.cumsum(per_step, axis=0, dtype=np.float64)
    tot = cum.sum(axis=1, keepdims=True)
    uniform = 1.0 / max(per_step.shape[-1], 1)
    out = np.where(tot > 0, cum / np.where(tot > 0, tot, 1.0), uniform)
    return out.astype(np.float32)


def early_decision(probs_per_step: np.ndarray, threshold: float, k: int) -> tuple[int, int] | None:
    """First ``(class, step)`` where one class's per-step probability is ≥ ``threshold`` for ``k``
    consecutive steps (``step`` = the k-th of them); None if it never happens."""
    if probs_per_step.shape[0] < k:
        return None
    top = probs_per_step.argmax(axis=1)
    conf = probs_per_step.max(axis=1)
    run = 0
    for s in range(probs_per_step.shape[0]):
        if conf[s] >= threshold and (run == 0 or top[s] == top[s - 1]):
            run += 1
        elif conf[s] >= threshold:
            run = 1
        else:
            run = 0
        if run >= k:
            return int(top[s]), s
    return None
