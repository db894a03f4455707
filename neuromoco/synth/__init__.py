"""Procedural DVS128-Gesture-like event streams: the embedded default data of NeuroMoCo.

A person (torso, neck, head, upper arms, forearms and fists as soft-edged capsules) stands in
front of a textured, unevenly lit wall; the arms perform one of the 11 DVS128 Gesture classes.
Clothes and skin carry a fine texture that moves with each limb; the sensor has hot pixels. Sizes,
positions, speeds and rates are set from measurements of real DVS128 recordings
(``python -m bench.real_stats``, docs/results.md "Procedural gestures vs real recordings").

The layers, each one file, each importing only those above it:

* :mod:`~neuromoco.synth.params`: shared constants and :class:`GestureParams`, the per-sample
  variation drawn by :func:`sample_params` (motion frequency, amplitude and start phase, body scale
  and position, limb thickness, background brightness/texture/lighting gradient, clothing and
  skin contrast of either sign, body sway, idle-arm pose and fidgeting, sensor threshold and
  mismatch, noise and leak rates, hot pixels);
* :mod:`~neuromoco.synth.kinematics`: body and arm motion over time, as capsules;
* :mod:`~neuromoco.synth.render`: capsules → log-intensity frames;
* :mod:`~neuromoco.synth.gesture`: :func:`generate_gesture`, frames → events through
  :mod:`neuromoco.emulator`, plus hot pixels;
* :mod:`~neuromoco.synth.stream`: :class:`GestureStream`, an endless labelled stream.

The dataset writer (DVS128 Gesture layout on disk) is dataset code:
:mod:`neuromoco.data.procedural_writer`, with the one seed scheme and split rule of the procedural
set in :mod:`neuromoco.data.procedural`. Nothing here imports ``neuromoco.data``.

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
  ``*_labels.csv`` files are 1-based; the dataset writer writes them 1-based, like the original).
* Classes that differ only by side (right/left) or by rotation sense (clockwise/counter-clockwise)
  share every other distribution: the side shows in *where* the motion is relative to a randomly
  placed body, and the rotation sense only in the *temporal order* of the events (the accumulated
  image of a clockwise and a counter-clockwise circle is the same), so a model must use time to
  tell them apart, as on the real dataset.

Determinism: ``generate_gesture(label, seed)`` depends only on ``(label, seed, duration_us,
params)`` and :data:`GENERATOR_VERSION`; any change of the rendering bumps the version.

This file stays light: the names below are imported from their layer on first use.
"""

from __future__ import annotations

from neuromoco.lazy import lazy_exports

_EXPORTS = {
    "GENERATOR_VERSION": "params",
    "CLASS_NAMES": "params",
    "SENSOR_SIZE": "params",
    "NUM_CLASSES": "params",
    "GESTURE_DURATION_US": "params",
    "GestureParams": "params",
    "sample_params": "params",
    "generate_gesture": "gesture",
    "Segment": "stream",
    "GestureStream": "stream",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
