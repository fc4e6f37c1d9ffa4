"""LeNet-style convolutional network: the MNIST teacher and the CIFAR-10 student of TPAMI Table 2.

The layout follows the original KDGAN code: ``conv kxk (SAME) -> ReLU -> maxpool 2`` once per entry of
``channels`` (twice by default: 32 then 64 filters), then a fully connected hidden layer with ReLU and dropout,
then one logit per label. Used as a teacher it is the scoring function ``g(x, y; theta_t)`` of Eq. 15; used as a
discriminator backbone, ``g(x, y; theta_d)`` of Eq. 16.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advdist_lab.hparams import check_positive_int
from advdist_lab.models.mlp import check_dropout, check_widths

__all__ = ["LeNet", "check_image_size"]


def check_image_size(image_size: object) -> tuple[int, int]:
    """Return ``image_size`` (an int or a pair ``(H, W)``) as ``(H, W)``, or raise ``ValueError``."""
    if isinstance(image_size, Sequence) and not isinstance(image_size, (str, bytes)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an integer or a pair (H, W) (got {image_size!r})")
        return check_positive_int("image_size[0]", image_size[0]), check_positive_int("image_size[1]", image_size[1])
    size = check_positive_int("image_size", image_size)
    return size, size


class LeNet(nn.Module):
    """``LeNet(in_channels, image_size, num_classes, channels=(32, 64), hidden=1024, kernel=5, dropout=0.0)``.

    Each convolution keeps the spatial size (SAME padding) and each 2x2 max-pool halves it (rounding down), so
    the image must be at least ``2 ** len(channels)`` pixels on each side. ``forward`` takes ``(B, C, H, W)``
    and returns logits ``(B, num_classes)``.

    Parameters with the defaults: ``k^2 (C 32 + 32 * 64) + 96 + (64 * H/4 * W/4 + 1) hidden + (hidden + 1) K``;
    on MNIST with ``hidden = 1024`` (the original code) that is 3,274,634.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int | tuple[int, int],
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 1024,
        kernel: int = 5,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.image_size = check_image_size(image_size)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.channels = check_widths("channels", channels, allow_empty=False)
        self.hidden = check_positive_int("hidden", hidden)
        self.kernel = check_positive_int("kernel", kernel)
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, so that SAME padding is symmetric (got kernel={self.kernel})")
        self.dropout = check_dropout(dropout)
        min_size = 2 ** len(self.channels)
        if min(self.image_size) < min_size:
            raise ValueError(
                f"LeNet with {len(self.channels)} conv+pool stages needs an image of at least {min_size}x{min_size} "
                f"pixels (got image_size={self.image_size})"
            )
        convs: list[nn.Module] = []
        width, (h, w) = self.in_channels, self.image_size
        for c in self.channels:
            convs += [
                nn.Conv2d(width, c, self.kernel, padding=self.kernel // 2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            width, h, w = c, h // 2, w // 2
        self.features = nn.Sequential(*convs)
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(width * h * w, self.hidden), nn.ReLU(inplace=True)]
        if self.dropout > 0:
            head.append(nn.Dropout(self.dropout))
        head.append(nn.Linear(self.hidden, self.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``x`` of shape ``(B, in_channels, H, W)``."""
        expected = (self.in_channels, *self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"LeNet expects images of shape (B, {', '.join(map(str, expected))}) (got {tuple(x.shape)})"
            )
        return self.classifier(self.features(x))
