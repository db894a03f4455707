"""The "no gesture" state and the label the app shows: an activity gate with hysteresis.

A classifier always names a class, pause or not. What a person should see is a gesture while one
is under way, nothing in a pause, and a label that does not flicker. :class:`GestureGate` decides
that per prediction (the ``gesture`` field of a :class:`~neuromoco.streaming.prediction.Prediction`;
``label`` stays the model's top class):

1. **Activity.** The scene is *active* once the supported event rate (events left by the hot-pixel
   and neighbour filters in the last ``activity_span_us``, in the ``activity_top`` busiest blocks
   of ``activity_block`` pixels: :mod:`~neuromoco.streaming.activity_meter`) reaches ``on_hz``;
   it stays active until the rate has stayed below ``off_hz`` for ``idle_after_us``.
   Idle → ``gesture`` is None.
2. **Evidence.** While active, the model's top class becomes the shown gesture once it has been the
   top class, with a confidence ≥ ``min_confidence``, on every prediction for ``confirm_us``
   (a run of predictions, so a single stray window shows nothing). A prediction with no evidence
   (all classes equal, e.g. a spiking output that did not spike) breaks the run.
3. **Hysteresis.** A shown gesture is replaced only by another class that wins for ``switch_us``;
   a stray prediction of another class leaves it in place. Going idle clears it.

Calibration (``python -m bench live --only gate``, docs/results.md "Live in a room"), on a DVS128,
the busiest two 32×32 blocks over 0.5 s: generated pauses of 0.2 Hz/pixel background give ≤ ~20
supported events/s; a noisy room (0.7 Hz/pixel and 5 hot pixels at 200 Hz) ≤ ~80, and ≤ ~120 with
the hot-pixel filter off; the sparsest real recordings (the unlabelled 2024_06_13 set, 3–5 k raw
events/s) never fall below ~300 while the person moves, and the five labelled real gestures, made
0.7× smaller and 1.5× slower, never below ~1,600. ``on_hz = 200`` and ``off_hz = 140`` sit between
the two. The blocks have a fixed size in pixels, so the figures do not depend on the sensor's
resolution as a whole-array count would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateConfig:
    """Parameters of :class:`GestureGate` (times in µs of stream time, rates in supported
    events per second in the busiest blocks; see the module docstring)."""

    activity_span_us: int = 500_000
    activity_block: int = 32
    activity_top: int = 2
    on_hz: float = 200.0
    off_hz: float = 140.0
    idle_after_us: int = 300_000
    confirm_us: int = 200_000
    switch_us: int = 300_000
    min_confidence: float = 0.0

    def __post_init__(self):
        for name in ("activity_span_us", "activity_block", "activity_top"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.off_hz <= self.on_hz:
            raise ValueError(f"need 0 ≤ off_hz ≤ on_hz, got {self.off_hz}, {self.on_hz}")
        for name in ("idle_after_us", "confirm_us", "switch_us"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")


class GestureGate:
    """Decides the shown gesture per prediction (see the module docstring).

    :meth:`update` takes the prediction's time, the activity and the class probabilities, and
    returns the shown class index or None; :attr:`active` and :attr:`went_idle` say what the
    activity gate did (an engine resets a stateful network when the scene goes idle).
    """

    def __init__(self, config: GateConfig | None = None):
        self.config = config or GateConfig()
        self.reset()

    def reset(self) -> None:
        self.active = False
        self.went_idle = False
        self.shown: int | None = None
        self._quiet_since: int | None = None
        self._cand: int | None = None
        self._cand_since = 0

    def update(self, t_us: int, activity_hz: float, probs: np.ndarray) -> int | None:
        """One prediction at stream time ``t_us`` (µs): ``activity_hz`` supported events/s,
        ``probs`` ``[C]`` the aggregated class probabilities. Returns the shown class or None."""
        c = self.config
        t_us = int(t_us)
        self.went_idle = False
        if activity_hz >= c.on_hz:
            self.active = True
            self._quiet_since = None
        elif self.active and activity_hz < c.off_hz:
            if self._quiet_since is None:
                self._quiet_since = t_us
            if t_us - self._quiet_since >= c.idle_after_us:
                self.active = False
                self.went_idle = True
        elif self.active:
            self._quiet_since = None
        if not self.active:
            self.shown = self._cand = None
            return None
        probs = np.asarray(probs).reshape(-1)
        top = int(np.argmax(probs))
        evidence = float(probs[top]) > float(probs.min()) and float(probs[top]) >= c.min_confidence
        if not evidence:
            self._cand = None
            return self.shown
        if top == self.shown:
            self._cand = None
            return self.shown
        if top != self._cand:
            self._cand, self._cand_since = top, t_us
        need = c.confirm_us if self.shown is None else c.switch_us
        if t_us - self._cand_since >= need:
            self.shown, self._cand = top, None
        return self.shown
