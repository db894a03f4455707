"""The 11 DVS128 Gesture classes, in the dataset's order (its ``gesture_mapping.csv``; 0-based here).

A leaf: it imports nothing, so the dataset reader (``neuromoco.data.dvs128_gesture``), the
procedural generator (``neuromoco.synth``) and the ported model (``neuromoco.models.neurobench_gesture``)
share the names without one pulling in another (``create_model`` used to import the data package
for them).
"""

from __future__ import annotations

DVS128_GESTURE_CLASSES: tuple[str, ...] = (
    "hand_clap",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
