"""DenseNet-BC for 32x32 images (Huang et al., CVPR 2017): the CIFAR-10 teacher of TPAMI Table 2.

Three dense blocks of ``n`` layers separated by transitions, as in the CIFAR DenseNets of the DenseNet paper:

* stem: 3x3 convolution to ``2 * growth_rate`` channels (16 without bottlenecks);
* layer: ``BN-ReLU-conv1x1 (4 * growth_rate) - BN-ReLU-conv3x3 (growth_rate)`` with bottlenecks ("B"),
  ``BN-ReLU-conv3x3`` without; its output is concatenated to its input;
* transition: ``BN-ReLU-conv1x1`` to ``floor(reduction * C)`` channels ("C": compression), then 2x2 average pool;
* head: BN-ReLU, global average pooling, a linear layer with one logit per label.

``n = (depth - 4) / 6`` with bottlenecks and ``(depth - 4) / 3`` without. Convolutions have no bias. Our counts
match the DenseNet paper's: DenseNet-BC (L=100, k=12) has 769,162 parameters (0.8M), (L=250, k=24) 15,324,406
(15.3M), (L=190, k=40) 25,624,430 (25.6M), for 10 classes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from advdist_lab.hparams import check_positive_int, check_real

__all__ = ["DenseNet"]


class _DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool) -> None:
        super().__init__()
        if bottleneck:
            inner = 4 * growth_rate
            self.body = nn.Sequential(
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(in_channels, inner, 1, bias=False),
                nn.BatchNorm2d(inner),
                nn.ReLU(inplace=True),
                nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False),
            )
        else:
            self.body = nn.Sequential(
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class _Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.AvgPool2d(2),
        )


class DenseNet(nn.Module):
    """``DenseNet(depth, growth_rate, num_classes, in_channels=3, reduction=0.5, bottleneck=True)``.

    ``forward`` takes ``(B, in_channels, H, W)`` (32x32 for CIFAR; any size >= 4 works thanks to the global
    pooling) and returns logits ``(B, num_classes)``.
    """

    def __init__(
        self,
        depth: int,
        growth_rate: int,
        num_classes: int,
        in_channels: int = 3,
        reduction: float = 0.5,
        bottleneck: bool = True,
    ) -> None:
        super().__init__()
        depth = check_positive_int("depth", depth)
        self.growth_rate = check_positive_int("growth_rate", growth_rate)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.in_channels = check_positive_int("in_channels", in_channels)
        reduction = check_real("reduction", reduction)
        if not 0.0 < reduction <= 1.0:
            raise ValueError(f"reduction must lie in (0, 1] (got {reduction!r})")
        if not isinstance(bottleneck, bool):
            raise ValueError(f"bottleneck must be True or False (got {bottleneck!r})")
        per_layer = 6 if bottleneck else 3  # convolutions per dense layer, times three blocks
        if depth < 4 + per_layer or (depth - 4) % per_layer:
            raise ValueError(
                f"depth must be 4 + {per_layer} n with n >= 1 for a DenseNet{'-BC' if bottleneck else ''} "
                f"(got depth={depth})"
            )
        self.depth, self.reduction, self.bottleneck = depth, reduction, bottleneck
        n = (depth - 4) // per_layer
        channels = 2 * self.growth_rate if bottleneck else 16
        stages: list[nn.Module] = [nn.Conv2d(self.in_channels, channels, 3, padding=1, bias=False)]
        for block in range(3):
            for _ in range(n):
                stages.append(_DenseLayer(channels, self.growth_rate, bottleneck))
                channels += self.growth_rate
            if block < 2:
                out = max(1, math.floor(reduction * channels))
                stages.append(_Transition(channels, out))
                channels = out
        stages += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Linear(channels, self.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``x`` of shape ``(B, in_channels, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[2:]) < 4:
            raise ValueError(
                f"DenseNet expects images of shape (B, {self.in_channels}, H, W) with H, W >= 4 (got {tuple(x.shape)})"
            )
        return self.classifier(self.features(x))

    def extra_repr(self) -> str:
        return f"depth={self.depth}, growth_rate={self.growth_rate}, bottleneck={self.bottleneck}"
