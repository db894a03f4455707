"""The common model interface: ``[T, N, C_in, H, W]`` frames → per-time-step logits ``[T, N, C]``."""

from __future__ import annotations

import torch
from torch import nn

from neuromoco.models.spikingjelly_import import activation_based

functional = activation_based().functional


class PerStep(nn.Sequential):
    """Apply ordinary (stateless) layers to every time step of ``[T, N, ...]`` at once.

    The time and batch axes are merged for the layers (one big batch of ``T·N``) and split again,
    so convolutions and BatchNorm see each frame independently (BN in train mode pools its
    statistics over ``T·N``, as spikingjelly's ``SeqToANNContainer`` does).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, N = x.shape[0], x.shape[1]
        y = super().forward(x.flatten(0, 1))
        return y.reshape(T, N, *y.shape[1:])


def make_head(num_features: int, num_classes: int) -> nn.Module:
    """Linear classifier applied per time step (``nn.Linear`` maps ``[T, N, D]`` → ``[T, N, C]``).

    ``num_classes=0`` gives an identity head (the model then returns its embeddings).
    """
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    return nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()


class SNNClassifier(nn.Module):
    """Base class of every registered model.

    Subclasses build their layers and implement ``_features(x) -> [T, N, D]``; this class owns the
    head, the input check and the neuron reset that starts every forward (so no membrane state
    leaks from one call to the next).

    Attributes:
        num_features: D, the embedding size returned by ``forward_features``.
        num_classes: C (0 = identity head).
        in_channels: polarity channels expected (2).
        head: the replaceable per-step classifier.
        arch, model_kwargs: set by ``create_model``: the registered name and the keyword arguments
            that rebuild this model (``spec`` returns both); stored in checkpoints.
        steppable: step ``t``'s output depends on frames ``0..t`` only, so the model can be
            advanced one frame at a time (``StatefulStep``, stream mode). False for a model that
            needs the whole window first (``neuromoco.models.direction``).
    """

    steppable = True

    def __init__(self, num_features: int, num_classes: int, in_channels: int):
        super().__init__()
        if in_channels <= 0:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        self.num_features = int(num_features)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.head = make_head(self.num_features, self.num_classes)
        self.arch = type(self).__name__
        self.model_kwargs: dict = {}

    @property
    def spec(self) -> dict:
        """``{"arch": name, "kwargs": {...}}``: enough to rebuild the model with ``create_model``."""
        return {"arch": self.arch, "kwargs": dict(self.model_kwargs)}

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[2] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.arch}: input must be frames [T, N, {self.in_channels}, H, W], got {shape}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step pooled embeddings ``[T, N, D]`` of frames ``[T, N, C_in, H, W]``."""
        self._check_input(x)
        functional.reset_net(self)
        return self._features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step logits ``[T, N, C]`` (step ``t`` only depends on frames ``0..t``)."""
        return self.head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a fresh ``Linear(D, num_classes)`` (0 = identity)."""
        device = next(self.parameters()).device
        self.head = make_head(self.num_features, int(num_classes)).to(device)
        self.num_classes = int(num_classes)
        if self.model_kwargs:
            self.model_kwargs["num_classes"] = int(num_classes)


def as_hw(img_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``img_size`` — an int (a square image) or ``(width, height)`` in pixels, the project's
    order for every size (``FramingSpec.size`` too) — as the tensor order ``(H, W)``."""
    if isinstance(img_size, int | float) and not isinstance(img_size, bool):
        h = w = int(img_size)
    elif isinstance(img_size, tuple | list) and len(img_size) == 2:
        w, h = int(img_size[0]), int(img_size[1])
    else:
        raise ValueError(f"img_size must be an int or (width, height), got {img_size!r}")
    if h <= 0 or w <= 0:
        raise ValueError(f"img_size must be positive, got {img_size!r}")
    return h, w
