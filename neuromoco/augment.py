"""Geometric augmentation of event frames: ``[T, C, H, W]`` clips or ``[N, T, C, H, W]`` batches.

Only geometric transforms: NDA (Li et al., ECCV 2022) showed that pixel-value augmentations
(brightness, contrast, ...) are meaningless for event counts. Every random transform is drawn
**once per sample** and applied identically to all ``T`` time steps (and both polarity channels),
so the motion inside a clip stays coherent; in a batch each sample gets its own draw.

Implementation: every spatial op is an integer *index map*. For each output pixel we compute the
source pixel with an inverse 2×3 affine matrix, round to the nearest pixel (``⌊v + ½⌋``, i.e.
nearest interpolation, no blending of counts) and gather; pixels that map outside the image are 0
(or wrap around, for :func:`roll`). Flip + one op compose into a single matrix, so a whole batch with
a different op per sample costs one ``gather``. Works on any device and dtype; parameters are
drawn on the CPU from an optional ``torch.Generator`` so results are identical on CPU and GPU and
reproducible under a seed. Pixel coordinates: ``x`` = column (0..W−1), ``y`` = row (0..H−1), the
centre of rotation/shear is ``((W−1)/2, (H−1)/2)``.

Pure functions (explicit per-sample parameters): :func:`hflip`, :func:`translate`, :func:`roll`,
:func:`rotate`, :func:`shear_x`, :func:`shear_y`, :func:`cutout`, :func:`resize`,
:func:`resized_crop`, :func:`warp`. Frozen-dataclass transforms that draw parameters and call them:
:class:`HFlip`, :class:`Translate`, :class:`Roll`, :class:`Rotate`, :class:`ShearX`,
:class:`ShearY`, :class:`Cutout`, :class:`Resize`, :class:`RandomResizedCrop`, :class:`Compose`,
:class:`DVSAugment` (the Spikformer-style policy) and :class:`TwoViews` (MoCo / STCL pairs).
:func:`make_policy` builds the named presets used by the recipes.

Every transform is called as ``t(x, generator=None)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = [
    "POLICIES",
    "Compose",
    "Cutout",
    "DVSAugment",
    "HFlip",
    "RandomResizedCrop",
    "Resize",
    "Roll",
    "Rotate",
    "ShearX",
    "ShearY",
    "Translate",
    "RandomPolarity",
    "TwoViews",
    "cutout",
    "hflip",
    "make_policy",
    "resize",
    "resized_crop",
    "roll",
    "rotate",
    "shear_x",
    "shear_y",
    "translate",
    "warp",
]


# --------------------------------------------------------------------------------------------
# shapes and parameters


def _as_batch(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``[T, C, H, W]`` → ``([1, T, C, H, W], True)``; ``[N, T, C, H, W]`` → ``(x, False)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"augment expects a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 4:
        return x.unsqueeze(0), True
    if x.ndim == 5:
        return x, False
    raise ValueError(
        f"augment expects a clip [T, C, H, W] or a batch [N, T, C, H, W], got shape {tuple(x.shape)}"
    )


def _unbatch(x: torch.Tensor, squeeze: bool) -> torch.Tensor:
    return x.squeeze(0) if squeeze else x


def _per_sample(v, n: int, name: str) -> torch.Tensor:
    """A scalar or a length-``n`` sequence/tensor → float64 CPU tensor ``[n]``."""
    t = torch.as_tensor(v, dtype=torch.float64).detach().cpu()
    if t.ndim == 0:
        return t.expand(n).clone()
    if t.shape != (n,):
        raise ValueError(
            f"{name} must be a scalar or have one value per sample ({n}), got {tuple(t.shape)}"
        )
    return t


def _g(generator: torch.Generator | None) -> torch.Generator | None:
    """Parameters are drawn on the CPU (identical results on every device): a CPU generator."""
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(
                f"generator must be a CPU torch.Generator (parameters are drawn on the CPU so that "
                f"CPU and GPU runs agree), got one on {generator.device}; use neuromoco.augment.seeded(seed)"
            )
    return generator


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def _sign(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=generator).to(torch.float64) * 2 - 1


def _binned(n: int, magnitude: float, bins: int, generator: torch.Generator | None) -> torch.Tensor:
    """Spikformer's magnitude draw: a value of ``linspace(-m, m, bins)``, then a random sign."""
    if bins <= 1:
        mag = torch.full((n,), float(magnitude), dtype=torch.float64)
    else:
        grid = torch.linspace(-float(magnitude), float(magnitude), bins, dtype=torch.float64)
        mag = grid[torch.randint(0, bins, (n,), generator=generator)]
    return mag * _sign(n, generator)


# --------------------------------------------------------------------------------------------
# 3×3 homogeneous matrices mapping OUTPUT pixel coordinates → SOURCE pixel coordinates


def _eye(n: int) -> torch.Tensor:
    return torch.eye(3, dtype=torch.float64).expand(n, 3, 3).clone()


def _centered(m: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """Conjugate a linear map by the translation to the image centre: C · m · C⁻¹."""
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    c = _eye(1)[0]
    c[0, 2], c[1, 2] = cx, cy
    ci = _eye(1)[0]
    ci[0, 2], ci[1, 2] = -cx, -cy
    return c @ m @ ci


def _flip_inv(mask: torch.Tensor, w: int) -> torch.Tensor:
    m = _eye(mask.shape[0])
    f = mask.to(torch.bool)
    m[f, 0, 0] = -1.0
    m[f, 0, 2] = w - 1.0
    return m


def _translate_inv(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    m = _eye(dx.shape[0])
    m[:, 0, 2] = -dx
    m[:, 1, 2] = -dy
    return m


def _rotate_inv(deg: torch.Tensor, w: int, h: int) -> torch.Tensor:
    # Output pixel p came from R(−θ)·p (about the centre). Positive angles turn the content
    # counter-clockwise as displayed (y axis pointing down), like torchvision's rotate.
    a = torch.deg2rad(deg)
    m = _eye(deg.shape[0])
    m[:, 0, 0] = torch.cos(a)
    m[:, 0, 1] = -torch.sin(a)
    m[:, 1, 0] = torch.sin(a)
    m[:, 1, 1] = torch.cos(a)
    return _centered(m, w, h)


def _shear_inv(factor: torch.Tensor, w: int, h: int, axis: str) -> torch.Tensor:
    # Forward shear x' = x + s·y (ShearX) or y' = y + s·x (ShearY); the inverse uses −s.
    m = _eye(factor.shape[0])
    if axis == "x":
        m[:, 0, 1] = -factor
    else:
        m[:, 1, 0] = -factor
    return _centered(m, w, h)


# --------------------------------------------------------------------------------------------
# the one gather


def warp(
    x: torch.Tensor,
    inv: torch.Tensor,
    out_size: tuple[int, int] | None = None,
    wrap: torch.Tensor | bool = False,
) -> torch.Tensor:
    """Resample every sample of ``x`` through its inverse affine map with nearest interpolation.

    Args:
        x: ``[T, C, H, W]`` or ``[N, T, C, H, W]`` frames, any dtype/device.
        inv: ``[N, 3, 3]`` or ``[N, 2, 3]`` (or ``[2|3, 3]`` for a clip) maps from output pixel
            coordinates ``(x, y, 1)`` to source pixel coordinates.
        out_size: output ``(width, height)``; default the input size.
        wrap: per-sample bool ``[N]`` (or one bool): source coordinates wrap around (``roll``)
            instead of reading zeros outside the image.

    Returns:
        Tensor shaped like ``x`` (with ``out_size``), same dtype and device.
    """
    xb, squeeze = _as_batch(x)
    n, t, c, h, w = xb.shape
    inv = torch.as_tensor(inv, dtype=torch.float64).cpu()
    if inv.ndim == 2:
        inv = inv.unsqueeze(0)
    if inv.shape[0] != n or inv.shape[1:] not in ((2, 3), (3, 3)):
        raise ValueError(f"inv must have shape [{n}, 2|3, 3], got {tuple(inv.shape)}")
    wo, ho = (w, h) if out_size is None else (int(out_size[0]), int(out_size[1]))
    if wo <= 0 or ho <= 0:
        raise ValueError(f"out_size must be positive (width, height), got {out_size}")
    wrap_t = _per_sample(wrap, n, "wrap").to(torch.bool)
    dev = xb.device
    # Index arithmetic in float64: exact for integer shifts/flips, and device-independent.
    mat = inv[:, :2, :].to(dev)
    ys, xs = torch.meshgrid(
        torch.arange(ho, dtype=torch.float64, device=dev),
        torch.arange(wo, dtype=torch.float64, device=dev),
        indexing="ij",
    )
    grid = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)])  # [3, P]
    src = mat @ grid  # [N, 2, P]
    sx = torch.floor(src[:, 0] + 0.5).long()
    sy = torch.floor(src[:, 1] + 0.5).long()
    wr = wrap_t.to(dev).unsqueeze(1)
    sx = torch.where(wr, sx.remainder(w), sx)
    sy = torch.where(wr, sy.remainder(h), sy)
    valid = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    idx = torch.where(valid, sy * w + sx, torch.zeros_like(sx))
    flat = xb.reshape(n, t * c, h * w)
    out = torch.gather(flat, 2, idx.unsqueeze(1).expand(n, t * c, ho * wo))
    if not bool(valid.all()):
        # pixels that map outside the image read 0 (in place: no padded copy of the input)
        out.masked_fill_(~valid.unsqueeze(1), 0)
    return _unbatch(out.reshape(n, t, c, ho, wo), squeeze)


# --------------------------------------------------------------------------------------------
# pure functions with explicit parameters (a scalar, or one value per sample)


def _n(x: torch.Tensor) -> int:
    return _as_batch(x)[0].shape[0]


def hflip(x: torch.Tensor, mask=True) -> torch.Tensor:
    """Mirror left↔right the samples where ``mask`` is true (all time steps alike)."""
    xb, squeeze = _as_batch(x)
    m = _per_sample(mask, xb.shape[0], "mask").to(torch.bool).to(xb.device)
    out = torch.where(m.view(-1, 1, 1, 1, 1), xb.flip(-1), xb)
    return _unbatch(out, squeeze)


def translate(x: torch.Tensor, dx, dy) -> torch.Tensor:
    """Shift content by ``(dx, dy)`` pixels (rounded to the nearest pixel); vacated pixels are 0."""
    n = _n(x)
    return warp(x, _translate_inv(_per_sample(dx, n, "dx"), _per_sample(dy, n, "dy")))


def roll(x: torch.Tensor, dx, dy) -> torch.Tensor:
    """Circularly shift content by ``(dx, dy)`` pixels (NDA's ``roll``): nothing is lost."""
    n = _n(x)
    inv = _translate_inv(_per_sample(dx, n, "dx"), _per_sample(dy, n, "dy"))
    return warp(x, inv, wrap=True)


def rotate(x: torch.Tensor, degrees) -> torch.Tensor:
    """Rotate content about the image centre by ``degrees`` (positive = counter-clockwise)."""
    xb, _ = _as_batch(x)
    n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
    return warp(x, _rotate_inv(_per_sample(degrees, n, "degrees"), w, h))


def shear_x(x: torch.Tensor, factor) -> torch.Tensor:
    """Horizontal shear ``x' = x + factor·(y − cy)`` (factor = tan of the shear angle)."""
    xb, _ = _as_batch(x)
    n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
    return warp(x, _shear_inv(_per_sample(factor, n, "factor"), w, h, "x"))


def shear_y(x: torch.Tensor, factor) -> torch.Tensor:
    """Vertical shear ``y' = y + factor·(x − cx)`` (factor = tan of the shear angle)."""
    xb, _ = _as_batch(x)
    n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
    return warp(x, _shear_inv(_per_sample(factor, n, "factor"), w, h, "y"))


def cutout(x: torch.Tensor, boxes) -> torch.Tensor:
    """Zero the box ``(x0, y0, width, height)`` (pixels) of each sample, in every time step.

    ``boxes``: ``[4]`` or ``[N, 4]``; a box of width or height 0 leaves the sample unchanged.
    """
    xb, squeeze = _as_batch(x)
    n, _, _, h, w = xb.shape
    b = torch.as_tensor(boxes, dtype=torch.long).cpu()
    if b.shape == (4,):
        b = b.expand(n, 4)
    if b.shape != (n, 4):
        raise ValueError(f"boxes must have shape [4] or [{n}, 4], got {tuple(b.shape)}")
    dev = xb.device
    b = b.to(dev)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    x0, y0 = b[:, 0].view(n, 1, 1), b[:, 1].view(n, 1, 1)
    x1, y1 = x0 + b[:, 2].view(n, 1, 1), y0 + b[:, 3].view(n, 1, 1)
    inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)  # [N, H, W]
    out = xb.masked_fill(inside.view(n, 1, 1, h, w), 0)
    return _unbatch(out, squeeze)


def _crop_inv(boxes: torch.Tensor, wo: int, ho: int) -> torch.Tensor:
    # Output pixel (xo, yo) reads source x0 + ⌊(xo + ½)·bw / wo⌋ (nearest, pixel-centre aligned).
    n = boxes.shape[0]
    sx = boxes[:, 2] / wo
    sy = boxes[:, 3] / ho
    m = _eye(n)
    m[:, 0, 0] = sx
    m[:, 1, 1] = sy
    m[:, 0, 2] = boxes[:, 0] + 0.5 * sx - 0.5
    m[:, 1, 2] = boxes[:, 1] + 0.5 * sy - 0.5
    return m


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize to ``size`` = ``(width, height)``.

    For event counts prefer resizing on event coordinates (``FramingSpec.size``): downscaling
    frames with nearest drops the counts of skipped pixels, event-coordinate resizing sums them.
    """
    xb, _ = _as_batch(x)
    n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
    boxes = torch.tensor([[0.0, 0.0, float(w), float(h)]], dtype=torch.float64).expand(n, 4)
    return warp(x, _crop_inv(boxes, int(size[0]), int(size[1])), out_size=size)


def resized_crop(x: torch.Tensor, boxes, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Crop ``(x0, y0, width, height)`` per sample and resize it (nearest) to ``size`` (W, H)."""
    xb, _ = _as_batch(x)
    n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
    b = torch.as_tensor(boxes, dtype=torch.float64).cpu()
    if b.shape == (4,):
        b = b.expand(n, 4)
    if b.shape != (n, 4):
        raise ValueError(f"boxes must have shape [4] or [{n}, 4], got {tuple(b.shape)}")
    wo, ho = (w, h) if size is None else (int(size[0]), int(size[1]))
    return warp(x, _crop_inv(b, wo, ho), out_size=(wo, ho))


# --------------------------------------------------------------------------------------------
# random transforms (frozen dataclasses: parameters only; the draw happens in __call__)


def _check_p(p: float, name: str = "p") -> None:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p}")


def _check_nonneg(v: float, name: str) -> None:
    if float(v) < 0:
        raise ValueError(f"{name} must be ≥ 0, got {v}")


@dataclass(frozen=True)
class HFlip:
    """Horizontal flip with probability ``p`` per sample."""

    p: float = 0.5

    def __post_init__(self):
        _check_p(self.p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        n = _n(x)
        return hflip(x, torch.rand(n, generator=generator) < self.p)


@dataclass(frozen=True)
class Translate:
    """Shift by integers drawn uniformly from ``[−max_dx, max_dx] × [−max_dy, max_dy]`` pixels; zero fill."""

    max_dx: int = 5
    max_dy: int = 5

    def __post_init__(self):
        _check_nonneg(self.max_dx, "max_dx")
        _check_nonneg(self.max_dy, "max_dy")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        n = _n(x)
        dx = torch.randint(-int(self.max_dx), int(self.max_dx) + 1, (n,), generator=generator)
        dy = torch.randint(-int(self.max_dy), int(self.max_dy) + 1, (n,), generator=generator)
        return translate(x, dx, dy)


@dataclass(frozen=True)
class Roll:
    """NDA's roll: circular shift by integers in ``[−max_shift, max_shift]`` on both axes."""

    max_shift: int = 5

    def __post_init__(self):
        _check_nonneg(self.max_shift, "max_shift")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        n = _n(x)
        m = int(self.max_shift)
        dx = torch.randint(-m, m + 1, (n,), generator=generator)
        dy = torch.randint(-m, m + 1, (n,), generator=generator)
        return roll(x, dx, dy)


@dataclass(frozen=True)
class Rotate:
    """Rotation by an angle drawn uniformly from ``[−degrees, degrees]``."""

    degrees: float = 30.0

    def __post_init__(self):
        _check_nonneg(self.degrees, "degrees")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        d = float(self.degrees)
        return rotate(x, _uniform(_n(x), -d, d, generator))


@dataclass(frozen=True)
class _Shear:
    """Shear by an angle drawn uniformly from ``[−angle, angle]`` radians (see subclasses)."""

    angle: float = 0.3

    def __post_init__(self):
        _check_nonneg(self.angle, "angle")
        if self.angle >= math.pi / 2:
            raise ValueError(f"shear angle must be < π/2 rad, got {self.angle}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        a = float(self.angle)
        return self._shear(x, torch.tan(_uniform(_n(x), -a, a, generator)))


@dataclass(frozen=True)
class ShearX(_Shear):
    """Horizontal shear by an angle drawn uniformly from ``[−angle, angle]`` radians."""

    _shear = staticmethod(shear_x)


@dataclass(frozen=True)
class ShearY(_Shear):
    """Vertical shear by an angle drawn uniformly from ``[−angle, angle]`` radians."""

    _shear = staticmethod(shear_y)


def _cutout_boxes(
    n: int, w: int, h: int, scale: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    # torchvision RandomErasing(scale, ratio=(1, 1)) as Spikformer uses it: a square whose area is a
    # fraction U(scale) of the image, placed uniformly so that it fits.
    area = _uniform(n, scale[0], scale[1], generator) * (w * h)
    side = torch.sqrt(area).round().long().clamp(1, min(w, h))
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    x0 = (u[:, 0] * (w - side + 1).to(torch.float64)).long()
    y0 = (u[:, 1] * (h - side + 1).to(torch.float64)).long()
    return torch.stack([x0, y0, side, side], dim=1)


@dataclass(frozen=True)
class Cutout:
    """Zero one square covering a fraction ``U(scale)`` of the image (Spikformer: RandomErasing)."""

    scale: tuple[float, float] = (0.001, 0.11)

    def __post_init__(self):
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"cutout scale must satisfy 0 < lo ≤ hi ≤ 1, got {self.scale}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        xb, _ = _as_batch(x)
        n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
        return cutout(x, _cutout_boxes(n, w, h, self.scale, generator))


@dataclass(frozen=True)
class Resize:
    """Deterministic nearest resize to ``size`` = ``(width, height)`` (see :func:`resize`)."""

    size: tuple[int, int] = (128, 128)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        return resize(x, self.size)


@dataclass(frozen=True)
class RandomResizedCrop:
    """Crop a random box (area fraction ``U(scale)``, aspect ``logU(ratio)``) and resize it (nearest).

    ``size`` = output ``(width, height)``, default the input size. ``scale`` default (0.35, 1) is our
    choice (torchvision's (0.08, 1) throws away most of a sparse event clip); no DVS paper fixes it.
    """

    size: tuple[int, int] | None = None
    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __post_init__(self):
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < lo ≤ hi ≤ 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"ratio must satisfy 0 < lo ≤ hi, got {self.ratio}")

    def boxes(
        self, n: int, w: int, h: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``[n, 4]`` boxes ``(x0, y0, bw, bh)`` in pixels (float64), each inside the image."""
        area = _uniform(n, self.scale[0], self.scale[1], generator) * (w * h)
        logr = _uniform(n, math.log(self.ratio[0]), math.log(self.ratio[1]), generator)
        r = torch.exp(logr)
        bw = torch.sqrt(area * r).round().clamp(1, w)
        bh = torch.sqrt(area / r).round().clamp(1, h)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        x0 = torch.floor(u[:, 0] * (w - bw + 1))
        y0 = torch.floor(u[:, 1] * (h - bh + 1))
        return torch.stack([x0, y0, bw, bh], dim=1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        xb, _ = _as_batch(x)
        n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
        return resized_crop(x, self.boxes(n, w, h, generator), self.size)


@dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order, passing the same generator along."""

    transforms: tuple = ()

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        for t in self.transforms:
            x = t(x, generator=generator)
        return x


# --------------------------------------------------------------------------------------------
# the policy

OPS = ("identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "cutout", "roll")


@dataclass(frozen=True)
class DVSAugment:
    """Spikformer-style DVS policy: h-flip with ``flip_p``, then ONE op picked uniformly from ``ops``.

    Magnitudes follow Spikformer's ``SNNAugmentWide`` (ZK-Zhou/spikformer, cifar10dvs/autoaugment.py):
    a value drawn from ``linspace(−m, m, num_bins)`` (31 bins) times a random sign. Defaults:

    ============  =================  ======================================================
    op            default magnitude  source
    ============  =================  ======================================================
    shear_x       0.3 rad            Spikformer cifar10dvs (``F.affine(shear=degrees(m))``)
    shear_y       0.3 rad            added by NeuroMoCo §4.1.2 ("vertical shear"), Spikformer's m
    translate_x/y 5 px (integer)     Spikformer cifar10dvs
    rotate        30°                Spikformer cifar10dvs; NDA CIFAR10-DVS (15° N-Caltech101)
    cutout        area 0.001–0.11    Spikformer: ``RandomErasing(scale=(0.001, 0.11), ratio=1)``
    roll          5 px (integer)     NDA CIFAR10-DVS (3 px N-Caltech101); not in the default ops
    flip_p        0.5                Spikformer train transform; NeuroMoCo §4.1.2
    ============  =================  ======================================================

    The default ``ops`` are the NeuroMoCo paper's: Spikformer's {identity, ShearX, TranslateX/Y,
    Rotate, Cutout} plus ShearY (and the flip). Geometric ops use zero fill and nearest interpolation.
    Every sample of a batch draws its own flip, op, magnitude and sign; all its time steps share them.
    """

    ops: tuple[str, ...] = (
        "identity",
        "shear_x",
        "shear_y",
        "translate_x",
        "translate_y",
        "rotate",
        "cutout",
    )
    flip_p: float = 0.5
    shear: float = 0.3
    translate: float = 5.0
    rotate: float = 30.0
    roll: float = 5.0
    cutout_scale: tuple[float, float] = (0.001, 0.11)
    num_bins: int = 31

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        if not self.ops:
            raise ValueError("DVSAugment needs at least one op (use 'identity' for none)")
        bad = [o for o in self.ops if o not in OPS]
        if bad:
            raise ValueError(f"unknown augmentation op(s) {bad}; known: {list(OPS)}")
        _check_p(self.flip_p, "flip_p")
        for name in ("shear", "translate", "rotate", "roll"):
            _check_nonneg(getattr(self, name), name)
        if self.shear >= math.pi / 2:
            raise ValueError(f"shear must be < π/2 rad, got {self.shear}")
        Cutout(tuple(self.cutout_scale))  # validates
        if int(self.num_bins) < 1:
            raise ValueError(f"num_bins must be ≥ 1, got {self.num_bins}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        xb, squeeze = _as_batch(x)
        n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
        g = generator
        flip = torch.rand(n, generator=g) < self.flip_p
        op = torch.randint(0, len(self.ops), (n,), generator=g)
        names = [self.ops[i] for i in op.tolist()]
        inv = _eye(n)
        wrap = torch.zeros(n, dtype=torch.bool)
        boxes = torch.zeros(n, 4, dtype=torch.long)
        b = self.num_bins
        # the ops in order of first use: a set's order follows the per-process string hash
        # (PYTHONHASHSEED), which made the draws from ``g`` differ from run to run
        for name in dict.fromkeys(names):
            sel = torch.tensor([nm == name for nm in names])
            k = int(sel.sum())
            if name == "identity":
                continue
            if name == "shear_x":
                inv[sel] = _shear_inv(torch.tan(_binned(k, self.shear, b, g)), w, h, "x")
            elif name == "shear_y":
                inv[sel] = _shear_inv(torch.tan(_binned(k, self.shear, b, g)), w, h, "y")
            elif name == "translate_x":
                d = torch.trunc(_binned(k, self.translate, b, g))  # int(m) as Spikformer
                inv[sel] = _translate_inv(d, torch.zeros(k, dtype=torch.float64))
            elif name == "translate_y":
                d = torch.trunc(_binned(k, self.translate, b, g))
                inv[sel] = _translate_inv(torch.zeros(k, dtype=torch.float64), d)
            elif name == "rotate":
                inv[sel] = _rotate_inv(_binned(k, self.rotate, b, g), w, h)
            elif name == "roll":
                m = int(self.roll)
                d = torch.randint(-m, m + 1, (k, 2), generator=g).to(torch.float64)
                inv[sel] = _translate_inv(d[:, 0], d[:, 1])
                wrap[sel] = True
            elif name == "cutout":
                boxes[sel] = _cutout_boxes(k, w, h, tuple(self.cutout_scale), g)
        # out = op(flip(x)) → source = flip⁻¹(op⁻¹(p)); one gather for the whole batch.
        total = _flip_inv(flip, w) @ inv
        out = warp(xb, total, wrap=wrap)
        if bool((boxes[:, 2] > 0).any()):
            out = cutout(out, boxes)
        return _unbatch(out, squeeze)


@dataclass(frozen=True)
class RandomPlacement:
    """With probability ``p`` per sample, place the scene elsewhere and smaller: scale it by
    ``s ~ U(scale)`` about the centre, then shift it by integers drawn uniformly from
    ``[−translate, translate]`` on both axes (zero fill, nearest). A person standing off centre or
    farther from the camera: ±5 px at 32×32 is ±20 px on a 128×128 sensor, ``scale`` 0.7 a
    subject at 1/0.7 of the distance. All time steps of a sample share the draw.
    """

    p: float = 0.5
    translate: int = 5
    scale: tuple[float, float] = (0.7, 1.0)

    def __post_init__(self):
        _check_p(self.p)
        _check_nonneg(self.translate, "translate")
        lo, hi = (float(v) for v in self.scale)
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (lo, hi) with 0 < lo ≤ hi, got {self.scale}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        xb, squeeze = _as_batch(x)
        n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
        sel = torch.rand(n, generator=generator) < self.p
        s = _uniform(n, float(self.scale[0]), float(self.scale[1]), generator).to(torch.float64)
        m = int(self.translate)
        d = torch.randint(-m, m + 1, (n, 2), generator=generator).to(torch.float64)
        if not bool(sel.any()):
            return x
        zoom = _eye(n)
        zoom[:, 0, 0] = 1.0 / s
        zoom[:, 1, 1] = 1.0 / s
        # out = C + s·(src − C) + d  →  src = C + (out − d − C) / s
        inv = _centered(zoom, w, h) @ _translate_inv(d[:, 0], d[:, 1])
        inv[~sel] = _eye(int((~sel).sum()))
        return _unbatch(warp(xb, inv), squeeze)


@dataclass(frozen=True)
class RandomPolarity:
    """With probability ``p`` per sample, forget the polarity: re-deal each pixel's events.

    The ``n = ON + OFF`` events of each pixel and time step of frames ``[.., T, 2, H, W]`` are
    re-split as ``ON ~ Binomial(n, 0.5)``, ``OFF = n − ON``: what a text file without polarity
    gives through the reader's ``hash`` policy (a pseudo-random polarity per event, ~50 % ON).
    A model trained with it sees both real polarity and "no polarity" inputs. Counts must be
    non-negative integers (the per-polarity count frames); other samples pass unchanged.
    """

    p: float = 0.5

    def __post_init__(self):
        _check_p(self.p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        generator = _g(generator)
        xb, squeeze = _as_batch(x)
        if xb.shape[-3] != 2:
            raise ValueError(
                f"RandomPolarity needs 2 polarity channels [.., 2, H, W], got {tuple(x.shape)}"
            )
        sel = torch.rand(xb.shape[0], generator=generator) < self.p
        if not bool(sel.any()):
            return x
        out = xb.clone()
        n = xb[sel].sum(-3).to(torch.float32)  # [k, T, H, W]
        on = torch.binomial(n, torch.full_like(n, 0.5), generator=generator)
        out[sel] = torch.stack([n - on, on], dim=-3).to(xb.dtype)  # channel 0 = OFF, 1 = ON
        return _unbatch(out, squeeze)


@dataclass(frozen=True)
class TwoViews:
    """Two independent draws of ``transform`` on one sample (or batch): ``(x_q, x_k)`` for MoCo/STCL."""

    transform: Callable = field(default_factory=DVSAugment)

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(x, generator=generator), self.transform(x, generator=generator)


def _nda(roll: int, degrees: float, shear_deg: float) -> DVSAugment:
    # NDA (Li et al. 2022, code): one of {roll, rotate, shear}, no flip; RandomAffine shear is in
    # degrees and drawn uniformly — 1001 magnitude bins approximate that continuous draw.
    return DVSAugment(
        ops=("roll", "rotate", "shear_x"),
        flip_p=0.0,
        roll=roll,
        rotate=degrees,
        shear=math.radians(shear_deg),
        num_bins=1001,
    )


POLICIES: dict[str, Callable[[], Callable]] = {
    "none": lambda: Compose(()),
    "flip": lambda: HFlip(0.5),
    "neuromoco": DVSAugment,
    # Gestures: a mirror image swaps the class (right ↔ left hand wave; a mirrored clockwise
    # circle turns counter-clockwise), so the flip is label noise for finetuning and teaches
    # pretraining to ignore exactly the cues that separate those classes.
    "neuromoco_gesture": lambda: DVSAugment(flip_p=0.0),
    # the same plus polarity forgotten on half of the samples (RandomPolarity): for models that
    # must also read event files without polarity (the labelled DVS128 Gesture CSV clips)
    "neuromoco_gesture_polarity": lambda: Compose((DVSAugment(flip_p=0.0), RandomPolarity(0.5))),
    # the same plus a person off centre or farther away on half of the samples (RandomPlacement):
    # for live use, where nobody stands where the training clips were centred
    "neuromoco_gesture_live": lambda: Compose(
        (DVSAugment(flip_p=0.0), RandomPlacement(0.5), RandomPolarity(0.5))
    ),
    # farther away only (0.7–1.0× about the centre, no shift): a smaller subject keeps its arms
    # on their sides of the frame, the cue that tells a left arm from a right one
    "neuromoco_gesture_far": lambda: Compose(
        (DVSAugment(flip_p=0.0), RandomPlacement(0.5, translate=0), RandomPolarity(0.5))
    ),
    "spikformer": lambda: DVSAugment(
        ops=("identity", "shear_x", "translate_x", "translate_y", "rotate", "cutout")
    ),
    "nda_cifar10_dvs": lambda: _nda(5, 30.0, 30.0),
    "nda_ncaltech101": lambda: _nda(3, 15.0, 15.0),
}
"""Named presets: ``neuromoco`` (paper §4.1.2 = Spikformer + ShearY + flip, the default),
``neuromoco_gesture`` (the same without the flip, for DVS128 Gesture and the procedural gestures,
where a horizontal flip changes the label — a deliberate deviation from the paper),
``spikformer`` (cifar10dvs code: flip is done by the caller there; here it is included at 0.5),
``nda_cifar10_dvs`` / ``nda_ncaltech101`` (NDA's one-of {roll, rotate, shear}), ``flip``, ``none``."""


def make_policy(name: str = "neuromoco", **overrides) -> Callable:
    """Build a named augmentation preset (see :data:`POLICIES`); ``overrides`` replace DVSAugment fields."""
    if name not in POLICIES:
        raise ValueError(f"unknown augmentation policy {name!r}; known: {sorted(POLICIES)}")
    t = POLICIES[name]()
    if overrides:
        if not isinstance(t, DVSAugment):
            raise ValueError(f"policy {name!r} takes no parameters, got {sorted(overrides)}")
        fields = set(DVSAugment.__dataclass_fields__)
        unknown = set(overrides) - fields
        if unknown:
            raise ValueError(
                f"unknown DVSAugment parameter(s) {sorted(unknown)}; known: {sorted(fields)}"
            )
        from dataclasses import replace

        t = replace(t, **overrides)
    return t


def seeded(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (pass it as ``generator=`` for reproducibility)."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g
