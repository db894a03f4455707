"""What one procedural gesture is made of: the constants every layer shares and the per-sample variation.

:class:`GestureParams` holds everything that varies between two samples of a class (sizes in
pixels, frequencies in Hz, angles in radians, contrasts in log-intensity units);
:func:`sample_params` draws it from a seed's generator. The distributions are set from
measurements of real DVS128 recordings (``python -m bench.real_stats``). The checks of labels,
seeds and durations live here too, so every layer (and the dataset writer) refuses a bad argument
with the same message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neuromoco.gesture_classes import DVS128_GESTURE_CLASSES as DVS128_CLASS_NAMES

GENERATOR_VERSION = 3
"""Bumped whenever the generated events for a given (label, seed) change."""

CLASS_NAMES = DVS128_CLASS_NAMES  # one definition: the real dataset's gesture_mapping.csv
SENSOR_SIZE = (128, 128)
"""(width, height) in pixels."""

NUM_CLASSES = len(CLASS_NAMES)
GESTURE_DURATION_US = 1_500_000
"""Default length of one procedural gesture (µs): about one repetition of the slower gestures."""
IDLE_NOISE_HZ = 0.2
"""Background activity of the still scene between two gestures (events/s per pixel)."""


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


def check_label(label) -> int:
    """``label`` as an int in ``0..NUM_CLASSES-1``, else ValueError naming the classes."""
    if isinstance(label, bool) or not isinstance(label, int | np.integer):
        raise ValueError(f"label must be an integer 0..{NUM_CLASSES - 1}, got {label!r}")
    if not 0 <= int(label) < NUM_CLASSES:
        raise ValueError(
            f"label must be in 0..{NUM_CLASSES - 1} ({', '.join(CLASS_NAMES)}), got {label}"
        )
    return int(label)


def check_duration(duration_us) -> int:
    """A gesture length of at least 2 ms (integer µs), else ValueError."""
    if (
        isinstance(duration_us, bool)
        or not isinstance(duration_us, int | np.integer)
        or duration_us < 2000
    ):
        raise ValueError(f"duration_us must be an integer ≥ 2000 µs, got {duration_us!r}")
    return int(duration_us)


def check_durations(duration_us, gap_us) -> None:
    """A gesture of at least 2 ms and a non-negative gap (both integer µs), else ValueError."""
    check_duration(duration_us)
    if isinstance(gap_us, bool) or not isinstance(gap_us, int | np.integer) or gap_us < 0:
        raise ValueError(f"gap_us must be a non-negative integer (µs), got {gap_us!r}")


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as a non-negative int, else ValueError naming the argument ``name``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


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
    label = check_label(label)
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
