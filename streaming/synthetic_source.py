"""The procedural-gesture stream (``neuromoco.synth.GestureStream``) as a labelled live source."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np

from neuromoco.synth import GESTURE_DURATION_US

from .source import SourceBase


class SyntheticSource(SourceBase):
    """Endless procedural gestures, paced in real time; the demo default.

    Each segment of the stream is one gesture of a known class; :meth:`truth_label` returns the
    class covering most of a time span, so predictions can be shown against ground truth.

    Args:
        seed: seed of the gesture sequence (same seed → same stream).
        speed: 1.0 real time, 0 as fast as possible.
        duration_us, gap_us: per-gesture duration and the pause between gestures (µs).
        segments: an iterable of ``(events, label, t0_us)`` replacing GestureStream (tests).
        max_segments: stop after this many gestures (None: endless).
    """

    def __init__(
        self,
        seed: int = 0,
        speed: float = 1.0,
        duration_us: int = GESTURE_DURATION_US,
        gap_us: int = 200_000,
        slice_us: int = 1000,
        segments: Iterable | None = None,
        max_segments: int | None = None,
        class_names: tuple[str, ...] | None = None,
        sensor_size=None,
    ):
        own = segments is None
        if own:
            from neuromoco import synth

            if not hasattr(synth, "GestureStream"):
                raise ImportError("neuromoco.synth.GestureStream is not available in this version")
            segments = synth.GestureStream(seed=seed, duration_us=duration_us, gap_us=gap_us)
            class_names = tuple(synth.CLASS_NAMES)
            sensor_size = synth.SENSOR_SIZE
        super().__init__(f"procedural gestures (seed {seed})", sensor_size or (128, 128), speed)
        self.class_names = class_names
        self._segments = segments
        self.slice_us = int(slice_us)
        self.max_segments = max_segments
        # (t0_us, label) of recent segments; bounded so an endless stream stays bounded
        self._labels: deque[tuple[int, int]] = deque(maxlen=256)
        self._lock = threading.Lock()
        # GestureStream segments: the gesture fills [t0, t0 + duration_us), then idle noise
        self._gesture_us = int(duration_us) if own else None

    def _produce(self, q: queue.Queue) -> None:
        # runs on a helper thread: generating a segment takes ~0.1-0.2 s, which would otherwise
        # stall the paced replay and then release a burst of overdue slices
        try:
            for i, seg in enumerate(self._segments):
                if self.max_segments is not None and i >= self.max_segments:
                    break
                while not self._stop.is_set():
                    try:
                        q.put(seg, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except Exception as e:  # reported by the consumer
            q.put(e)
            return
        q.put(None)

    def _chunks(self) -> Iterator[np.ndarray]:
        q: queue.Queue = queue.Queue(maxsize=2)
        threading.Thread(target=self._produce, args=(q,), name="synthetic-gen", daemon=True).start()
        while not self._stop.is_set():
            try:
                seg = q.get(timeout=0.05)
            except queue.Empty:
                continue
            if seg is None:
                return
            if isinstance(seg, Exception):
                self._set_status(f"error: {seg}")
                raise seg
            events, label, t0 = seg
            with self._lock:
                self._labels.append((int(t0), int(label)))
            yield events

    def __iter__(self) -> Iterator[np.ndarray]:
        self._set_status("running")
        yield from self._replay(self._chunks(), self.slice_us)
        if not self._status.startswith(("error", "ended")):
            self._set_status("ended: end of stream")

    def truth_label(self, t_start_us: int, t_end_us: int) -> int | None:
        """The label of the gesture overlapping ``[t_start_us, t_end_us)`` the most; None when the
        span holds no gesture (only the idle gap between gestures) or nothing is known yet."""
        with self._lock:
            segs = list(self._labels)
        if not segs:
            return None
        best, best_overlap = None, 0
        for i, (t0, label) in enumerate(segs):
            t1 = segs[i + 1][0] if i + 1 < len(segs) else max(t_end_us, t0 + 1)
            if self._gesture_us is not None:
                t1 = min(t1, t0 + self._gesture_us)
            overlap = min(t1, t_end_us) - max(t0, t_start_us)
            if overlap > best_overlap:
                best, best_overlap = label, overlap
        return best
