"""CPU-sized convolutional SNNs for real-time demos on 2 cores.

``lif_convnet4``: 4 blocks ``conv3x3 → BN → LIF → maxpool2x2`` (widths 16/32/64/64, ~61 k
parameters with 11 classes), global average pool per step, linear head. Resolution-agnostic; meant
for 32×32 or 64×64 inputs. (``sew_resnet_tiny`` lives in ``sew_resnet.py``.)
"""

from __future__ import annotations

import torch
from torch import nn

from neuromoco.models.classifier import PerStep, SNNClassifier, as_hw
from neuromoco.models.neurons import check_surrogate, lif
from neuromoco.models.registry import register_model


class LIFConvNet(SNNClassifier):
    def __init__(
        self,
        num_classes: int,
        in_channels: int = 2,
        img_size: int | tuple[int, int] = 64,
        widths: tuple[int, ...] = (16, 32, 64, 64),
        surrogate: str = "atan",
    ):
        check_surrogate(surrogate)
        h, w = as_hw(img_size)
        widths = tuple(int(c) for c in widths)
        if not widths or min(widths) <= 0:
            raise ValueError(f"widths must be positive channel counts, got {widths!r}")
        if min(h, w) < 2 ** len(widths):
            raise ValueError(f"img_size {(h, w)} too small for {len(widths)} 2x2 poolings")
        super().__init__(widths[-1], num_classes, in_channels)
        layers = []
        cin = in_channels
        for c in widths:
            layers += [
                PerStep(nn.Conv2d(cin, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)),
                lif(surrogate),
                PerStep(nn.MaxPool2d(2, 2)),
            ]
            cin = c
        self.body = nn.Sequential(*layers)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(3, 4))


@register_model
def lif_convnet4(
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] = 64,
    widths: tuple[int, ...] | list[int] = (16, 32, 64, 64),
    surrogate: str = "atan",
) -> LIFConvNet:
    """4 conv-BN-LIF-pool blocks (~61 k params), for 32×32 / 64×64 inputs on a CPU."""
    return LIFConvNet(num_classes, in_channels, img_size, tuple(widths), surrogate)
