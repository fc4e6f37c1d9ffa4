"""The generators' side of the adversarial methods: the adversarial term through a gradient estimator.

A generator (student or teacher) minimises ``E_{y ~ p(y|x)}[f(x, y)]`` where ``f`` is read off the current
discriminator (for example ``log(1 - D(x, y))``, Eq. 3). Its gradient is estimated by one of
:data:`advdist_lab.gumbel.ESTIMATORS`: the score function (REINFORCE, Eq. 8 and 11), the Gumbel-Softmax pathwise
gradient through the concrete sample of Eq. 10, or straight-through. The discriminator's logits are computed once
per batch and detached, so the generator's step never writes gradients into the discriminator.

:class:`ThreePlayerMethod` holds what ADIB and ADIM share: both generators descend their own adversarial term
plus the distillation from the other player (Eq. 4, 6).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..gumbel import adversarial_surrogate
from ..losses import kd_loss
from .base import Batch, Method, Players, StepContext, Terms, hard_sample


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


class ThreePlayerMethod(Method):
    """ADIB and ADIM: a student and a teacher against one discriminator, regularised by distillation.

    The generators' losses have one form (Eq. 4, 6; Algorithm 1, lines 8 and 11):
    the student descends ``omega_s E_{y~p_s}[f_s(x, y)] + nu L_KD(p_t || p_s)``, the teacher
    ``omega_t E_{y~p_t}[f_t(x, y)] + mu L_KD(p_s || p_t)``. The methods differ in their discriminator
    (:meth:`heads`, its logits for every label) and in the reward ``f`` it gives each player (:meth:`reward`).
    """

    student_adversarial = True

    def heads(self, discriminator, x: torch.Tensor):
        """The discriminator's logits for every label of the batch ``x``."""
        raise NotImplementedError

    def reward(self, heads, player: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """``y -> f(x, y)`` for ``player`` ("student" or "teacher"), the ``heads`` of one batch held fixed."""
        raise NotImplementedError

    def fake_labels(self, players: Players, batch: Batch, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Discrete labels drawn from the student and from the teacher, as the discriminator sees them."""
        with torch.no_grad():
            return hard_sample(players.student(batch.xs), ctx), hard_sample(players.teacher(batch.x), ctx)

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        cfg = ctx.config
        return self._generator_loss("student", players, batch, ctx, cfg.omega_s, cfg.nu)

    def teacher_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        cfg = ctx.config
        return self._generator_loss("teacher", players, batch, ctx, cfg.omega_t, cfg.mu)

    def _generator_loss(
        self, player: str, players: Players, batch: Batch, ctx: StepContext, omega: float, weight: float
    ) -> Terms:
        own, other = (players.student, players.teacher) if player == "student" else (players.teacher, players.student)
        own_x, other_x = (batch.xs, batch.x) if player == "student" else (batch.x, batch.xs)
        logits = own(own_x)
        with torch.no_grad():
            heads = self.heads(players.discriminator, batch.x)
            target = other(other_x)
        return Terms(
            adversarial=omega * adversarial_term(logits, self.reward(heads, player), ctx),
            distillation=weight * kd_loss(target, logits, batch.y, ctx.config.upsilon),
        )
