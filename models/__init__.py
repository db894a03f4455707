"""SNN architectures, registry, checkpoints, ONNX export and bundled weights.

Kept light (no torch import here): use ``neuromoco.models.registry.create_model`` etc.
"""
