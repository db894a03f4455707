"""Body kinematics of a procedural gesture: where torso, head and arms are at each instant.

The person stands facing the camera; the arms perform the class's motion (arm circles: the nearly
straight arm turns around the shoulder; waves: the forearm pivots at the elbow), the idle arm rests
in one of four poses and fidgets. Positions are in pixels on the 128×128 sensor (x right, y down):
the subject's **right** arm is on the **left** half of the image. The result is a list of
capsules that :mod:`neuromoco.synth.render` draws.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from neuromoco.synth.params import GestureParams

Capsule = tuple[np.ndarray, np.ndarray | None, float, str]
"""``(a [N, 2], b [N, 2] or None, radius px, material)``: a segment from ``a`` to ``b`` thickened
by ``radius`` at each of N instants; ``b = None`` is a vertical bar from ``a`` down past the
image bottom (the torso). ``material`` names a surface (``"shirt"`` or ``"skin"``)."""

_RIGHT, _LEFT = (
    -1,
    1,
)  # image-x direction pointing away from the body for the subject's right/left arm


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


def skeleton(p: GestureParams, t: np.ndarray, rng: np.random.Generator) -> list[Capsule]:
    """The :data:`Capsule` list of the person at times ``t`` [N] (s), in drawing order.

    ``rng`` draws the sway phase and every free choice of the arm motion (same ``rng`` state,
    same capsules).
    """
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
