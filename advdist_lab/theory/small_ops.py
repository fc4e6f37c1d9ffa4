"""Fast numerics for the tiny tensors of the exact games: softmax, log-softmax, log-sigmoid, denormals flushed.

``torch.softmax``, ``torch.log_softmax`` and ``logsigmoid`` enter PyTorch's intra-op thread pool whatever the
tensor's size; on a busy 2-core machine one call on a 2x3 tensor was measured at 400-600 us, against 5-20 us
for these versions built from elementwise ops and reductions (which only go parallel on large tensors).
They compute the same values and are differentiable. :func:`flush_denormals` keeps converged games fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from torch.nn.functional import softplus


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``."""
    return x - torch.logsumexp(x, dim, keepdim=True)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``."""
    e = (x - x.amax(dim, keepdim=True)).exp()
    return e / e.sum(dim, keepdim=True)


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-x)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero while the block runs, then go back to PyTorch's default (off).

    As a game converges its gradients shrink geometrically into the denormal range, where CPU arithmetic is
    about a hundred times slower: without this a converged 2,000-step game took 15 s instead of 1 s.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
