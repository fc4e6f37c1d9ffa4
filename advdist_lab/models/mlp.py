"""Multilayer perceptron: the student of the MNIST experiments (TPAMI Table 2, "S: MLP") and the small players
of the synthetic task.

The student's scoring function ``f(x, y; theta_s)`` of TPAMI Eq. 14 is the ``y``-th output of such a network: it
returns one logit per label, and ``p_s(y | x) = softmax(f(x, .))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from advdist_lab.hparams import check_positive_int, check_real

__all__ = ["MLP", "check_dropout"]


def check_dropout(value: object) -> float:
    """Return ``value`` as a float if it is a dropout rate in ``[0, 1)``; otherwise raise ``ValueError``."""
    value = check_real("dropout", value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must lie in [0, 1) (got {value!r})")
    return value


def check_widths(name: str, widths: object, *, allow_empty: bool) -> tuple[int, ...]:
    """Return ``widths`` as a tuple of integers >= 1, or raise ``ValueError`` naming ``name``."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise ValueError(f"{name} must be a sequence of integers >= 1 (got {widths!r})")
    if not allow_empty and len(widths) == 0:
        raise ValueError(f"{name} must hold at least one integer >= 1 (got {widths!r})")
    return tuple(check_positive_int(f"{name}[{i}]", w) for i, w in enumerate(widths))


class MLP(nn.Module):
    """``in_features -> hidden[0] -> ... -> hidden[-1] -> num_classes`` with ReLU and dropout after each hidden
    layer. The input is flattened, so any shape whose trailing dimensions hold ``in_features`` values is read.

    ``hidden = ()`` gives a linear (softmax-regression) model. ``MLP(784, (800, 800), 10)`` is the MNIST student
    of the original KDGAN code: 1,276,810 parameters (Table 2: 1.28M).
    """

    def __init__(self, in_features: int, hidden: Sequence[int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.hidden = check_widths("hidden", hidden, allow_empty=True)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.dropout = check_dropout(dropout)
        layers: list[nn.Module] = []
        width = self.in_features
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, self.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(B, num_classes)`` for a batch ``x`` of shape ``(B, ...)``."""
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.in_features:
            raise ValueError(
                f"MLP expects a batch (B, ...) of {self.in_features} features per example (got shape {tuple(x.shape)})"
            )
        return self.net(x.flatten(1))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, hidden={self.hidden}, num_classes={self.num_classes}"
