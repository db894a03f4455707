"""Frame → event emulator: a small, vectorised DVS pixel model (used by procedural gestures and webcams).

Each pixel keeps a *reference* log intensity. When the log intensity of a new frame has moved by at
least the pixel's contrast threshold away from the reference, the pixel emits one event per
threshold crossing (ON, ``p=1``, for increases; OFF, ``p=0``, for decreases) and its reference
moves by one threshold per crossing. This is the idealised DVS model of Lichtsteiner et al. (2008)
as used by the v2e / ESIM emulators, reduced to what matters for training data and live demos:

* **Log intensity** ``L = log(I + log_eps)`` with ``I`` the linear intensity: uint8 frames are
  scaled to ``[0, 1]`` first; float frames are taken as linear intensities on that same scale.
* **Several crossings between two frames** give several events whose timestamps are linearly
  interpolated between the two frame times (log intensity assumed linear in between), so a fast
  edge produces a correctly ordered burst rather than a pile of events at the frame time. All
  events of one frame interval ``(t_prev, t]`` are returned sorted by ``t``.
* **Per-pixel threshold mismatch**: thresholds are drawn once per pixel,
  ``N(threshold, threshold_sigma)`` clipped below at ``threshold_min`` (fixed-pattern noise).
* **Refractory period**: after an event a pixel drops further crossings for ``refractory_us`` µs.
  Dropped crossings still move the reference (the pixel resets to the current level after the
  refractory period), so a suppressed burst does not resurface later.
* **Shot noise**: Poisson background events at ``shot_noise_hz`` per pixel (either polarity,
  50/50, uniform in time); they do not move the reference.
* **Leak events**: the reference of every pixel drifts down at ``leak_hz`` thresholds per second,
  so static pixels emit ON events at about ``leak_hz`` (the DVS's junction-leak events). Pixel
  phases are randomised at start so leak events are not synchronised.

All per-frame work is whole-array numpy on the pixels; only pixels that cross a threshold are
expanded into events. Randomness (threshold mismatch, noise) comes from one seeded
``numpy.random.Generator``, so the same frames and seed give the same events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromoco.events import EVENT_DTYPE, SensorSize, empty_events


@dataclass(frozen=True)
class EmulatorConfig:
    """DVS pixel parameters (log units are natural-log intensity).

    Attributes:
        threshold_on: mean ON contrast threshold (log units), e.g. 0.2 ≈ 22 % brightness step.
        threshold_off: mean OFF contrast threshold (log units).
        threshold_sigma: per-pixel standard deviation of both thresholds (log units).
        threshold_min: lower clip of per-pixel thresholds (log units, > 0).
        refractory_us: per-pixel dead time after an event (µs); 0 disables it.
        log_eps: added to the linear intensity before the log (avoids log(0) and models the dark
            current: it compresses contrast in dark regions, like a real sensor).
        shot_noise_hz: background-activity rate per pixel (Hz, both polarities together).
        leak_hz: ON leak-event rate per pixel (Hz).
        max_crossings: cap on crossings per pixel per frame interval (guards against a
            full-frame flash producing millions of events).
    """

    threshold_on: float = 0.2
    threshold_off: float = 0.2
    threshold_sigma: float = 0.02
    threshold_min: float = 0.01
    refractory_us: int = 0
    log_eps: float = 1e-3
    shot_noise_hz: float = 0.0
    leak_hz: float = 0.0
    max_crossings: int = 100

    def __post_init__(self):
        for name in ("threshold_on", "threshold_off", "threshold_min", "log_eps"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"EmulatorConfig.{name} must be a positive number, got {v!r}")
        for name in ("threshold_sigma", "shot_noise_hz", "leak_hz"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"EmulatorConfig.{name} must be ≥ 0, got {v!r}")
        if int(self.refractory_us) != self.refractory_us or self.refractory_us < 0:
            raise ValueError(
                f"EmulatorConfig.refractory_us must be a non-negative integer (µs), got {self.refractory_us!r}"
            )
        if int(self.max_crossings) != self.max_crossings or self.max_crossings < 1:
            raise ValueError(
                f"EmulatorConfig.max_crossings must be a positive integer, got {self.max_crossings!r}"
            )


def log_intensity(frames: np.ndarray, log_eps: float) -> np.ndarray:
    """``log(I + log_eps)`` as float32 for uint8 (scaled to [0, 1]) or float linear-intensity frames."""
    a = np.asarray(frames)
    if a.dtype == np.uint8:
        out = a.astype(np.float32)
        out *= np.float32(1.0 / 255.0)
    elif np.issubdtype(a.dtype, np.floating):
        out = a.astype(np.float32, copy=True)
        if out.size and not np.isfinite(out).all():
            raise ValueError("frames contain NaN or infinite intensities")
        if out.size and float(out.min()) < 0:
            raise ValueError(f"frames must be non-negative intensities, min is {float(out.min())}")
    else:
        raise ValueError(f"frames must be uint8 or float grayscale, got dtype {a.dtype}")
    out += np.float32(log_eps)
    np.log(out, out=out)
    return out


class EventEmulator:
    """Stateful frame → event converter; feed frames in time order with :meth:`process`.

    Args:
        config: pixel parameters.
        seed: seed of the noise and threshold-mismatch generator.
        sensor_size: ``(width, height)``; default: taken from the first frame.

    The first frame only initialises the per-pixel references (no events). Each later frame at
    time ``t`` (µs, strictly increasing) returns the events of the interval ``(t_prev, t]``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        seed: int = 0,
        sensor_size: SensorSize | None = None,
    ):
        self.config = config or EmulatorConfig()
        self.seed = seed
        self._given_size = (
            None if sensor_size is None else (int(sensor_size[0]), int(sensor_size[1]))
        )
        self.reset()

    @property
    def sensor_size(self) -> SensorSize | None:
        """``(width, height)`` in pixels, or ``None`` before the first frame when not given."""
        return self._sensor_size

    @property
    def t_us(self) -> int | None:
        """Timestamp (µs) of the last frame processed, ``None`` before the first."""
        return self._t

    def reset(self) -> None:
        """Forget the references, the last timestamp and an inferred sensor size.

        Thresholds and noise restart from the seed, so a reset emulator repeats its output.
        """
        self._sensor_size = self._given_size
        self._rng = np.random.default_rng(self.seed)
        self._t: int | None = None
        self._ref = None  # reference log intensity per pixel [H, W] float32
        self._prev = None  # log intensity of the previous frame [H, W] float32
        self._thr_on = None
        self._thr_off = None
        self._last_t = None  # last event time per pixel (refractory) [H*W] int64

    # ------------------------------------------------------------------ internals
    def _init(self, logf: np.ndarray, t: int) -> None:
        c = self.config
        h, w = logf.shape
        if self._sensor_size is not None and self._sensor_size != (w, h):
            raise ValueError(
                f"frame is {w}x{h} pixels but the emulator's sensor size is "
                f"{self._sensor_size[0]}x{self._sensor_size[1]}"
            )
        self._sensor_size = (w, h)
        rng = self._rng
        thr = rng.standard_normal((2, h, w), dtype=np.float32)
        thr *= np.float32(c.threshold_sigma)
        self._thr_on = np.maximum(thr[0] + np.float32(c.threshold_on), np.float32(c.threshold_min))
        self._thr_off = np.maximum(
            thr[1] + np.float32(c.threshold_off), np.float32(c.threshold_min)
        )
        self._ref = logf.copy()
        if c.leak_hz > 0:
            # Random leak phase per pixel, so that leak events of a static scene are spread in time.
            self._ref -= rng.random((h, w), dtype=np.float32) * self._thr_on
        self._prev = logf
        self._t = t
        self._last_t = np.full(h * w, np.iinfo(np.int64).min // 2, dtype=np.int64)

    def _check_frame(self, logf: np.ndarray, t: int) -> None:
        if logf.ndim != 2:
            raise ValueError(f"frames must be 2-D grayscale (H, W), got shape {logf.shape}")
        if self._t is not None:
            w, h = self._sensor_size
            if logf.shape != (h, w):
                raise ValueError(
                    f"frame shape {logf.shape} differs from the first frame's {(h, w)} (H, W)"
                )
            if t <= self._t:
                raise ValueError(
                    f"frame timestamps must increase strictly: got {t} µs after {self._t} µs"
                )

    def _step(self, logf: np.ndarray, t1: int):
        """Advance to ``logf`` at ``t1``; return event columns ``(t, pixel index, p)`` sorted by t."""
        c = self.config
        t0 = self._t
        dt = t1 - t0
        ref = self._ref
        if c.leak_hz > 0:
            ref -= self._thr_on * np.float32(c.leak_hz * dt * 1e-6)
        delta = logf - ref
        # ON and OFF pixels in one pass: fewer per-frame numpy calls (this loop runs at ~1 kHz).
        idx = np.flatnonzero((delta >= self._thr_on) | (delta <= -self._thr_off))
        cols = []
        if idx.size:
            d = delta.ravel()[idx]
            on = d > 0
            th = np.where(on, self._thr_on.ravel()[idx], self._thr_off.ravel()[idx])
            sgn = np.where(on, np.float32(1), np.float32(-1))
            n = np.floor(np.abs(d) / th).astype(np.int64)
            np.minimum(n, c.max_crossings, out=n)
            step = sgn * th
            r0 = ref.ravel()[idx]
            ref.ravel()[idx] = r0 + n * step
            t, keep, pix = self._expand(idx, n, step, r0, logf, t0, dt)
            p = on.view(np.uint8)
            if n.size and int(n.max()) > 1:
                p = np.repeat(p, n)
            if keep is not None:
                p = p[keep]
            cols.append((t, pix, p))
        self._prev = logf
        self._t = t1
        noise = self._shot_noise(t0, dt)
        if noise is not None:
            cols.append(noise)
        if not cols:
            return None
        if len(cols) == 1:
            t, pix, p = cols[0]
        else:
            t, pix, p = (np.concatenate(z) for z in zip(*cols, strict=True))
        order = np.argsort(t, kind="stable")
        return t[order], pix[order], p[order]

    def _expand(self, idx, n, step, r0, logf, t0, dt):
        """One event per crossing: crossing k (1..n) of a pixel is at level ``r0 + k·step``.

        Returns ``(t, keep, pixel)``: timestamps and pixel indices of the kept events, and the
        refractory mask over all crossings (``None`` when nothing was dropped by construction).
        """
        multi = int(n.max()) > 1
        if not multi:  # the common case: one crossing per pixel, no repeat needed
            pix, level, starts = idx, r0 + step, None
        else:
            total = int(n.sum())
            pix = np.repeat(idx, n)
            starts = np.cumsum(n) - n
            k = np.arange(total, dtype=np.int64) - np.repeat(starts, n) + 1
            level = np.repeat(r0, n) + k.astype(np.float32) * np.repeat(step, n)
        lp = self._prev.ravel()[pix]
        span = logf.ravel()[pix] - lp
        # Fraction of the frame interval at which the linearly interpolated log intensity reaches
        # the crossing level; span can be ~0 when the reference lags (leak), then use the frame time.
        frac = np.ones(pix.size, dtype=np.float32)
        np.divide(level - lp, span, out=frac, where=np.abs(span) > 1e-12)
        np.minimum(frac, np.float32(1), out=frac)
        np.maximum(frac, np.float32(0), out=frac)
        off = np.rint(frac * np.float32(dt)).astype(np.int64)
        np.maximum(off, 1, out=off)
        np.minimum(off, dt, out=off)
        tk = off + t0
        R = int(self.config.refractory_us)
        keep = None
        if R > 0:
            keep = self._refractory(pix, n, starts, tk, R)
            pix, tk = pix[keep], tk[keep]
        return tk, keep, pix

    def _refractory(self, pix, n, starts, tk, R) -> np.ndarray:
        """Exact sequential refractory rule, vectorised over pixels (one pass per crossing index)."""
        last = self._last_t
        if starts is None:  # one crossing per pixel
            ok = tk - last[pix] >= R
            last[pix[ok]] = tk[ok]
            return ok
        keep = np.zeros(tk.size, dtype=bool)
        for j in range(int(n.max())):
            sel = starts[n > j] + j
            p = pix[sel]
            t = tk[sel]
            ok = t - last[p] >= R
            keep[sel[ok]] = True
            last[p[ok]] = t[ok]
        return keep

    def _shot_noise(self, t0: int, dt: int):
        c = self.config
        if c.shot_noise_hz <= 0:
            return None
        w, h = self._sensor_size
        npx = w * h
        rng = self._rng
        m = int(rng.poisson(c.shot_noise_hz * npx * dt * 1e-6))
        if m == 0:
            return None
        # One draw encodes (time, pixel, polarity): cheaper than three generator calls per frame.
        r = rng.integers(0, dt * npx * 2, size=m, dtype=np.int64)
        t = t0 + 1 + r % dt
        r //= dt
        return t, r % npx, (r // npx).astype(np.uint8)

    def _pack(self, cols) -> np.ndarray:
        if cols is None:
            return empty_events()
        t, pix, p = cols
        w = self._sensor_size[0]
        ev = np.empty(t.size, dtype=EVENT_DTYPE)
        ev["t"] = t
        ev["x"] = pix % w
        ev["y"] = pix // w
        ev["p"] = p
        return ev

    # ------------------------------------------------------------------ public
    def process(self, frame: np.ndarray, t_us: int) -> np.ndarray:
        """Feed one grayscale frame ``[H, W]`` (uint8 or float linear intensity) taken at ``t_us`` µs.

        Returns the events (``EVENT_DTYPE``, sorted by ``t``) of the interval since the previous
        frame; empty for the first frame.
        """
        return self.process_log(log_intensity(frame, self.config.log_eps), t_us, _copy=False)

    def process_log(self, log_frame: np.ndarray, t_us: int, _copy: bool = True) -> np.ndarray:
        """Like :meth:`process` for a frame already in log intensity (float, ``log(I + eps)``)."""
        t = int(t_us)
        logf = np.array(log_frame, dtype=np.float32, copy=_copy)
        self._check_frame(logf, t)
        if self._t is None:
            self._init(logf, t)
            return empty_events()
        return self._pack(self._step(logf, t))

    def process_many(self, frames: np.ndarray, t_us: np.ndarray, log: bool = False) -> np.ndarray:
        """Feed ``K`` frames ``[K, H, W]`` taken at ``t_us`` ``[K]`` (µs, increasing); return all events.

        Same result as calling :meth:`process` (or :meth:`process_log` when ``log=True``) on each
        frame in turn, with less per-frame overhead.
        """
        frames = np.asarray(frames)
        t_us = np.asarray(t_us, dtype=np.int64).reshape(-1)
        if frames.ndim != 3:
            raise ValueError(f"frames must be [K, H, W], got shape {frames.shape}")
        if frames.shape[0] != t_us.shape[0]:
            raise ValueError(f"{frames.shape[0]} frames but {t_us.shape[0]} timestamps")
        if log:
            logs = np.array(frames, dtype=np.float32, copy=True)
        else:
            logs = log_intensity(frames, self.config.log_eps)
        cols = []
        for k in range(logs.shape[0]):
            t = int(t_us[k])
            self._check_frame(logs[k], t)
            if self._t is None:
                self._init(logs[k].copy(), t)
                continue
            c = self._step(logs[k], t)
            if c is not None:
                cols.append(c)
        if not cols:
            return empty_events()
        return self._pack(tuple(np.concatenate(z) for z in zip(*cols, strict=True)))


def emulate(
    frames: np.ndarray,
    t_us: np.ndarray,
    config: EmulatorConfig | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Events of a whole video ``[K, H, W]`` with frame times ``t_us`` ``[K]`` (µs); see :class:`EventEmulator`."""
    return EventEmulator(config, seed=seed).process_many(frames, t_us)
