"""Streaming inference: event sources, incremental windowing, inference sessions, the engine.

Kept light: nothing is imported until used. ``from neuromoco.streaming import Engine`` (etc.)
loads the one submodule that defines it; see docs/streaming.md.
"""

from __future__ import annotations

from neuromoco.lazy import lazy_exports

_EXPORTS = {
    "Engine": "engine",
    "EngineConfig": "engine_config",
    "Schedule": "engine_config",
    "EngineStats": "engine",
    "StatusEvent": "engine",
    "Windower": "windower",
    "Window": "windower",
    "InferenceSession": "session",
    "Prediction": "prediction",
    "EventSource": "source",
    "SourceError": "source",
    "FileSource": "file_source",
    "ArraySource": "file_source",
    "CameraSource": "camera_source",
    "CameraNotFoundError": "camera_source",
    "list_cameras": "camera_source",
    "WebcamSource": "webcam_source",
    "SyntheticSource": "synthetic_source",
    "HotPixelFilter": "hot_pixel_filter",
    "ActivityMeter": "activity_meter",
    "GestureGate": "gesture_gate",
    "GateConfig": "gesture_gate",
    "Recorder": "recorder",
    "open_model": "model",
    "ModelError": "model",
    "bundled_model_path": "model",
    "open_source": "source_factory",
    "SourceSpec": "source_factory",
    "inference_threads": "model",
    "default_model_name": "model",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
