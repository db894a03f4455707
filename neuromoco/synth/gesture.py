"""One procedural gesture as events: parameters → kinematics → rendered frames → DVS emulator.

Keypoints are tracked at 1 kHz, frames rendered at 250–1000 Hz (the rate adapts so that no body
part moves more than ~1 px between frames) and turned into events by
:class:`neuromoco.emulator.EventEmulator` (contrast threshold with per-pixel mismatch, refractory
period, shot noise, leak events); hot pixels are added last. Every random draw comes from
generators seeded by ``(GENERATOR_VERSION, label, seed, stream)``, so
``generate_gesture(label, seed, duration_us, params)`` always gives the same array.
"""

from __future__ import annotations

import numpy as np

from neuromoco.emulator import EmulatorConfig, EventEmulator
from neuromoco.events import EVENT_DTYPE, empty_events
from neuromoco.synth.kinematics import skeleton
from neuromoco.synth.params import (
    GENERATOR_VERSION,
    GESTURE_DURATION_US,
    SENSOR_SIZE,
    GestureParams,
    check_duration,
    check_label,
    check_seed,
    sample_params,
)
from neuromoco.synth.render import background, frame_indices, materials, render_chunk

_CHUNK = 32  # frames rendered per vectorised block


def _seq_rng(label: int, seed: int, stream: int) -> np.random.Generator:
    """Generator ``stream`` of a gesture: 0 draws its parameters, 1 everything else."""
    return np.random.default_rng([GENERATOR_VERSION, label, seed, stream])


def generate_gesture(
    label: int,
    seed: int,
    duration_us: int = GESTURE_DURATION_US,
    params: GestureParams | None = None,
) -> np.ndarray:
    """Events of one procedural gesture of class ``label`` (``EVENT_DTYPE``, sorted by ``t``).

    Timestamps are µs from 0 (the first frame) to ``duration_us − 1``. ``params`` default to
    ``sample_params(label, rng)`` with ``rng`` seeded by ``(label, seed)``; textures, idle
    motion and sensor noise are seeded by ``(label, seed)`` as well, so the same arguments
    always give the same array. A 1.5 s sample holds roughly 50–300 k events.
    """
    label = check_label(label)
    seed = check_seed(seed)
    duration_us = check_duration(duration_us)
    if params is None:
        params = sample_params(label, _seq_rng(label, seed, 0))
    elif not isinstance(params, GestureParams):
        raise ValueError(f"params must be a GestureParams, got {type(params).__name__}")
    elif params.label != label:
        raise ValueError(f"params are for label {params.label}, not {label}")
    rng = _seq_rng(label, seed, 1)
    # Keypoint tracks at 1 kHz (cheap, [N] arrays), then frames at an adaptive sub-rate.
    t_ms = np.arange(0, duration_us, 1000, dtype=np.int64)
    if t_ms[-1] != duration_us - 1:
        t_ms = np.append(t_ms, duration_us - 1)
    caps = skeleton(params, t_ms * 1e-6, rng)
    idx = frame_indices(caps)
    caps = [(a[idx], None if b is None else b[idx], r, m) for a, b, r, m in caps]
    frame_t = t_ms[idx]
    wall, illum = background(params, rng)
    mats = materials(params, rng)
    cfg = EmulatorConfig(
        threshold_on=params.threshold,
        threshold_off=params.threshold,
        threshold_sigma=params.threshold_sigma,
        refractory_us=params.refractory_us,
        shot_noise_hz=params.noise_hz,
        leak_hz=params.leak_hz,
    )
    emu = EventEmulator(cfg, seed=int(rng.integers(2**63)), sensor_size=SENSOR_SIZE)
    parts = []
    n = frame_t.size
    for i0 in range(0, n, _CHUNK):
        i1 = min(i0 + _CHUNK, n)
        frames = render_chunk(wall, illum, caps, mats, i0, i1)
        ev = emu.process_many(frames, frame_t[i0:i1], log=True)
        if ev.size:
            parts.append(ev)
    hot = _hot_pixel_events(params, duration_us, rng)
    if hot.size:
        parts.append(hot)
    if not parts:
        return empty_events()
    ev = np.concatenate(parts)
    if hot.size:
        ev = ev[np.argsort(ev["t"], kind="stable")]
    return ev


def _hot_pixel_events(p: GestureParams, duration_us: int, rng: np.random.Generator) -> np.ndarray:
    """Events of ``p.hot_pixels`` hot pixels over ``[0, duration_us)`` µs (Poisson, ``p.hot_hz``).

    Real DVS128 recordings hold 4–143 pixels that fire far more than their neighbours whatever
    they see (measured on the unlabelled recordings); their polarity alternates like any pixel's.
    """
    if p.hot_pixels <= 0 or p.hot_hz <= 0:
        return empty_events()
    w, h = SENSOR_SIZE
    pix = rng.choice(w * h, size=p.hot_pixels, replace=False)
    n = rng.poisson(p.hot_hz * duration_us * 1e-6, size=p.hot_pixels)
    m = int(n.sum())
    ev = np.empty(m, dtype=EVENT_DTYPE)
    which = np.repeat(pix, n)
    ev["t"] = rng.integers(0, duration_us, size=m)
    ev["x"] = which % w
    ev["y"] = which // w
    # alternate ON/OFF per pixel in time order, starting at random
    group = np.repeat(np.arange(p.hot_pixels), n)  # keeps the groups in the order of ``n``
    order = np.lexsort((ev["t"], group))
    ev = ev[order]
    first = np.repeat(np.cumsum(n) - n, n)
    start = np.repeat(rng.integers(0, 2, size=p.hot_pixels), n)
    ev["p"] = (np.arange(m) - first + start) % 2
    return ev
