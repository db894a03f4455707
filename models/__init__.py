"""SNN architectures, registry, checkpoints, ONNX export and bundled weights.

Kept light (no torch import here); import the submodules:

* ``neuromoco.models.registry``: ``create_model(name, num_classes, in_channels=2, img_size=128, **kw)``,
  ``list_models()``, ``register_model``. Every model maps frames ``[T, N, 2, H, W]`` to per-step
  logits ``[T, N, C]`` (``forward_features``: embeddings ``[T, N, D]``), resetting its neurons
  at the start of each forward.
* ``neuromoco.models.heads``: ``ProjectionHead`` (per-step 2-layer MLP for contrastive learning).
* ``neuromoco.models.direction``: ``DirectionClassifier`` (``direction_classifier``): an
  encoder read over each window forwards and backwards (direction features; what
  ``neuromoco teach`` writes); it needs whole windows, so ``steppable`` is False.
* ``neuromoco.models.stateful``: ``StatefulStep`` (one frame at a time, explicit membrane state;
  models whose ``steppable`` is True).
* ``neuromoco.models.checkpoint``: ``save_checkpoint``, ``load_checkpoint``, ``load_model``.
* ``neuromoco.models.onnx_export``: ``export_onnx`` (``window`` / ``step`` graphs,
  ``onnx_metadata.GRAPHS``).
* ``neuromoco.models.inference``: ``load_predictor`` (PyTorch or ONNX Runtime, window or step).
* ``neuromoco.models.bundled``: the shipped models, ``resolve_model``.

The verbs: ``resolve_model`` takes a name or a path to a file; ``load_checkpoint``,
``load_model`` and ``load_predictor`` take a file to its data (``Checkpoint``), its torch module,
or a predictor for a graph (``window``/``step``). Opening a model by name for a streaming mode
(``window``/``stream``) is ``neuromoco.streaming.open_model``.
"""
