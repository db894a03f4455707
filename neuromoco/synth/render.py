"""The renderer of procedural gestures: capsules on a textured, unevenly lit wall, as log-intensity frames.

Frames are drawn directly in log intensity (the quantity a DVS pixel compares), float32
``[frames, H, W]`` on the 128×128 sensor. The wall carries a coarse plaster/poster texture and an
illumination gradient that lights the person too; clothes and skin carry a fine texture that
moves with each limb (:class:`Material`), so a pixel swept by a limb fires ON/OFF alternately a
few ms apart, as in real recordings. Edges are soft (``_SOFT`` px: optics blur and
anti-aliasing). :func:`frame_indices` picks the frame times so that nothing moves more than ~1 px
between two frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from neuromoco.synth.kinematics import Capsule
from neuromoco.synth.params import SENSOR_SIZE, GestureParams

_SOFT = 1.1  # edge softness (px): optics blur + anti-aliasing


def background(p: GestureParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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


class Material(NamedTuple):
    """Log intensity of a surface plus a fine texture that moves with the limb that wears it."""

    level: np.float32  # log intensity relative to nothing (absolute), before lighting
    amp: np.float32  # texture contrast (log units)
    k: np.float32  # texture wave number (radians per px)
    phase: float


def materials(p: GestureParams, rng: np.random.Generator) -> dict[str, Material]:
    """The two surfaces of the person: ``"shirt"`` and ``"skin"`` (finer, weaker texture: fingers,
    knuckles), their levels relative to the wall's mean; ``rng`` draws each texture's phase."""
    ref_level = math.log(p.bg_level)
    k = np.float32(2 * math.pi / p.texture_period)
    return {
        "shirt": Material(
            np.float32(ref_level + p.shirt_contrast),
            np.float32(p.texture_amp),
            k,
            float(rng.uniform(0, 2 * np.pi)),
        ),
        "skin": Material(
            np.float32(ref_level + p.skin_contrast),
            np.float32(0.6 * p.texture_amp),
            np.float32(1.5) * k,
            float(rng.uniform(0, 2 * np.pi)),
        ),
    }


def render_chunk(
    wall: np.ndarray,
    illum: np.ndarray,
    caps: Sequence[Capsule],
    materials: dict[str, Material],
    i0: int,
    i1: int,
) -> np.ndarray:
    """Log-intensity frames ``[i1 - i0, H, W]`` (float32) of frames ``i0..i1-1``.

    ``materials`` maps a capsule's material name to a :class:`Material`. The texture is a
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


def frame_indices(caps: Sequence[Capsule]) -> np.ndarray:
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
