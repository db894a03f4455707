"""Hot-pixel filter: online, bounded memory. A pixel that fires far above its neighbours for
seconds is masked (its events dropped) until it calms down.

A hot pixel is a defect: it fires tens to hundreds of times a second whatever the scene, while its
neighbours see the same light and fire ~1 Hz. jAER's ``HotPixelFilter`` and DV's
``dv::noise::FastDecayNoiseFilter``/hot-pixel calibration learn such pixels from a stretch of
stream; this one learns continuously, so it needs no calibration step and follows a pixel that
turns hot (or heals) while the camera runs.

The rule, evaluated at the end of every period of ``period_us`` stream time, per pixel:

* ``rate`` = its events in the period / the period (Hz, every input event counts, masked or not);
* ``neighbours`` = the mean rate of its 8 neighbours (pixels outside the sensor count as 0);
* it is *suspicious* when ``rate ≥ min_rate_hz`` and ``rate ≥ ratio · (neighbours + 1 Hz)``;
* it is masked once suspicious for ``hold_periods`` periods in a row, and unmasked once not
  suspicious for ``hold_periods`` periods in a row.

A moving edge makes a pixel fire fast for a fraction of a second, and its neighbours fire with
it: it never stays suspicious for seconds. Memory: three ``H·W`` arrays, whatever the length.
"""

from __future__ import annotations

import numpy as np

from neuromoco.events import SensorSize


class HotPixelFilter:
    """Mask pixels that fire far above their neighbours for seconds (see the module docstring).

    Args:
        sensor_size: ``(width, height)`` pixels.
        period_us: evaluation period (µs of stream time).
        min_rate_hz: a pixel below this rate is never hot.
        ratio: how far above its neighbours' mean rate (+1 Hz) a hot pixel fires.
        hold_periods: periods in a row to mask (and to unmask) a pixel.

    Call it on each chunk in stream order; it returns the events of unmasked pixels.
    """

    def __init__(
        self,
        sensor_size: SensorSize,
        period_us: int = 500_000,
        min_rate_hz: float = 20.0,
        ratio: float = 10.0,
        hold_periods: int = 4,
    ):
        if int(period_us) <= 0:
            raise ValueError(f"hot-pixel filter: period_us must be positive, got {period_us}")
        if not min_rate_hz > 0 or not ratio > 1:
            raise ValueError(
                f"hot-pixel filter: need min_rate_hz > 0 and ratio > 1, got {min_rate_hz}, {ratio}"
            )
        if int(hold_periods) < 1:
            raise ValueError(f"hot-pixel filter: hold_periods must be ≥ 1, got {hold_periods}")
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.period_us = int(period_us)
        self.min_rate_hz = float(min_rate_hz)
        self.ratio = float(ratio)
        self.hold_periods = int(hold_periods)
        w, h = self.sensor_size
        self._counts = np.zeros(h * w, np.int64)
        self._streak = np.zeros(h * w, np.int32)  # > 0: suspicious periods in a row; < 0: calm
        self.mask = np.zeros(h * w, bool)
        """Masked pixels, flat ``y · width + x``."""
        self._period_end: int | None = None

    @property
    def masked_pixels(self) -> list[tuple[int, int]]:
        """The masked pixels as ``(x, y)``."""
        w = self.sensor_size[0]
        return [(int(i % w), int(i // w)) for i in np.flatnonzero(self.mask)]

    def reset(self) -> None:
        self._counts[:] = 0
        self._streak[:] = 0
        self.mask[:] = False
        self._period_end = None

    def _close_period(self) -> None:
        w, h = self.sensor_size
        rate = self._counts.reshape(h, w) * (1e6 / self.period_us)
        pad = np.pad(rate, 1)
        neigh = (
            pad[:-2, :-2] + pad[:-2, 1:-1] + pad[:-2, 2:]
            + pad[1:-1, :-2] + pad[1:-1, 2:]
            + pad[2:, :-2] + pad[2:, 1:-1] + pad[2:, 2:]
        ) / 8.0  # fmt: skip
        hot = ((rate >= self.min_rate_hz) & (rate >= self.ratio * (neigh + 1.0))).reshape(-1)
        s = self._streak
        s[:] = np.where(hot, np.maximum(s, 0) + 1, np.minimum(s, 0) - 1)
        self.mask[s >= self.hold_periods] = True
        self.mask[s <= -self.hold_periods] = False
        np.clip(s, -self.hold_periods, self.hold_periods, out=s)
        self._counts[:] = 0

    def __call__(self, events: np.ndarray) -> np.ndarray:
        n = events.shape[0]
        if n == 0:
            return events
        w, h = self.sensor_size
        t = events["t"]
        if self._period_end is None:
            self._period_end = int(t[0]) + self.period_us
        pix = events["y"].astype(np.int64) * w + events["x"].astype(np.int64)
        keep = np.empty(n, bool)
        a = 0
        while a < n:
            # events of the current period: [a, b); the mask in force is the one decided at
            # its start, so a chunk is filtered the same however the stream was cut
            b = max(a, int(np.searchsorted(t, self._period_end, side="left")))
            seg = pix[a:b]
            keep[a:b] = ~self.mask[seg]
            if seg.shape[0] * 8 >= w * h:
                self._counts += np.bincount(seg, minlength=w * h)
            elif seg.shape[0]:  # small chunk (live 1 ms slices): no pass over the whole array
                u, c = np.unique(seg, return_counts=True)
                self._counts[u] += c
            if b >= n:
                break
            self._close_period()
            # skip whole silent periods in one step (their counts are all zero)
            gap = (int(t[b]) - self._period_end) // self.period_us
            if gap > 0:
                for _ in range(min(gap, self.hold_periods)):
                    self._close_period()
                self._period_end += gap * self.period_us
            self._period_end += self.period_us
            a = b
        return events[keep]
