"""SEW-ResNet (Fang et al., NeurIPS 2021) with LIF neurons, the paper's convolutional backbone.

Spike-Element-Wise basic block: ``out = g(SN(BN(conv(SN(BN(conv(x)))))), identity)`` where the
identity branch is ``x`` or, when the shape changes, ``SN(BN(conv1x1(x)))``. NeuroMoCo uses
``g = ADD`` and LIF neurons instead of PLIF (paper §3.3); ``AND`` and ``IAND`` are available for
ablations. Layout ``[2, 2, 2, 2]`` = SEW-ResNet-18 (11.2 M parameters at width 64, 11 classes).

Stem: ``conv7x7/2 → BN → LIF → maxpool3x3/2`` over the 2 polarity channels (a 128×128 input
reaches layer1 at 32×32 and layer4 at 4×4), or ``"small"``: ``conv3x3/1 → BN → LIF`` without
pooling, for small inputs. All convolutions are bias-free (followed by BN).
"""

from __future__ import annotations

import torch
from torch import nn

from neuromoco.models.classifier import PerStep, SNNClassifier, as_hw
from neuromoco.models.neurons import check_surrogate, lif
from neuromoco.models.registry import register_model

CONNECT_FUNCTIONS = ("ADD", "AND", "IAND")


def _conv_bn(cin: int, cout: int, k: int, stride: int) -> PerStep:
    return PerStep(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class SEWBasicBlock(nn.Module):
    """SEW basic block on spike tensors ``[T, N, C, H, W]``."""

    def __init__(self, cin: int, cout: int, stride: int, cnf: str, surrogate: str):
        super().__init__()
        self.cnf = cnf
        self.conv1 = _conv_bn(cin, cout, 3, stride)
        self.sn1 = lif(surrogate)
        self.conv2 = _conv_bn(cout, cout, 3, 1)
        self.sn2 = lif(surrogate)
        if stride != 1 or cin != cout:
            self.downsample = _conv_bn(cin, cout, 1, stride)
            self.downsample_sn = lif(surrogate)
        else:
            self.downsample = None
            self.downsample_sn = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.sn2(self.conv2(self.sn1(self.conv1(x))))
        identity = x if self.downsample is None else self.downsample_sn(self.downsample(x))
        if self.cnf == "ADD":
            return out + identity
        if self.cnf == "AND":
            return out * identity
        return identity * (1.0 - out)  # IAND


class SEWResNet(SNNClassifier):
    """SEW-ResNet with basic blocks; ``layers`` blocks per stage, widths ``base_width·(1, 2, 4, 8)``."""

    def __init__(
        self,
        layers: tuple[int, ...] = (2, 2, 2, 2),
        num_classes: int = 11,
        in_channels: int = 2,
        img_size: int | tuple[int, int] = 128,
        base_width: int = 64,
        cnf: str = "ADD",
        stem: str = "imagenet",
        surrogate: str = "atan",
    ):
        if cnf not in CONNECT_FUNCTIONS:
            raise ValueError(f"cnf must be one of {CONNECT_FUNCTIONS}, got {cnf!r}")
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        if int(base_width) <= 0:
            raise ValueError(f"base_width must be positive, got {base_width}")
        if not layers or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be positive block counts, got {layers!r}")
        check_surrogate(surrogate)
        as_hw(img_size)  # validates; the net itself is resolution-agnostic (global pooling)
        widths = [int(base_width) * 2**i for i in range(len(layers))]
        super().__init__(widths[-1], num_classes, in_channels)
        if stem == "imagenet":
            self.stem = _conv_bn(in_channels, widths[0], 7, 2)
            self.stem_sn = lif(surrogate)
            self.stem_pool = PerStep(nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = _conv_bn(in_channels, widths[0], 3, 1)
            self.stem_sn = lif(surrogate)
            self.stem_pool = nn.Identity()
        blocks = []
        cin = widths[0]
        for i, (n, w) in enumerate(zip(layers, widths, strict=True)):
            for j in range(int(n)):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(SEWBasicBlock(cin, w, stride, cnf, surrogate))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_pool(self.stem_sn(self.stem(x)))
        x = self.blocks(x)
        return x.mean(dim=(3, 4))  # global average pool per time step → [T, N, D]


@register_model
def sew_resnet18(
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] = 128,
    base_width: int = 64,
    cnf: str = "ADD",
    surrogate: str = "atan",
) -> SEWResNet:
    """SEW-ResNet-18 (paper backbone): ``[2, 2, 2, 2]`` SEW blocks, ADD, LIF, 7×7 stem, 2×128×128 input."""
    return SEWResNet(
        (2, 2, 2, 2), num_classes, in_channels, img_size, base_width, cnf, "imagenet", surrogate
    )


@register_model
def sew_resnet_tiny(
    num_classes: int,
    in_channels: int = 2,
    img_size: int | tuple[int, int] = 64,
    base_width: int = 8,
    cnf: str = "ADD",
    surrogate: str = "atan",
) -> SEWResNet:
    """Narrow SEW net for CPU: one SEW block per stage, widths 8/16/32/64, 7×7 stem, 64×64 input."""
    return SEWResNet(
        (1, 1, 1, 1), num_classes, in_channels, img_size, base_width, cnf, "imagenet", surrogate
    )
