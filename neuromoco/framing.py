"""Events → ``[T, 2, H, W]`` frames: the paper's §3.2 preprocessing, shared by training and streaming.

Frames are float32 per-polarity event counts (channel 0 = OFF, p=0; channel 1 = ON, p=1), the same
as spikingjelly's ``integrate_events_by_fixed_frames_number`` (np.bincount counts, not binary).

Two ways to split a clip into ``T`` time bins:

* ``split_by="number"``: T segments of equal event count, exactly spikingjelly's rule: with
  ``N`` events and ``di = N // T``, bin ``i`` holds events ``[i·di, (i+1)·di)`` and the last bin
  also takes the remainder ``[(T−1)·di, N)``. With fewer events than ``T`` all events land in the
  last bin (that is what spikingjelly does, and we match it bit for bit).
* ``split_by="time"``: T bins of equal duration over ``[t_start, t_end)`` (µs). Bin ``i`` covers
  ``[t_start + ⌊i·D/T⌋, t_start + ⌊(i+1)·D/T⌋)`` with ``D = t_end − t_start``; events outside the
  window are dropped. Defaults: ``t_start`` = first timestamp, ``t_end`` = last timestamp + 1, so
  every event of the clip is counted. A streaming window ending at ``tick`` uses
  ``t_start = tick − window_us``, ``t_end = tick``.

Optional neighbour denoise (``denoise_us``): before anything else, events are filtered with
:func:`neuromoco.denoise.denoise` (tonic's ``Denoise(filter_time=denoise_us)``: keep an event iff
one of its 4 neighbouring sensor pixels had an event less than ``denoise_us`` µs earlier), on the
sensor's own coordinates and over **all the events passed in**, from the first one on. A streaming
window is therefore offline-equal to ``to_frames(all events of the stream up to the tick, ...,
t_start=tick − window_us, t_end=tick)``, not to the denoise of the window's events alone (whose
first events would lose the support of the events just before the window).

Resizing from the sensor to the model resolution is done on **event coordinates**, before
counting: ``x' = ⌊x · W_out / W_in⌋``, ``y' = ⌊y · H_out / H_in⌋`` (integer arithmetic, so offline
framing and the streaming windower agree exactly). Downscaling therefore sums the events of the
source pixels that map to one model pixel (event mass is preserved).
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from neuromoco.types import EventFormatError, SensorSize

SplitBy = Literal["number", "time"]
Normalize = Literal["none", "binary", "log1p"]

_CHUNK = 1 << 16  # events per inner block: keeps the index buffer in L2 cache


@dataclass(frozen=True)
class FramingSpec:
    """Everything needed to turn events into exactly the tensors a model was trained on.

    Stored in every checkpoint and ONNX file, so streaming reproduces training framing.

    Attributes:
        T: number of time bins (frames) per sample.
        split_by: ``"number"`` (equal event counts) or ``"time"`` (equal durations).
        size: model input ``(width, height)`` in pixels; events are resized to it.
        sensor_size: ``(width, height)`` of the sensor the training data came from (informational;
            a stream from another sensor is resized from its own size to ``size``).
        window_us: duration of one sample window in µs for streaming and sub-window training;
            ``None`` means a whole clip (the paper's setting).
        window_events: alternative window length in events (``split_by="number"`` streams).
        normalize: ``"none"`` (counts), ``"binary"`` (count > 0) or ``"log1p"``.
        channels: polarity channels; always 2 (OFF, ON).
        denoise_us: neighbour-denoise window in µs applied before framing (see the module
            docstring); ``None`` = no denoise (specs stored before this field existed load so).
    """

    T: int = 16
    split_by: SplitBy = "number"
    size: SensorSize = (128, 128)
    sensor_size: SensorSize = (128, 128)
    window_us: int | None = None
    window_events: int | None = None
    normalize: Normalize = "none"
    channels: int = 2
    denoise_us: int | None = None

    def __post_init__(self):
        _check_T(self.T)
        if self.split_by not in ("number", "time"):
            raise ValueError(f"split_by must be 'number' or 'time', got {self.split_by!r}")
        if self.normalize not in ("none", "binary", "log1p"):
            raise ValueError(
                f"normalize must be 'none', 'binary' or 'log1p', got {self.normalize!r}"
            )
        if self.channels != 2:
            raise ValueError("only 2 polarity channels (OFF, ON) are supported")
        for name in ("size", "sensor_size"):
            w, h = getattr(self, name)
            if int(w) <= 0 or int(h) <= 0:
                raise ValueError(f"{name} must be positive (width, height), got {(w, h)}")
            object.__setattr__(self, name, (int(w), int(h)))
        if self.window_us is not None and self.window_us <= 0:
            raise ValueError(f"window_us must be positive, got {self.window_us}")
        if self.window_events is not None and self.window_events <= 0:
            raise ValueError(f"window_events must be positive, got {self.window_events}")
        if self.denoise_us is not None:
            if isinstance(self.denoise_us, bool) or int(self.denoise_us) != self.denoise_us:
                raise ValueError(f"denoise_us must be an integer (µs), got {self.denoise_us!r}")
            if int(self.denoise_us) <= 0:
                raise ValueError(f"denoise_us must be positive, got {self.denoise_us}")
            object.__setattr__(self, "denoise_us", int(self.denoise_us))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        d["sensor_size"] = list(self.sensor_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FramingSpec:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown framing spec keys: {sorted(unknown)}")
        for k in ("size", "sensor_size"):
            if k in known:
                known[k] = tuple(int(v) for v in known[k])
        return cls(**known)

    def frames(
        self,
        events: np.ndarray,
        sensor_size: SensorSize | None = None,
        t_start: int | None = None,
        t_end: int | None = None,
    ) -> np.ndarray:
        """Frame ``events`` from a sensor of ``sensor_size`` (default: the spec's) → ``[T, 2, H, W]``
        (denoised first when ``denoise_us`` is set, over all of ``events``)."""
        return to_frames(
            events,
            self.T,
            sensor_size or self.sensor_size,
            split_by=self.split_by,
            size=self.size,
            t_start=t_start,
            t_end=t_end,
            normalize=self.normalize,
            denoise_us=self.denoise_us,
        )


def _check_T(T) -> None:
    if not isinstance(T, int | np.integer) or isinstance(T, bool) or T <= 0:
        raise ValueError(f"T must be a positive integer, got {T!r}")


def number_bin_bounds(n: int, T: int) -> np.ndarray:
    """Event index boundaries ``[T + 1]`` of spikingjelly's split-by-number rule (last bin takes the rest)."""
    di = n // T
    b = np.arange(T + 1, dtype=np.int64) * di
    b[-1] = n
    return b


def time_bin_edges(t_start: int, t_end: int, T: int) -> np.ndarray:
    """Timestamps ``[T + 1]`` (µs) bounding T equal-duration bins of ``[t_start, t_end)``."""
    d = int(t_end) - int(t_start)
    return int(t_start) + (np.arange(T + 1, dtype=np.int64) * d) // T


def accumulate(
    events: np.ndarray,
    out: np.ndarray,
    sensor_size: SensorSize,
    size: SensorSize | None = None,
) -> np.ndarray:
    """Add per-polarity counts of ``events`` into one frame ``out`` ``[2, H, W]`` (in place).

    Coordinates are resized from ``sensor_size`` to ``size`` (both ``(width, height)``) as in the
    module docstring. ``out`` may be any float or integer dtype; it is returned.
    """
    w_in, h_in = sensor_size
    w, h = size or sensor_size
    if out.shape != (2, h, w):
        raise ValueError(f"out must have shape (2, {h}, {w}), got {out.shape}")
    n = events.shape[0]
    if n == 0:
        return out
    nbins = 2 * h * w
    flat = out.reshape(nbins)
    idx_dtype = np.uint32 if nbins < 2**31 else np.intp
    buf = np.empty(min(n, _CHUNK), dtype=idx_dtype)
    resize = (w, h) != (w_in, h_in)
    tmp = np.empty_like(buf) if resize else None
    counts = None
    for a in range(0, n, _CHUNK):
        c = events[a : a + _CHUNK]
        b = buf[: c.shape[0]]
        # Bounds check per cache-hot block: an x ≥ width would silently wrap into the next row.
        # (A polarity > 1 lands past the last bin instead, caught after bincount.)
        if int(c["x"].max()) >= w_in or int(c["y"].max()) >= h_in:
            raise ValueError(
                f"event coordinates outside the {w_in}x{h_in} sensor: "
                f"max x={int(c['x'].max())}, max y={int(c['y'].max())}"
            )
        # b = (p·H + y')·W + x' computed in place, block by block, to stay in cache.
        np.multiply(c["p"], idx_dtype(h), out=b)
        if resize:
            # y' = y·H_out // H_in in the index dtype (y·H_out < 2**32 for uint16 coordinates)
            r = tmp[: c.shape[0]]
            np.multiply(c["y"], idx_dtype(h), out=r)
            r //= idx_dtype(h_in)
            b += r
            b *= w
            np.multiply(c["x"], idx_dtype(w), out=r)
            r //= idx_dtype(w_in)
            b += r
        else:
            b += c["y"]
            b *= w
            b += c["x"]
        cnt = np.bincount(b, minlength=nbins)
        if cnt.shape[0] > nbins:
            raise ValueError("event polarity other than 0/1")
        if counts is None:
            counts = cnt
        else:
            counts += cnt
    flat += counts.astype(flat.dtype, copy=False)
    return out


def to_frames(
    events: np.ndarray,
    T: int,
    sensor_size: SensorSize,
    split_by: SplitBy = "number",
    size: SensorSize | None = None,
    t_start: int | None = None,
    t_end: int | None = None,
    normalize: Normalize = "none",
    denoise_us: int | None = None,
) -> np.ndarray:
    """Integrate ``events`` into ``T`` frames of per-polarity counts.

    Args:
        events: structured event array (``neuromoco.events.EVENT_DTYPE``), sorted by ``t``.
        T: number of frames.
        sensor_size: ``(width, height)`` of the sensor the coordinates refer to (pixels).
        split_by: ``"number"`` or ``"time"`` (see the module docstring for the exact rules).
        size: output ``(width, height)``; events are resized on their coordinates. Default: sensor size.
        t_start, t_end: window ``[t_start, t_end)`` in µs for ``split_by="time"``.
        normalize: ``"none"`` (counts), ``"binary"`` or ``"log1p"``.
        denoise_us: neighbour denoise (µs) of all ``events`` before framing (None: off).

    Returns:
        float32 array ``[T, 2, H, W]`` (channel 1 = ON events).
    """
    _check_T(T)
    if events.dtype.names is None or not {"t", "x", "y", "p"} <= set(events.dtype.names):
        raise EventFormatError(None, "events must be a structured array with fields t, x, y, p")
    w_in, h_in = int(sensor_size[0]), int(sensor_size[1])
    w, h = size or (w_in, h_in)
    if denoise_us is not None:
        from neuromoco.denoise import denoise

        events, _ = denoise(events, denoise_us, (w_in, h_in))
    frames = np.zeros((T, 2, h, w), dtype=np.float32)
    n = events.shape[0]
    if split_by == "number":
        bounds = number_bin_bounds(n, T)
    elif split_by == "time":
        if n == 0 and (t_start is None or t_end is None):
            return frames
        t = events["t"]
        ts = int(t[0]) if t_start is None else int(t_start)
        te = int(t[-1]) + 1 if t_end is None else int(t_end)
        if te <= ts:
            raise ValueError(f"empty time window: t_start={ts} µs ≥ t_end={te} µs")
        # bisect on the strided field view: np.searchsorted would first copy the whole column.
        bounds = [bisect.bisect_left(t, int(e)) for e in time_bin_edges(ts, te, T)]
    else:
        raise ValueError(f"split_by must be 'number' or 'time', got {split_by!r}")
    for i in range(T):
        a, b = int(bounds[i]), int(bounds[i + 1])
        if b > a:
            accumulate(events[a:b], frames[i], (w_in, h_in), (w, h))
    return apply_normalize(frames, normalize)


def apply_normalize(frames: np.ndarray, normalize: Normalize) -> np.ndarray:
    """Apply the spec's count normalisation in place; returns ``frames``."""
    if normalize == "none":
        return frames
    if normalize == "binary":
        np.minimum(frames, 1.0, out=frames)
        return frames
    if normalize == "log1p":
        np.log1p(frames, out=frames)
        return frames
    raise ValueError(f"normalize must be 'none', 'binary' or 'log1p', got {normalize!r}")
