"""Procedural DVS128-Gesture-like event streams: the embedded default data of NeuroMoCo.

A person (torso, neck, head, upper arms, forearms and fists as soft-edged capsules) stands in
front of a textured, unevenly lit wall; the arms perform one of the 11 DVS128 Gesture classes
(arm circles: the nearly straight arm turns around the shoulder; waves: the forearm pivots at the
elbow). Clothes and skin carry a fine texture that moves with each limb; the sensor has hot
pixels. Sizes, positions, speeds and rates are set from measurements of real DVS128 recordings
(``python -m bench.real_stats``, docs/results.md "Procedural gestures vs real recordings").
Frames are rendered directly in log intensity at 250–1000 Hz (the rate adapts so that no body
part moves more than ~1 px between frames) and turned into events by
:mod:`neuromoco.emulator` (contrast threshold with per-pixel mismatch, refractory period, shot
noise, leak events).

Conventions:

* 128×128 sensor, ``x`` to the right, ``y`` down, as the camera sees the subject: the subject's
  **right** arm appears on the **left** half of the image (the camera faces the person).
* The rotation classes are named, like DVS128 Gesture's, from the **subject's** point of view
  (the subject faces the camera): ``right_arm_clockwise`` turns **counter-clockwise as the image
  shows it** (x right, y down), ``right_arm_counter_clockwise`` clockwise on screen. Measured on
  the real clips of ``../shared/testdata/dvsgesture_csv`` (``python -m bench.real_stats``): the
  event centroid of ``right_arm_counter_clockwise`` and ``left_arm_counter_clockwise`` turns at
  +1.3 turns/s clockwise on screen, that of ``left_arm_clockwise`` at 1.4 turns/s the other way.
  (Generator v2 had this backwards.)
* Labels are 0-based in the DVS128 Gesture order of :data:`CLASS_NAMES` (the real dataset's
  ``*_labels.csv`` files are 1-based; :func:`write_dataset` writes them 1-based, like the original).

Per-sample variation (:class:`GestureParams`, drawn by :func:`sample_params` from a seed):
motion frequency, amplitude and start phase, body scale and position, limb thickness, background
brightness/texture/lighting gradient, clothing and skin contrast (either sign, so polarity alone
says nothing), body sway, idle-arm pose and fidgeting, sensor threshold, threshold mismatch,
noise and leak rates. Classes that differ only by side (right/left) or by rotation sense
(clockwise/counter-clockwise) share every other distribution: the side shows in *where* the
motion is relative to a randomly placed body, and the rotation sense only in the *temporal order*
of the events (the accumulated image of a clockwise and a counter-clockwise circle is the same),
so a model must use time to tell them apart, as on the real dataset.

Determinism: ``generate_gesture(label, seed)`` depends only on ``(label, seed, duration_us,
params)`` and :data:`GENERATOR_VERSION`; any change of the rendering bumps the version.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neuromoco.atomic import atomic_write_text
from neuromoco.emulator import EmulatorConfig, EventEmulator
from neuromoco.events import EVENT_DTYPE, empty_events
from neuromoco.gesture_classes import DVS128_GESTURE_CLASSES as DVS128_CLASS_NAMES

GENERATOR_VERSION = 3
"""Bumped whenever the generated events for a given (label, seed) change."""

CLASS_NAMES = DVS128_CLASS_NAMES  # one definition: the real dataset's gesture_mapping.csv
SENSOR_SIZE = (128, 128)
"""(width, height) in pixels."""

NUM_CLASSES = len(CLASS_NAMES)
GESTURE_DURATION_US = 1_500_000
"""Default length of one procedural gesture (µs): about one repetition of the slower gestures."""
LIGHTINGS = ("fluorescent", "fluorescent_led", "lab", "led", "natural")
"""Lighting names of the real DVS128 Gesture files (``userXX_<lighting>.aedat``)."""

_RIGHT, _LEFT = (
    -1,
    1,
)  # image-x direction pointing away from the body for the subject's right/left arm
_SOFT = 1.1  # edge softness (px): optics blur + anti-aliasing
_CHUNK = 32  # frames rendered per vectorised block


@dataclass(frozen=True)
class GestureParams:
    """Every per-sample variation of one procedural gesture (pixels, Hz, radians, log units).

    Attributes:
        label: class index (0..10).
        frequency_hz: main frequency of the gesture's motion.
        amplitude: motion amplitude relative to the class's nominal one (≈0.75–1.25).
        phase: start phase of the motion (radians).
        direction: rotation sense for ``arm_roll`` (+1/−1); 0 where the class fixes it.
        hand: the side doing the asymmetric part where the class leaves it free (``air_guitar``
            strumming hand, ``other_gestures`` main arm): −1 subject's right, +1 left.
        body_scale: size of the person (1 = nominal: shoulders ~30 px apart, arm reach ~40 px).
        body_x, body_y: offset of the body from its nominal position (px).
        limb_width: thickness multiplier of arms and hands.
        sway_px, sway_hz: lateral body sway amplitude (px) and frequency (Hz).
        idle_pose: pose of an arm that does not gesture (0 hanging, 1 hand on hip, 2 hand on
            belly, 3 hand at the chin).
        fidget_px: amplitude of small random idle-arm motion (px).
        bg_level: mean background intensity (linear, 0..1).
        bg_texture: background texture contrast (log units, std).
        light_angle, light_gradient: direction (radians) and strength (log units across the image)
            of an illumination gradient that lights the person and the wall alike.
        shirt_contrast, skin_contrast: log-intensity of clothes / skin relative to the wall
            (either sign).
        long_sleeves: forearms in shirt colour (True) or skin colour (False).
        threshold: mean contrast threshold of the emulated sensor (log units).
        threshold_sigma: per-pixel threshold mismatch (log units).
        refractory_us: pixel refractory period (µs).
        noise_hz: shot-noise rate per pixel (Hz).
        leak_hz: leak-event rate per pixel (Hz).
        mixture: for ``other_gestures``, the motion primitives mixed (indices into an internal
            list: reach, scratch head, big sway, wander, shrug, stretch); empty otherwise.
        texture_amp: contrast (log units) of the fine texture of clothes and skin (folds,
            stripes, fingers), which moves with each limb; it makes a pixel swept by a limb fire
            ON/OFF alternately a few ms apart, as real recordings do.
        texture_period: spatial period of that texture (px).
        hot_pixels: number of hot pixels (pixels that fire at ``hot_hz`` whatever they see).
        hot_hz: event rate of each hot pixel (Hz).
    """

    label: int
    frequency_hz: float
    amplitude: float
    phase: float
    direction: int
    hand: int
    body_scale: float
    body_x: float
    body_y: float
    limb_width: float
    sway_px: float
    sway_hz: float
    idle_pose: int
    fidget_px: float
    bg_level: float
    bg_texture: float
    light_angle: float
    light_gradient: float
    shirt_contrast: float
    skin_contrast: float
    long_sleeves: bool
    threshold: float
    threshold_sigma: float
    refractory_us: int
    noise_hz: float
    leak_hz: float
    mixture: tuple[int, ...] = ()
    texture_amp: float = 0.0
    texture_period: float = 4.0
    hot_pixels: int = 0
    hot_hz: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mixture"] = list(self.mixture)
        return d


def _check_label(label) -> int:
    if isinstance(label, bool) or not isinstance(label, int | np.integer):
        raise ValueError(f"label must be an integer 0..{NUM_CLASSES - 1}, got {label!r}")
    if not 0 <= int(label) < NUM_CLASSES:
        raise ValueError(
            f"label must be in 0..{NUM_CLASSES - 1} ({', '.join(CLASS_NAMES)}), got {label}"
        )
    return int(label)


def _check_durations(duration_us, gap_us) -> None:
    """A gesture of at least 2 ms and a non-negative gap (both integer µs), else ValueError."""
    if (
        isinstance(duration_us, bool)
        or not isinstance(duration_us, int | np.integer)
        or duration_us < 2000
    ):
        raise ValueError(f"duration_us must be an integer ≥ 2000 µs, got {duration_us!r}")
    if isinstance(gap_us, bool) or not isinstance(gap_us, int | np.integer) or gap_us < 0:
        raise ValueError(f"gap_us must be a non-negative integer (µs), got {gap_us!r}")


def _check_seed(seed, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


# Main-motion frequency range (Hz) per class: waves and strums are fast, whole-arm circles slow.
_FREQ = {
    0: (1.4, 2.6),
    1: (1.5, 3.0),
    2: (1.5, 3.0),
    3: (0.9, 1.7),
    4: (0.9, 1.7),
    5: (0.9, 1.7),
    6: (0.9, 1.7),
    7: (1.4, 2.8),
    8: (1.8, 3.4),
    9: (2.8, 4.8),
    10: (0.4, 1.6),
}
_N_PRIMITIVES = 6


def sample_params(label: int, rng: np.random.Generator) -> GestureParams:
    """Draw the per-sample variation of class ``label`` from ``rng``."""
    label = _check_label(label)
    u = rng.uniform
    sign = lambda: 1 if rng.random() < 0.5 else -1  # noqa: E731
    f_lo, f_hi = _FREQ[label]
    # Contrast is drawn relative to the threshold (events per edge crossing ≈ contrast/threshold),
    # which keeps event counts in a realistic band while both still vary a lot.
    # Real DVS128 pixels rarely fire twice in the same direction 1–10 ms apart (measured: 95–100 %
    # of such pairs have opposite polarity), so an edge should give only 1–3 events: contrast
    # 1.3–3 thresholds, not the 3.5–8 of generator v2; the moving texture supplies the rest.
    threshold = float(u(0.12, 0.25))
    if label == 10:
        k = int(rng.integers(1, 3))
        mixture = tuple(sorted(int(i) for i in rng.choice(_N_PRIMITIVES, size=k, replace=False)))
    else:
        mixture = ()
    # A big person has less room to stand off-centre before a whole-arm gesture leaves the frame.
    body_scale = float(u(1.0, 1.3))
    max_off = 20.0 - 30.0 * (body_scale - 0.95)
    return GestureParams(
        label=label,
        frequency_hz=float(u(f_lo, f_hi)),
        amplitude=float(u(0.75, 1.25)),
        phase=float(u(0, 2 * np.pi)),
        direction=sign() if label == 7 else 0,
        hand=sign(),
        body_scale=body_scale,
        body_x=float(u(-max_off, max_off)),
        body_y=float(u(-6, 6)),
        limb_width=float(u(0.95, 1.3)),
        sway_px=float(u(0.0, 1.0)),  # real subjects stand still: the torso gives few events
        sway_hz=float(u(0.2, 0.9)),
        idle_pose=int(rng.integers(0, 4)),
        fidget_px=float(u(0.0, 2.0)),
        bg_level=float(u(0.15, 0.6)),
        bg_texture=float(u(0.05, 0.3)),
        light_angle=float(u(0, 2 * np.pi)),
        light_gradient=float(u(0.0, 0.8)),
        shirt_contrast=float(sign() * threshold * u(1.3, 3.0)),
        skin_contrast=float(sign() * threshold * u(1.2, 2.8)),
        long_sleeves=bool(rng.random() < 0.5),
        threshold=threshold,
        threshold_sigma=float(u(0.01, 0.04)),
        refractory_us=int(rng.integers(300, 2500)),
        # measured background activity: 0.03–0.07 Hz per pixel of isolated events
        noise_hz=float(u(0.005, 0.04)),
        leak_hz=float(u(0.0, 0.05)),
        mixture=mixture,
        texture_amp=float(threshold * u(0.6, 1.6)),
        texture_period=float(u(2.5, 6.0)),
        hot_pixels=int(rng.integers(0, 25)),
        hot_hz=float(u(3.0, 30.0)),
    )


# ----------------------------------------------------------------------------- kinematics
class _Body(NamedTuple):
    cx: np.ndarray  # [N] body centre x (px)
    sy: np.ndarray  # [N] shoulder line y (px)
    s: float  # body scale
    L1: float  # upper-arm length (px)
    L2: float  # forearm length (px)


def _ik(shoulder: np.ndarray, target: np.ndarray, L1: float, L2: float, out_dir: int):
    """Two-link inverse kinematics: (elbow, wrist) [N, 2] reaching ``target`` with the elbow outward."""
    d = target - shoulder
    dist = np.hypot(d[:, 0], d[:, 1])
    dist_c = np.clip(dist, abs(L1 - L2) + 1e-3, L1 + L2 - 1e-3)
    ang = np.arctan2(d[:, 1], d[:, 0])
    cosb = np.clip((L1 * L1 + dist_c * dist_c - L2 * L2) / (2 * L1 * dist_c), -1.0, 1.0)
    # Elbow bends away from the body: for the image-left arm (out_dir = −1) that is +b (y down).
    a = ang - out_dir * np.arccos(cosb)
    elbow = shoulder + L1 * np.stack([np.cos(a), np.sin(a)], axis=1)
    wrist = shoulder + dist_c[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    return elbow, wrist


def _rest_target(b: _Body, side: int, pose: int, t: np.ndarray, fidget: np.ndarray) -> np.ndarray:
    s = b.s
    if pose == 0:  # hanging beside the body
        x = b.cx + side * 17 * s
        y = b.sy + 0.93 * (b.L1 + b.L2)
    elif pose == 1:  # hand on hip
        x = b.cx + side * 13 * s
        y = b.sy + 33 * s
    elif pose == 2:  # hand on belly
        x = b.cx + side * 3 * s
        y = b.sy + 30 * s
    else:  # hand at the chin (thinking pose): puts idle motion at head height
        x = b.cx + side * 4 * s
        y = b.sy - 8 * s
    return np.stack([x + fidget[:, 0], y + fidget[:, 1]], axis=1)


def _fidget(rng: np.random.Generator, t: np.ndarray, amp: float) -> np.ndarray:
    """Small smooth random 2-D motion [N, 2] (px): sum of two slow sinusoids per axis."""
    out = np.zeros((t.size, 2))
    for ax in range(2):
        for _ in range(2):
            f = rng.uniform(0.2, 1.2)
            out[:, ax] += amp * 0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def _wander(rng, t, center, radius, f_lo, f_hi):
    """Smooth random trajectory [N, 2] around ``center`` (sum of three sinusoids per axis)."""
    out = (
        np.repeat(np.asarray(center, float)[None], t.size, axis=0)
        if np.ndim(center) == 1
        else center.copy()
    )
    for ax in range(2):
        for _ in range(3):
            f = rng.uniform(f_lo, f_hi)
            out[:, ax] += radius / 2.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def _arm_targets(p: GestureParams, b: _Body, t: np.ndarray, rng: np.random.Generator):
    """Wrist targets for (right, left) arms, [N, 2] each, or explicit (elbow, wrist) pairs."""
    s, A, f, ph = b.s, p.amplitude, p.frequency_hz, p.phase
    w = 2 * np.pi * f * t + ph
    reach = b.L1 + b.L2
    sh = {side: np.stack([b.cx + side * 15 * s, b.sy], axis=1) for side in (_RIGHT, _LEFT)}
    fid = {side: _fidget(rng, t, p.fidget_px) for side in (_RIGHT, _LEFT)}
    rest = {side: _rest_target(b, side, p.idle_pose, t, fid[side]) for side in (_RIGHT, _LEFT)}
    out: dict[int, tuple[np.ndarray | None, np.ndarray]] = {}
    L = p.label
    if L == 0:  # hand clap: fists meet in front of the chest
        cy = b.sy + (20 + 6 * rng.uniform(-1, 1)) * s
        half = 4.5 * s * p.limb_width + A * 15 * s * np.abs(np.sin(w / 2)) ** 0.7
        bob = 2.0 * s * np.sin(w + rng.uniform(0, 6.3))
        for side in (_RIGHT, _LEFT):
            out[side] = (None, np.stack([b.cx + side * half, cy + bob], axis=1))
    elif L in (1, 2):  # hand wave: forearm up, swinging about the elbow
        side = _RIGHT if L == 1 else _LEFT
        # upper arm from horizontal (hand well out) to 40° below it (hand by the face)
        elev = math.radians(rng.uniform(0, 40))
        elbow = sh[side] + b.L1 * np.array([side * math.cos(elev), math.sin(elev)])
        elbow = elbow + np.stack([side * 1.5 * s * np.sin(w), 0 * t], axis=1)
        g0 = math.radians(rng.uniform(-12, 12)) * side
        gam = g0 + math.radians(32) * A * np.sin(w)
        wrist = elbow + b.L2 * np.stack([np.sin(gam), -np.cos(gam)], axis=1)
        out[side] = (elbow, wrist)
        out[-side] = (None, rest[-side])
    elif L in (3, 4, 5, 6):  # whole-arm circles around the shoulder, the arm nearly straight
        side = _RIGHT if L in (3, 4) else _LEFT
        # +angle is clockwise on screen (y down). The class names are the subject's view: the
        # subject's clockwise is counter-clockwise for the camera that faces them.
        cw = -1 if L in (3, 5) else 1
        R = reach * rng.uniform(0.82, 0.97)
        # centre of the hand's circle: at the shoulder, a little out and down (measured: the
        # real circles' events lie low and to the side, median y ≈ 82 px)
        cen = sh[side] + R * np.array([side * rng.uniform(0.0, 0.15), rng.uniform(0.0, 0.2)])
        ell = rng.uniform(0.85, 1.1)
        th = cw * (w + 0.2 * np.sin(w + rng.uniform(0, 6.3)))
        wrist = cen + R * np.stack([np.cos(th), ell * np.sin(th)], axis=1)
        out[side] = (None, wrist)
        out[-side] = (None, rest[-side])
    elif L == 7:  # arm roll: fists orbit each other in front of the chest
        cy = b.sy + 22 * s + 4 * s * rng.uniform(-1, 1)
        rho = (5 + 4 * A) * s
        th = p.direction * w
        for side, off in ((_RIGHT, 0.0), (_LEFT, np.pi)):
            out[side] = (
                None,
                np.stack(
                    [b.cx + side * 5 * s + rho * np.cos(th + off), cy + rho * np.sin(th + off)],
                    axis=1,
                ),
            )
    elif L == 8:  # air drums: alternating down-strokes, drifting between drums
        for side, off in ((_RIGHT, 0.0), (_LEFT, np.pi)):
            x = b.cx + side * (13 + 3 * rng.uniform(-1, 1)) * s
            x = x + 4 * s * np.sin(w / 4 + rng.uniform(0, 6.3))
            # sharp strike: the hand lingers up and falls fast
            lift = A * 10 * s * (0.5 + 0.5 * np.cos(w + off)) ** 1.5
            out[side] = (None, np.stack([x, b.sy + 30 * s - lift], axis=1))
    elif L == 9:  # air guitar: one hand strums at the hip, the other frets up and out
        strum = p.hand
        y = b.sy + 35 * s + A * 9 * s * np.sin(w)
        x = b.cx + strum * 6 * s + 1.5 * s * np.sin(w + 1.0)
        out[strum] = (None, np.stack([x, y], axis=1))
        fret = -strum
        al = math.radians(rng.uniform(5, 30))
        slide = 3 * s * np.sin(2 * np.pi * rng.uniform(0.4, 1.0) * t + rng.uniform(0, 6.3))
        jit = 0.8 * s * np.sin(2 * np.pi * 6.0 * t)
        d = np.array([fret * math.cos(al), -math.sin(al)])
        out[fret] = (None, sh[fret] + (0.82 * reach + slide + jit)[:, None] * d)
    else:  # other gestures: a random mixture of non-class motions
        for side in (_RIGHT, _LEFT):
            out[side] = (None, rest[side].copy())
        main = p.hand
        for prim in p.mixture:
            if prim == 0:  # reach out to a random point and back
                ang = rng.uniform(-0.8, 0.8)
                tgt = sh[main] + 0.9 * reach * np.array([main * math.cos(ang), math.sin(ang)])
                k = 0.5 - 0.5 * np.cos(w)
                out[main] = (None, rest[main] * (1 - k[:, None]) + tgt * k[:, None])
            elif prim == 1:  # scratch the head
                head = np.stack([b.cx + main * 8 * s, b.sy - 22 * s], axis=1)
                sc = np.stack(
                    [2 * s * np.sin(2 * np.pi * 5 * t), 1.5 * s * np.cos(2 * np.pi * 5 * t)], axis=1
                )
                out[main] = (None, head + sc)
            elif prim == 2:  # big lateral sway / stepping (handled in the body, arms swing along)
                pass
            elif prim == 3:  # both arms wander smoothly
                for side in (_RIGHT, _LEFT):
                    cen = sh[side] + np.array([side * 10 * s, 22 * s])
                    out[side] = (None, _wander(rng, t, cen, 14 * s * A, 0.3, 1.5 * f + 0.3))
            elif prim == 4:  # shrug: both hands lift together, slowly
                lift = 8 * s * A * (0.5 - 0.5 * np.cos(w))
                for side in (_RIGHT, _LEFT):
                    base = _rest_target(b, side, 1, t, fid[side])
                    out[side] = (None, base - np.stack([0 * t, lift], axis=1))
            elif prim == 5:  # stretch: both arms go up overhead and come back
                k = 0.5 - 0.5 * np.cos(w)
                for side in (_RIGHT, _LEFT):
                    up = sh[side] + np.array([side * 8 * s, -0.9 * reach])
                    out[side] = (None, rest[side] * (1 - k[:, None]) + up * k[:, None])
    res = {}
    for side in (_RIGHT, _LEFT):
        elbow, wrist = out[side]
        if elbow is None:
            elbow, wrist = _ik(sh[side], wrist, b.L1, b.L2, side)
        res[side] = (sh[side], elbow, wrist)
    return res


def _skeleton(p: GestureParams, t: np.ndarray, rng: np.random.Generator):
    """Capsules to draw, each ``(a [N,2], b [N,2], radius px, material)``, in drawing order."""
    s = p.body_scale
    big_sway = p.label == 10 and 2 in p.mixture
    sway_amp = p.sway_px + (6.0 * p.amplitude if big_sway else 0.0)
    sway_hz = p.sway_hz if not big_sway else p.frequency_hz / 2
    sw = sway_amp * np.sin(2 * np.pi * sway_hz * t + rng.uniform(0, 6.3))
    cx = 64 + p.body_x + sw
    # shoulder line low in the frame: real arm circles reach the bottom rows (median event y 82)
    sy = 66 + p.body_y + 0.15 * np.abs(sw) + 0 * t
    body = _Body(cx=cx, sy=sy, s=s, L1=21 * s, L2=19 * s)
    lw = p.limb_width
    col = lambda x, y: np.stack([x, y], axis=1)  # noqa: E731
    caps = [
        # torso: a round shoulder cap plus a vertical bar down to (and past) the image bottom
        (col(cx, sy + 12 * s), col(cx, sy + 12 * s), 17 * s, "shirt"),
        (col(cx, sy + 12 * s), None, 17 * s, "shirt"),
        (col(cx, sy - 12 * s), col(cx, sy), 4.5 * s, "skin"),  # neck
        (col(cx, sy - 21 * s), col(cx, sy - 20 * s), 9.5 * s, "skin"),  # head
    ]
    arms = _arm_targets(p, body, t, rng)
    forearm = "shirt" if p.long_sleeves else "skin"
    for side in (_RIGHT, _LEFT):
        shoulder, elbow, wrist = arms[side]
        caps.append((shoulder, elbow, 4.4 * s * lw, "shirt"))
        caps.append((elbow, wrist, 3.6 * s * lw, forearm))
        caps.append((wrist, wrist, 4.8 * s * lw, "skin"))
    return caps


# ----------------------------------------------------------------------------- rendering
def _background(p: GestureParams, rng: np.random.Generator):
    """(log-intensity wall [H, W], illumination log-field [H, W]) as float32."""
    w, h = SENSOR_SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ux, uy = math.cos(p.light_angle), math.sin(p.light_angle)
    illum = p.light_gradient * (((xx - w / 2) * ux + (yy - h / 2) * uy) / w)
    # Wall texture: bilinearly upsampled coarse noise at two scales (plaster, posters).
    tex = np.zeros((h, w), np.float32)
    for cells, wgt in ((5, 0.7), (17, 0.5)):
        g = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
        gy = yy * (cells / h)
        gx = xx * (cells / w)
        y0 = np.minimum(gy.astype(np.int64), cells - 1)
        x0 = np.minimum(gx.astype(np.int64), cells - 1)
        fy, fx = gy - y0, gx - x0
        v = (
            g[y0, x0] * (1 - fy) * (1 - fx)
            + g[y0 + 1, x0] * fy * (1 - fx)
            + g[y0, x0 + 1] * (1 - fy) * fx
            + g[y0 + 1, x0 + 1] * fy * fx
        )
        tex += wgt * v
    wall = math.log(p.bg_level) + illum + p.bg_texture * tex
    return wall.astype(np.float32), illum.astype(np.float32)


class _Material(NamedTuple):
    """Log intensity of a surface plus a fine texture that moves with the limb that wears it."""

    level: np.float32  # log intensity relative to nothing (absolute), before lighting
    amp: np.float32  # texture contrast (log units)
    k: np.float32  # texture wave number (radians per px)
    phase: float


def _render_chunk(wall, illum, caps, materials, i0, i1) -> np.ndarray:
    """Log-intensity frames ``[i1 - i0, H, W]`` (float32) of frames ``i0..i1-1``.

    ``materials`` maps a capsule's material name to a :class:`_Material`. The texture is a
    plaid in the capsule's own frame (across the limb and along it, the first stronger), so it
    moves rigidly with the limb: a pixel swept by a limb sees alternating brighter/darker stripes.
    """
    k = i1 - i0
    h, w = wall.shape
    out = np.empty((k, h, w), np.float32)
    out[:] = wall
    for a, b, r, mat in caps:
        a = a[i0:i1]
        if b is None:
            _render_vbar(out, a, r, materials[mat].level, illum)
            continue
        b = b[i0:i1]
        pad = r + 2 * _SOFT
        x0 = max(int(math.floor(min(a[:, 0].min(), b[:, 0].min()) - pad)), 0)
        x1 = min(int(math.ceil(max(a[:, 0].max(), b[:, 0].max()) + pad)) + 1, w)
        y0 = max(int(math.floor(min(a[:, 1].min(), b[:, 1].min()) - pad)), 0)
        y1 = min(int(math.ceil(max(a[:, 1].max(), b[:, 1].max()) + pad)) + 1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        xs = np.arange(x0, x1, dtype=np.float32)[None, None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[None, :, None]
        ax = a[:, 0, None, None].astype(np.float32)
        ay = a[:, 1, None, None].astype(np.float32)
        dx = (b[:, 0] - a[:, 0]).astype(np.float32)[:, None, None]
        dy = (b[:, 1] - a[:, 1]).astype(np.float32)[:, None, None]
        l2 = np.maximum(dx * dx + dy * dy, np.float32(1e-6))
        px = np.broadcast_to(xs - ax, (k, y1 - y0, x1 - x0)).copy()
        py = ys - ay
        m = materials[mat]
        tex = None
        if m.amp:
            # limb-frame coordinates (px): along = (p·d)/|d|, across = (p×d)/|d|; a point capsule
            # (fist, head) has no axis, so it uses the image axes
            ln = np.sqrt(l2)
            short = ln < np.float32(1e-2)
            ux = np.where(short, np.float32(1.0), dx / ln)
            uy = np.where(short, np.float32(0.0), dy / ln)
            along = px * ux + py * uy
            across = px * uy - py * ux
            tex = m.amp * (
                np.float32(0.7) * np.sin(m.k * across + np.float32(m.phase))
                + np.float32(0.3) * np.sin(np.float32(0.6) * m.k * along)
            )
        hh = np.clip((px * dx + py * dy) / l2, 0.0, 1.0)
        px -= hh * dx
        py = py - hh * dy
        d = np.sqrt(px * px + py * py)
        # alpha = clip(0.5 + (r − d)/soft): a 1-px-wide soft edge
        alpha = np.clip((np.float32(r + 0.5 * _SOFT) - d) * np.float32(1.0 / _SOFT), 0.0, 1.0)
        reg = out[:, y0:y1, x0:x1]
        target = m.level + illum[y0:y1, x0:x1]
        if tex is not None:
            target = target + tex
        reg += alpha * (target - reg)
    return out


def _render_vbar(out: np.ndarray, top: np.ndarray, r: float, value, illum) -> None:
    """Blend a vertical bar of half-width ``r`` from ``top`` [K, 2] down past the image bottom.

    Separable (alpha = alpha_x(x) · alpha_y(y)), so it costs far less than a generic capsule.
    """
    k, h, w = out.shape
    pad = r + 2 * _SOFT
    x0 = max(int(math.floor(top[:, 0].min() - pad)), 0)
    x1 = min(int(math.ceil(top[:, 0].max() + pad)) + 1, w)
    y0 = max(int(math.floor(top[:, 1].min() - 2 * _SOFT)), 0)
    if x1 <= x0 or y0 >= h:
        return
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, h, dtype=np.float32)[None, :]
    cx = top[:, 0, None].astype(np.float32)
    ty = top[:, 1, None].astype(np.float32)
    inv = np.float32(1.0 / _SOFT)
    ax = np.clip((np.float32(r + 0.5 * _SOFT) - np.abs(xs - cx)) * inv, 0.0, 1.0)  # [K, bw]
    ay = np.clip((ys - ty) * inv + np.float32(0.5), 0.0, 1.0)  # [K, bh]
    alpha = ay[:, :, None] * ax[:, None, :]
    reg = out[:, y0:h, x0:x1]
    reg += alpha * ((value + illum[y0:h, x0:x1]) - reg)


def _render_times(caps, duration_us: int) -> np.ndarray:
    """Frame indices into the 1 kHz keypoint track (adaptive rate: ≤ ~1 px motion per frame)."""
    n = caps[0][0].shape[0]
    vmax = 0.0
    for a, b, _r, _m in caps:
        for q in (a, b):
            if n > 1 and q is not None:
                vmax = max(vmax, float(np.abs(np.diff(q, axis=0)).max()))
    stride = int(np.clip(math.floor(1.0 / max(vmax, 1e-9)), 1, 4))
    idx = np.arange(0, n, stride)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return idx


def _seq_rng(label: int, seed: int, stream: int) -> np.random.Generator:
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
    label = _check_label(label)
    seed = _check_seed(seed)
    if (
        isinstance(duration_us, bool)
        or not isinstance(duration_us, int | np.integer)
        or duration_us < 2000
    ):
        raise ValueError(f"duration_us must be an integer ≥ 2000 µs, got {duration_us!r}")
    if params is None:
        params = sample_params(label, _seq_rng(label, seed, 0))
    elif not isinstance(params, GestureParams):
        raise ValueError(f"params must be a GestureParams, got {type(params).__name__}")
    elif params.label != label:
        raise ValueError(f"params are for label {params.label}, not {label}")
    rng = _seq_rng(label, seed, 1)
    duration_us = int(duration_us)
    # Keypoint tracks at 1 kHz (cheap, [N] arrays), then frames at an adaptive sub-rate.
    t_ms = np.arange(0, duration_us, 1000, dtype=np.int64)
    if t_ms[-1] != duration_us - 1:
        t_ms = np.append(t_ms, duration_us - 1)
    caps = _skeleton(params, t_ms * 1e-6, rng)
    idx = _render_times(caps, duration_us)
    caps = [(a[idx], None if b is None else b[idx], r, m) for a, b, r, m in caps]
    frame_t = t_ms[idx]
    wall, illum = _background(params, rng)
    ref_level = math.log(params.bg_level)
    k = np.float32(2 * math.pi / params.texture_period)
    materials = {
        "shirt": _Material(
            np.float32(ref_level + params.shirt_contrast),
            np.float32(params.texture_amp),
            k,
            float(rng.uniform(0, 2 * np.pi)),
        ),
        # skin: finer, weaker texture (fingers, knuckles)
        "skin": _Material(
            np.float32(ref_level + params.skin_contrast),
            np.float32(0.6 * params.texture_amp),
            np.float32(1.5) * k,
            float(rng.uniform(0, 2 * np.pi)),
        ),
    }
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
        frames = _render_chunk(wall, illum, caps, materials, i0, i1)
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


def idle_noise(duration_us: int, rng: np.random.Generator, rate_hz: float = 0.2) -> np.ndarray:
    """Shot-noise events of a still scene over ``[0, duration_us)`` µs (``rate_hz`` per pixel)."""
    w, h = SENSOR_SIZE
    if duration_us <= 0:
        return empty_events()
    m = int(rng.poisson(rate_hz * w * h * duration_us * 1e-6))
    ev = np.empty(m, dtype=EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, duration_us, size=m))
    ev["x"] = rng.integers(0, w, size=m)
    ev["y"] = rng.integers(0, h, size=m)
    ev["p"] = rng.integers(0, 2, size=m)
    return ev


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
        self.seed = _check_seed(seed)
        _check_durations(duration_us, gap_us)
        self.duration_us = int(duration_us)
        self.gap_us = int(gap_us)
        if labels is not None:
            labels = tuple(_check_label(v) for v in labels)
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
            gap = idle_noise(self.gap_us, rng)
            ev["t"] += t0
            gap["t"] += t0 + self.duration_us
            yield Segment(np.concatenate([ev, gap]), label, t0)
            t0 += self.duration_us + self.gap_us
            i += 1


# ----------------------------------------------------------------------------- dataset
MANIFEST = "neuromoco_synth.json"


def _sample_seed(seed: int, round_: int, label: int) -> int:
    return int(
        np.random.default_rng([GENERATOR_VERSION, 0xDA7A, seed, round_, label]).integers(2**31)
    )


def dataset_plan(per_class: int, users: int = 10, test_fraction: float = 0.2) -> list[dict]:
    """Which recording file holds which rounds (one gesture of each class per round).

    Returns one dict per file: ``name`` (``userXX_<lighting>.aedat``), ``user``, ``lighting``,
    ``split`` (``"train"``/``"test"``, by user like the real dataset: the last users are test
    users) and ``rounds`` (round indices).
    """
    for name, v in (("per_class", per_class), ("users", users)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    n_files = min(per_class, users * len(LIGHTINGS))
    n_users = min(users, n_files)
    n_test = 0
    if test_fraction > 0:
        if n_users < 2:
            raise ValueError(
                f"a train/test split by user needs recordings of at least 2 users: per_class={per_class} "
                f"and users={users} give {n_users}; use per_class ≥ 2 and users ≥ 2, or test_fraction=0"
            )
        n_test = min(max(1, round(n_users * float(test_fraction))), n_users - 1)
    files = []
    for j in range(n_files):
        user = j % n_users + 1
        lighting = LIGHTINGS[j // n_users]
        files.append(
            {
                "name": f"user{user:02d}_{lighting}.aedat",
                "user": user,
                "lighting": lighting,
                "split": "test" if user > n_users - n_test else "train",
                "rounds": list(range(j, per_class, n_files)),
            }
        )
    return files


def write_dataset(
    out_dir: str | os.PathLike,
    per_class: int,
    seed: int = 0,
    users: int = 10,
    test_fraction: float = 0.2,
    duration_us: int = GESTURE_DURATION_US,
    gap_us: int = 500_000,
    progress: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Write a DVS128-Gesture-like dataset of ``per_class`` procedural samples per class.

    Layout (readable by :class:`neuromoco.data.dvs128_gesture.DVS128Gesture` and spikingjelly)::

        out_dir/DvsGesture/userXX_<lighting>.aedat         AEDAT 3.1, 128×128
        out_dir/DvsGesture/userXX_<lighting>_labels.csv    class,startTime_usec,endTime_usec (class 1-based)
        out_dir/DvsGesture/trials_to_train.txt              recordings of the train users
        out_dir/DvsGesture/trials_to_test.txt               recordings of the test users
        out_dir/neuromoco_synth.json                        manifest: version, arguments, every sample's seed
        out_dir/README.md

    Each recording plays one or more *rounds* (each class once, in a random order), every
    gesture ``duration_us`` long and separated by ``gap_us`` of idle noise (also before the
    first). Recordings are spread over ``users`` users and the 5 lighting names; the last
    ``test_fraction`` of the users form the test split. Every file is written atomically.
    ``progress(done, total, message)`` is called after each gesture. Returns ``out_dir``.
    """
    seed = _check_seed(seed)
    plan = dataset_plan(per_class, users, test_fraction)
    _check_durations(duration_us, gap_us)
    from neuromoco.events import write_events

    out = Path(out_dir)
    data_dir = out / "DvsGesture"
    data_dir.mkdir(parents=True, exist_ok=True)
    stale = _previous_files(out) - {f["name"] for f in plan}
    total = per_class * NUM_CLASSES
    done = 0
    samples = []
    for f in plan:
        parts = []
        rows = ["class,startTime_usec,endTime_usec"]
        order_rng = np.random.default_rng(
            [GENERATOR_VERSION, 0x0DE5, seed, f["user"], len(samples)]
        )
        t = 0
        for r in f["rounds"]:
            for label in order_rng.permutation(NUM_CLASSES):
                label = int(label)
                gap = idle_noise(gap_us, order_rng)
                gap["t"] += t
                parts.append(gap)
                t += gap_us
                s_seed = _sample_seed(seed, r, label)
                ev = generate_gesture(label, s_seed, int(duration_us))
                ev["t"] += t
                parts.append(ev)
                rows.append(f"{label + 1},{t},{t + duration_us}")
                samples.append(
                    {
                        "file": f["name"],
                        "label": label,
                        "class": CLASS_NAMES[label],
                        "seed": s_seed,
                        "start_us": t,
                        "end_us": t + int(duration_us),
                        "events": int(ev.size),
                    }
                )
                t += duration_us
                done += 1
                if progress is not None:
                    progress(done, total, f"{f['name']}: {CLASS_NAMES[label]}")
        tail = idle_noise(gap_us, order_rng)
        tail["t"] += t
        parts.append(tail)
        events = np.concatenate(parts)
        write_events(data_dir / f["name"], events, SENSOR_SIZE, format="aedat3")
        atomic_write_text(
            data_dir / (f["name"][: -len(".aedat")] + "_labels.csv"), "\n".join(rows) + "\n"
        )
    for split in ("train", "test"):
        names = [f["name"] for f in plan if f["split"] == split]
        atomic_write_text(data_dir / f"trials_to_{split}.txt", "".join(n + "\n" for n in names))
    manifest = {
        "generator": "neuromoco.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "per_class": per_class,
        "users": users,
        "test_fraction": test_fraction,
        "duration_us": int(duration_us),
        "gap_us": int(gap_us),
        "sensor_size": list(SENSOR_SIZE),
        "class_names": list(CLASS_NAMES),
        "files": [{k: v for k, v in f.items() if k != "rounds"} for f in plan],
        "samples": samples,
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    n_train = sum(
        1 for s in samples if next(f for f in plan if f["name"] == s["file"])["split"] == "train"
    )
    readme = f"""# Procedural DVS128-Gesture-like dataset (NeuroMoCo)

Generated by `neuromoco synth` (neuromoco.synth, generator version {GENERATOR_VERSION}) with
seed={seed}, per_class={per_class}, users={users}, test_fraction={test_fraction},
duration_us={duration_us}, gap_us={gap_us}: {len(samples)} samples
({n_train} train, {len(samples) - n_train} test) in {len(plan)} recordings.

This is **synthetic** data: a rendered person performing the 11 DVS128 Gesture classes, turned
into events by a DVS emulator. The same arguments and generator version reproduce it exactly;
`{MANIFEST}` lists every sample's file, label, seed and time range.

Layout: `DvsGesture/userXX_<lighting>.aedat` (AEDAT 3.1, 128x128) with
`userXX_<lighting>_labels.csv` (`class,startTime_usec,endTime_usec`, class 1-based) and
`trials_to_train.txt` / `trials_to_test.txt` (split by user), like the real DVS128 Gesture.
"""
    atomic_write_text(out / "README.md", readme)
    # Recordings of an earlier, larger dataset written here would otherwise linger beside the new
    # ones (the trial lists no longer name them, but a glob would still find them).
    for name in sorted(stale):
        for p in (data_dir / name, data_dir / (name[: -len(".aedat")] + "_labels.csv")):
            if p.is_file():
                p.unlink()
    return out


def _previous_files(out: Path) -> set[str]:
    """Recording names listed by an existing manifest in ``out`` (empty if none or unreadable)."""
    try:
        old = json.loads((out / MANIFEST).read_text())
        names = {str(f["name"]) for f in old.get("files", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()
    # Only plain recording names of our own pattern: never follow paths out of the folder.
    return {
        n
        for n in names
        if n.startswith("user") and n.endswith(".aedat") and "/" not in n and "\\" not in n
    }
