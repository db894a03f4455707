"""Direction features: a frozen encoder read over each window forwards and backwards.

A circle drawn clockwise and the same circle drawn counter-clockwise pass the same positions;
only their order differs. An encoder's window-averaged embedding ``f(x)`` mostly describes where
things move, so that order is a small part of it, easily drowned by a shift or a change of size
(docs/results.md, "Teach your own gestures"). Running the same encoder over the window played
backwards, ``R x`` (time bins in reverse order and ON/OFF swapped: a brightening edge seen
backwards darkens), and taking ``d = f̄(x) − f̄(R x)`` keeps exactly the part of the embedding
that changes sign when time runs the other way — the direction of the motion — and cancels the
rest. It needs no label and no training: any encoder gives it.

A window that is not evenly filled also reads differently backwards: a gesture that has just
begun (pause, then motion) is, backwards, a gesture that ends. That asymmetry says nothing about
the motion, and a head taught on whole gestures has never seen it (live, it delayed the right
decision at every gesture's start: docs/results.md). So ``d`` is weighted by the window's
*balance* ``b`` = the smaller over the larger of its events in the first and the second half:
about 1 inside a gesture, near 0 while one begins or ends.

:class:`DirectionClassifier` is the model ``neuromoco teach`` writes (its default): per step
``t``, the features are ``[f_t(x), b · ‖f̄(x)‖ · d / ‖d‖]`` (``f̄``: the mean over the window's T
steps), so inside a gesture the direction block weighs as much as the appearance block, and
their mean over the window is ``[f̄, b‖f̄‖·d̂]``, what the head was fitted on. A head row with
zeros on the direction block is the encoder's own per-step read-out, exactly.

It needs the whole window before its first output (``R x`` starts at the window's last bin), so
it runs in ``window`` mode only: it cannot be stepped (``steppable`` is False, and
``StatefulStep``, the ``step`` ONNX graph and stream mode refuse it, saying so).
"""

from __future__ import annotations

import torch

from neuromoco.models.classifier import SNNClassifier
from neuromoco.models.registry import create_model, register_model

ARCH = "direction_classifier"
EPS = 1e-12


def reverse_time(x: torch.Tensor) -> torch.Tensor:
    """Frames ``[T, N, 2, H, W]`` played backwards: the T bins in reverse order and the two
    polarity channels swapped (seen backwards, an ON event is an OFF event)."""
    return x.flip(0).flip(2)


def balance(x: torch.Tensor) -> torch.Tensor:
    """``[N, 1]``: the smaller over the larger of the events in the window's first and second
    half (1: evenly filled; 0: all in one half, e.g. a gesture that has just begun)."""
    h = x.shape[0] // 2
    a = x[:h].sum(dim=(0, 2, 3, 4))
    b = x[x.shape[0] - h :].sum(dim=(0, 2, 3, 4))
    return (torch.minimum(a, b) / torch.maximum(a, b).clamp_min(EPS)).unsqueeze(-1)


def direction_block(f: torch.Tensor, r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``b · ‖f̄‖ · d / ‖d‖`` ``[N, D]`` with ``d = f̄ − r̄``, from the per-step embeddings ``f`` of
    a window ``x`` ``[T, N, 2, H, W]`` and ``r`` of the same window backwards (both
    ``[T, N, D]``), ``b`` = :func:`balance` of ``x``."""
    fm, rm = f.mean(0), r.mean(0)
    d = fm - rm
    return d * (
        balance(x) * fm.norm(dim=-1, keepdim=True) / d.norm(dim=-1, keepdim=True).clamp_min(EPS)
    )


class DirectionClassifier(SNNClassifier):
    """An encoder (an :class:`SNNClassifier` without head) read forwards and backwards, and a
    linear per-step head on ``[f_t, direction block]`` (``2·D`` features; module docstring).

    Args:
        num_classes: C.
        encoder: the encoder; its head is dropped (set to identity).
    """

    steppable = False

    def __init__(self, num_classes: int, encoder: SNNClassifier):
        super().__init__(2 * encoder.num_features, num_classes, encoder.in_channels)
        encoder.reset_classifier(0)
        self.encoder = encoder

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        # both readings in one batch: one encoder pass (and one traced graph); in eval mode every
        # sample is independent of the others, so this is exactly two separate passes
        n = x.shape[1]
        fr = self.encoder.forward_features(torch.cat([x, reverse_time(x)], dim=1))
        f, r = fr[:, :n], fr[:, n:]
        d = direction_block(f, r, x)
        return torch.cat([f, d.unsqueeze(0).expand_as(f)], dim=-1)


@register_model
def direction_classifier(
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] | list[int] = 64,
    base_arch: str = "lif_convnet4",
    base_kwargs: dict | None = None,
) -> DirectionClassifier:
    """:class:`DirectionClassifier` over a registered encoder ``base_arch`` built with
    ``base_kwargs`` (its ``num_classes`` is ignored: the encoder has no head)."""
    if base_arch == ARCH:
        raise ValueError(f"{ARCH}: base_arch must be an encoder architecture, not {ARCH}")
    kw = {k: v for k, v in (base_kwargs or {}).items() if k != "num_classes"}
    kw.setdefault("in_channels", in_channels)
    kw.setdefault("img_size", img_size)
    encoder = create_model(base_arch, num_classes=0, **kw)
    return DirectionClassifier(num_classes, encoder)


def with_direction(encoder: SNNClassifier, num_classes: int = 0) -> DirectionClassifier:
    """``encoder`` (a built registered model; its head is dropped) wrapped as a
    :class:`DirectionClassifier` with a fresh head of ``num_classes``, with the ``arch`` and
    ``model_kwargs`` that rebuild it from a checkpoint."""
    base_kwargs = {k: v for k, v in dict(encoder.model_kwargs).items() if k != "num_classes"}
    base_arch = encoder.arch
    net = DirectionClassifier(num_classes, encoder)
    net.arch = ARCH
    net.model_kwargs = {
        "num_classes": int(num_classes),
        "in_channels": int(encoder.in_channels),
        "img_size": base_kwargs.get("img_size", 64),
        "base_arch": base_arch,
        "base_kwargs": base_kwargs,
    }
    return net
