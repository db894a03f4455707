"""A torch ``Dataset`` of framed event samples: ``(frames [T, 2, H, W] float32, label int)``.

Two ways to sample frames from an event sample (``sampling``), both through
:func:`neuromoco.framing.to_frames` with the model's :class:`~neuromoco.framing.FramingSpec`:

* ``sampling="clip"`` (the paper): the whole sample → ``T`` frames (split by event count or time,
  per the spec). Cached on disk per sample when ``cache_dir`` is given.
* ``sampling="window"``: a random fixed-length sub-window of the sample, ``spec.window_us`` µs
  (or ``spec.window_events`` events) long, framed into ``T`` frames — what a streaming model
  sees at one tick. The window start is uniform over the positions that fit in the sample
  (a sample shorter than the window gives the window starting at the sample start, the missing
  part empty). With ``cache_dir`` the cut events of each sample are cached, so a DVS128 Gesture
  recording is not decoded again for every window. Draws come from ``seed`` and the epoch
  (``set_epoch``) when ``seed`` is given — identical in any DataLoader worker layout — else from
  torch's RNG (seeded per DataLoader worker by torch).

Resizing to ``spec.size`` happens on event coordinates (see :mod:`neuromoco.framing`), so a
128×128 model gets exactly what the streaming windower produces from a live camera.

The word is ``sampling``, not ``mode``: in this project ``mode`` means how a model runs on a live
stream (``window | stream``). The keyword ``mode=`` is still accepted, with a
``DeprecationWarning``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from neuromoco.data.cache import SampleCache, clip_frames
from neuromoco.data.samples import SampleSource
from neuromoco.framing import FramingSpec, apply_normalize, to_frames

SAMPLINGS = ("clip", "window")
"""``clip``: the whole sample → T frames; ``window``: a random sub-window per draw."""


def resolve_sampling(sampling: str, mode: str | None = None, where: str = "FramesDataset") -> str:
    """Check ``sampling``; take the deprecated keyword ``mode=`` (its old name) when given."""
    if mode is not None:
        if sampling not in ("clip", mode):
            raise ValueError(f"{where}: give sampling={sampling!r} or mode={mode!r}, not both")
        warnings.warn(
            f"{where}: mode={mode!r} is deprecated, use sampling={mode!r} (mode means "
            "window|stream, how a model runs on a live stream)",
            DeprecationWarning,
            stacklevel=3,
        )
        sampling = mode
    if sampling not in SAMPLINGS:
        raise ValueError(f"{where}: sampling must be one of {SAMPLINGS}, got {sampling!r}")
    return sampling


class FramesDataset(Dataset):
    """Frames of a :class:`~neuromoco.data.samples.SampleSource`.

    Args:
        source: the labelled samples (e.g. ``DVS128Gesture(root, "train")``).
        framing: the model's framing spec (``T``, ``split_by``, ``size``, ``window_us``, ...).
        sampling: ``"clip"`` (whole sample, the paper) or ``"window"`` (random sub-windows).
        cache_dir: folder for the on-disk cache (:mod:`neuromoco.data.cache`); None = no cache.
        transform: applied to the float32 ``[T, 2, H, W]`` tensor (e.g. an
            :mod:`neuromoco.augment` transform or ``TwoViews``, which makes the sample
            ``((x_q, x_k), label)``).
        seed: makes window draws a function of ``(seed, epoch, index)``.
        mode: deprecated name of ``sampling``.

    ``__getitem__`` returns ``(frames, label)``; ``class_names``, ``num_classes``, ``labels``
    come from the source.
    """

    def __init__(
        self,
        source: SampleSource,
        framing: FramingSpec,
        sampling: str = "clip",
        cache_dir=None,
        transform: Callable | None = None,
        seed: int | None = None,
        *,
        mode: str | None = None,
    ):
        sampling = resolve_sampling(sampling, mode)
        if not isinstance(framing, FramingSpec):
            raise TypeError(f"framing must be a FramingSpec, got {type(framing).__name__}")
        if sampling == "window" and framing.window_us is None and framing.window_events is None:
            raise ValueError(
                "sampling='window' needs framing.window_us (µs) or framing.window_events; "
                "set one in the FramingSpec (e.g. window_us=500_000)"
            )
        self.source = source
        self.framing = framing
        self.sampling = sampling
        self.cache_dir = cache_dir
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self.cache: SampleCache | None = None
        if cache_dir is not None:
            kind = "frames" if sampling == "clip" else "events"
            self.cache = SampleCache(cache_dir, source, framing, kind)

    # -- metadata ------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.source.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.source.class_names)

    @property
    def labels(self) -> list[int]:
        return self.source.labels

    @property
    def sensor_size(self):
        return self.source.sensor_size

    def __len__(self) -> int:
        return len(self.source)

    def __repr__(self) -> str:
        return (
            f"FramesDataset({self.source!r}, sampling={self.sampling!r}, T={self.framing.T}, "
            f"size={self.framing.size}, cache={'off' if self.cache is None else str(self.cache.dir)})"
        )

    # -- configuration -------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the window draws of ``epoch`` (only matters with ``sampling="window"`` and a seed)."""
        self.epoch = int(epoch)

    def with_framing(self, framing: FramingSpec) -> FramesDataset:
        """The same samples, sampling, cache folder and transform under another framing spec."""
        return FramesDataset(
            self.source, framing, self.sampling, self.cache_dir, self.transform, self.seed
        )

    def with_size(self, size) -> FramesDataset:
        """The same dataset resized (on event coordinates) to ``size`` = ``(width, height)``."""
        return self.with_framing(dataclasses.replace(self.framing, size=tuple(size)))

    def build_cache(self, workers: int | None = None, progress: bool = True) -> int:
        """Fill the on-disk cache (see :meth:`SampleCache.build`); returns samples processed."""
        if self.cache is None:
            raise ValueError("this dataset has no cache_dir; pass cache_dir=... to cache frames")
        return self.cache.build(workers=workers, progress=progress)

    # -- samples -------------------------------------------------------------------------
    def sample_events(self, index: int) -> np.ndarray:
        """The events of sample ``index`` (from the events cache when there is one)."""
        if self.cache is not None and self.cache.kind == "events":
            return self.cache.get(index)
        return self.source.events(index)

    def frames(self, index: int) -> np.ndarray:
        """Float32 ``[T, 2, H, W]`` numpy frames of sample ``index`` (a new window draw each call)."""
        index = self._check_index(index)
        if self.sampling == "clip":
            if self.cache is not None:
                return self.cache.frames(index)
            ref = self.source.samples[index]
            fr = clip_frames(
                self.source.events(index),
                self.framing,
                self.source.sensor_size,
                ref.t_start,
                ref.t_end,
            )
            return apply_normalize(fr, self.framing.normalize)
        return self.window_frames(index, self._draw(index))

    def window_bounds(self, index: int) -> tuple[int, int]:
        """The sample's extent ``[start, end)`` in µs (its cut, else first … last event + 1)."""
        ref = self.source.samples[index]
        ev = self.sample_events(index)
        start = ref.t_start if ref.t_start is not None else (int(ev["t"][0]) if ev.size else 0)
        end = (
            ref.t_end if ref.t_end is not None else (int(ev["t"][-1]) + 1 if ev.size else start + 1)
        )
        return int(start), int(end)

    def window_frames(self, index: int, u: float) -> np.ndarray:
        """Frames of the sub-window at relative position ``u`` ∈ [0, 1] of sample ``index``."""
        spec = self.framing
        ev = self.sample_events(index)
        dn = spec.denoise_us
        if spec.window_us is not None:
            start, end = self.window_bounds(index)
            span = max(0, (end - start) - int(spec.window_us))
            t0 = start + int(round(u * span))
            t1 = t0 + int(spec.window_us)
            t = ev["t"]
            # with a neighbour denoise, the window and the denoise window before it: an event's
            # support comes from the last dn µs only, so this equals denoising the sample from
            # its first event on and then cutting (what the streaming windower gives), for a
            # fraction of the work
            a, b = np.searchsorted(t, [t0 - (int(dn) if dn else 0), t1], side="left")
            win = ev[int(a) : int(b)]
            if dn and win.size:
                win = _denoise(win, dn, self.source.sensor_size)
                win = win[win["t"] >= t0]
        else:
            if dn and ev.size:
                ev = _denoise(ev, dn, self.source.sensor_size)
            n = ev.shape[0]
            span = max(0, n - int(spec.window_events))
            a = int(round(u * span))
            win = ev[a : a + int(spec.window_events)]
            t0 = t1 = None
        # (to_frames returns empty frames for an empty window without explicit time bounds)
        fr = to_frames(
            win,
            spec.T,
            self.source.sensor_size,
            split_by=spec.split_by,
            size=spec.size,
            t_start=t0 if spec.split_by == "time" else None,
            t_end=t1 if spec.split_by == "time" else None,
        )
        return apply_normalize(fr, spec.normalize)

    def _draw(self, index: int) -> float:
        if self.seed is not None:
            return float(np.random.default_rng([int(self.seed), self.epoch, int(index)]).random())
        return float(torch.rand((), dtype=torch.float64))

    def _check_index(self, index) -> int:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for {n} samples")
        return i

    def __getitem__(self, index: int):
        x = torch.from_numpy(self.frames(index))
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.source.samples[self._check_index(index)].label)


def _denoise(events: np.ndarray, filter_us: int, sensor_size) -> np.ndarray:
    """The framing's neighbour denoise of ``events`` from their first one on."""
    from neuromoco.denoise import denoise

    return denoise(events, filter_us, sensor_size)[0]
