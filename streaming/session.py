"""Inference sessions: windows (or bins) in, :class:`Prediction` out.

* ``window`` mode: for every window, fresh network state and a run over its ``T`` frames —
  exactly the training semantics (``Predictor.window``).
* ``stream`` mode: stateful; one ``Predictor.step`` per completed time bin (about ``1/T`` of a
  window's cost per update). The prediction aggregates the last ``T`` steps. The state carries
  history from before those ``T`` bins, so its answer differs from window mode in general;
  from a fresh state, the first ``T`` steps equal window mode on the same ``T`` bins.

The read-out depends on what the model outputs (``predictor.output``):

* ``"logits"``: per-step softmax (``probs_per_step``) and the softmax of the time-averaged
  logits (``probs``), the usual SNN read-out.
* ``"spikes"`` (an output layer of spiking neurons, e.g. the bundled ``dvs128-gesture``): the
  decision is the class whose output neuron spiked most over the last ``T`` steps (the window's
  ``T`` bins, or the trailing ``T`` steps in stream mode) — NeuroBench's ``ChooseMaxCount`` over a
  trial. ``probs`` = spike counts / total spikes (uniform when no neuron spiked: confidence 1/C),
  ties go to the lower class index (``argmax``); ``probs_per_step`` = each step's output spikes
  (so summing its rows gives the counts); the early decision runs on the running count shares
  (row ``t`` = counts over steps ``0..t`` / their total).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from .engine_config import check_mode
from .gesture_gate import GateConfig, GestureGate
from .prediction import Prediction, early_decision, running_shares, softmax, spike_readout
from .windower import Window


class InferenceSession:
    """Runs a predictor (``neuromoco.models.inference.Predictor`` interface) on windows.

    Args:
        predictor: has ``framing`` (T), ``class_names``, ``window(frames [T, N, 2, H, W])`` and
            ``init_state(batch)`` / ``step(frame [N, 2, H, W], state)``.
        mode: ``"window"`` or ``"stream"``.
        emit_every: stream mode: emit a prediction every this many steps (1 = every bin).
        early_threshold, early_steps: early decision rule (disabled when threshold is None).
        gate: the no-gesture gate's settings (None: ``gesture`` is always the top class). When
            the gate sees the scene go idle, stream mode starts from a fresh state.
        spike_span: stream mode, spiking outputs: the decision counts the output spikes of the
            last this many steps (default T, the trial the model was trained on). A live
            decision should follow the gesture under way, not the last T steps (6 s for
            ``dvs128-gesture``): the engine passes ``EngineConfig.spike_span_us``.
    """

    def __init__(
        self,
        predictor,
        mode: str = "window",
        emit_every: int = 1,
        early_threshold: float | None = None,
        early_steps: int = 3,
        class_names=None,
        gate: GateConfig | None = None,
        spike_span: int | None = None,
    ):
        check_mode(mode)
        if int(emit_every) < 1:
            raise ValueError(f"emit_every must be ≥ 1, got {emit_every}")
        if early_threshold is not None and not 0 < early_threshold <= 1:
            raise ValueError(f"early_threshold must be in (0, 1], got {early_threshold}")
        if int(early_steps) < 1:
            raise ValueError(f"early_steps must be ≥ 1, got {early_steps}")
        self.predictor = predictor
        self.output = str(getattr(predictor, "output", "logits"))
        if self.output not in ("logits", "spikes"):
            raise ValueError(f"predictor.output must be 'logits' or 'spikes', got {self.output!r}")
        self.mode = mode
        self.T = int(predictor.framing.T)
        if spike_span is not None and int(spike_span) < 1:
            raise ValueError(f"spike_span must be ≥ 1 step, got {spike_span}")
        # the steps a stream-mode read-out aggregates: T, or the spike span of a spiking model
        self.span = self.T
        if spike_span is not None and self.output == "spikes" and mode == "stream":
            self.span = min(self.T, int(spike_span))
        self.class_names = list(class_names or predictor.class_names)
        self.emit_every = int(emit_every)
        self.early_threshold = early_threshold
        self.early_steps = int(early_steps)
        self.steps = 0
        self.gate = None if gate is None else GestureGate(gate)
        self.reset()

    def reset(self) -> None:
        """Fresh network state (stream mode), history and gate."""
        self._reset_network()
        if self.gate is not None:
            self.gate.reset()

    def _reset_network(self) -> None:
        self._state = None
        n = self.span
        self._logits: deque[np.ndarray] = deque(maxlen=n)
        self._counts: deque[int] = deque(maxlen=n)
        self._t0: deque[int] = deque(maxlen=n)
        self.steps = 0

    def process(
        self,
        window: Window,
        dropped: int = 0,
        truth_index: int | None = None,
        truth_label: str | None = None,
        activity_hz: float | None = None,
    ) -> Prediction | None:
        """Run the network on ``window`` (window mode: ``[T, 2, H, W]``; stream mode: the newest
        bin ``[1, 2, H, W]``); returns a prediction, or None in stream mode between emissions.
        ``truth_label`` names ``truth_index`` in the source's class list (default: the model's).
        ``activity_hz``: supported events/s before the window's end, for the gate (None: the
        gate judges by evidence alone, as if the scene were active)."""
        if self.mode == "window":
            if window.frames.shape[0] != self.T:
                raise ValueError(
                    f"window mode needs [T={self.T}, 2, H, W] frames, got {window.frames.shape}"
                )
            logits = np.asarray(self.predictor.window(window.frames[:, None]))[:, 0]
            n_events, t_start, step = window.n_events, window.t_start_us, window.index
        else:
            if self._state is None:
                self._state = self.predictor.init_state(1)
            out, self._state = self.predictor.step(window.frames[-1][None], self._state)
            self._logits.append(np.asarray(out)[0])
            self._counts.append(window.n_events)
            self._t0.append(window.t_start_us)
            self.steps += 1
            if (self.steps - 1) % self.emit_every:
                return None
            logits = np.stack(self._logits)
            n_events, t_start, step = sum(self._counts), self._t0[0], self.steps
        if truth_index is not None and truth_label is None:
            truth_label = self._name(truth_index)
        return self._prediction(
            window, logits, n_events, t_start, step, dropped, truth_index, truth_label,
            activity_hz,
        )  # fmt: skip

    def _shown(self, t_us: int, probs: np.ndarray, top: int, activity_hz: float | None):
        """The class the app shows (the gate's decision; the top class without a gate)."""
        if self.gate is None:
            return top
        # no measurement: judge by evidence alone (as if the scene were active)
        act = float("inf") if activity_hz is None else float(activity_hz)
        k = self.gate.update(t_us, act, probs)
        if self.gate.went_idle and self.mode == "stream":
            # a pause: the next gesture starts from a zero state, as in training, and the
            # read-out over the last T steps no longer holds the previous gesture
            self._reset_network()
        return k

    def _name(self, k: int) -> str:
        names = self.class_names
        return names[k] if k < len(names) else str(k)

    def _prediction(
        self, window, logits, n_events, t_start, step, dropped, truth_index, truth_label,
        activity_hz=None,
    ):  # fmt: skip
        if self.output == "spikes":
            per_step, probs, _ = spike_readout(logits)
        else:
            per_step = softmax(logits, axis=-1)
            probs = softmax(logits.mean(axis=0))
        k = int(np.argmax(probs))
        dec = None
        if self.early_threshold is not None:
            steps = running_shares(per_step) if self.output == "spikes" else per_step
            dec = early_decision(steps, self.early_threshold, self.early_steps)
        names = self.class_names
        shown = self._shown(window.t_us, probs, k, activity_hz)
        latency = (time.perf_counter() - window.arrival) * 1e3 if window.arrival else 0.0
        return Prediction(
            t_us=window.t_us,
            t_start_us=t_start,
            probs_per_step=per_step,
            probs=probs,
            label_index=k,
            label=self._name(k),
            confidence=float(probs[k]),
            latency_ms=latency,
            n_events=int(n_events),
            dropped=int(dropped),
            mode=self.mode,
            truth_index=truth_index,
            truth=truth_label,
            decision_index=None if dec is None else dec[0],
            decision=None if dec is None else names[dec[0]],
            decision_step=None if dec is None else dec[1],
            step=step,
            output=self.output,
            gesture_index=shown,
            gesture=None if shown is None else self._name(shown),
            activity_hz=activity_hz if self.gate is not None else None,
        )
