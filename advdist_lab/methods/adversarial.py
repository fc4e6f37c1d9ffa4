"""The generators' side of the adversarial methods: the adversarial term through a gradient estimator.

A generator (student or teacher) minimises ``E_{y ~ p(y|x)}[f(x, y)]`` where ``f`` is read off the current
discriminator (for example ``log(1 - D(x, y))``, Eq. 3). Its gradient is estimated by one of
:data:`advdist_lab.gumbel.ESTIMATORS`: the score function (REINFORCE, Eq. 8 and 11), the Gumbel-Softmax pathwise
gradient through the concrete sample of Eq. 10, or straight-through. The discriminator's logits are computed once
per batch and detached, so the generator's step never writes gradients into the discriminator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..gumbel import adversarial_surrogate
from .base import StepContext


def adversarial_term(
    logits: torch.Tensor, reward: Callable[[torch.Tensor], torch.Tensor], ctx: StepContext
) -> torch.Tensor:
    """The surrogate loss whose gradient estimates ``grad E_{y ~ softmax(logits)}[reward(y)]``.

    ``reward`` maps labels ``(B, K)`` (one-hot or relaxed) to ``(B,)``. The estimator, its baseline and the
    temperature come from the run's config and the epoch (``ctx``).
    """
    cfg = ctx.config
    return adversarial_surrogate(
        logits, reward, estimator=cfg.estimator, tau=ctx.tau, generator=ctx.generator, baseline=cfg.baseline
    ).loss
