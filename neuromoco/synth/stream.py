"""An endless labelled stream of procedural gestures with idle sensor noise between them.

The live-demo and streaming-benchmark source (``neuromoco.streaming.synthetic_source`` plays it
as a camera): gestures of :func:`~neuromoco.synth.gesture.generate_gesture` one after the other,
each followed by a gap of background activity, timestamps in µs from 0 and never decreasing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from neuromoco.sensor_noise import background_activity
from neuromoco.synth.gesture import generate_gesture
from neuromoco.synth.params import (
    GENERATOR_VERSION,
    GESTURE_DURATION_US,
    IDLE_NOISE_HZ,
    NUM_CLASSES,
    SENSOR_SIZE,
    check_durations,
    check_label,
    check_seed,
)


class Segment(NamedTuple):
    """One gesture of a :class:`GestureStream`: events (absolute µs), label, gesture start (µs)."""

    events: np.ndarray
    label: int
    t0_us: int


class GestureStream:
    """An endless, continuous labelled stream of procedural gestures.

    Iterating yields :class:`Segment` ``(events, label, t0_us)`` tuples. Segment ``i`` holds the
    gesture in ``[t0_us, t0_us + duration_us)`` followed by ``gap_us`` of idle sensor noise, so
    the next segment starts at ``t0_us + duration_us + gap_us``; timestamps never decrease
    across segments. The first gesture starts at ``t0_us = 0``.

    Args:
        seed: the stream's seed; the same seed gives the same stream.
        duration_us: length of each gesture (µs).
        gap_us: idle gap after each gesture (µs, ≥ 0).
        labels: labels to play, cycled in order; ``None`` draws each label uniformly at random.

    Each segment costs one :func:`generate_gesture` call (~0.1–0.2 s for 1.5 s on one core), so
    the stream runs several times faster than real time.
    """

    def __init__(
        self,
        seed: int,
        duration_us: int = GESTURE_DURATION_US,
        gap_us: int = 200_000,
        labels: Sequence[int] | None = None,
    ):
        self.seed = check_seed(seed)
        check_durations(duration_us, gap_us)
        self.duration_us = int(duration_us)
        self.gap_us = int(gap_us)
        if labels is not None:
            labels = tuple(check_label(v) for v in labels)
            if not labels:
                raise ValueError("labels must not be empty (pass None for random labels)")
        self.labels = labels

    def __iter__(self) -> Iterator[Segment]:
        rng = np.random.default_rng([GENERATOR_VERSION, 0x5EED, self.seed])
        t0 = 0
        i = 0
        while True:
            label = (
                self.labels[i % len(self.labels)] if self.labels else int(rng.integers(NUM_CLASSES))
            )
            sample_seed = int(rng.integers(2**31))
            ev = generate_gesture(label, sample_seed, self.duration_us)
            gap = background_activity(0, self.gap_us, SENSOR_SIZE, IDLE_NOISE_HZ, rng)
            ev["t"] += t0
            gap["t"] += t0 + self.duration_us
            yield Segment(np.concatenate([ev, gap]), label, t0)
            t0 += self.duration_us + self.gap_us
            i += 1
