"""ADIB (TPAMI Eq. 4; = KDGAN Eq. 3): student, teacher and a binary discriminator.

``min_{S,T} max_D E_{p_r}[log D] + omega_s E_{p_s}[log(1 - D)] + omega_t E_{p_t}[log(1 - D)]
+ nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``, with ``omega_s + omega_t = 1`` and ``L_KD`` of Eq. 2. Both
generators are rewarded ``log(1 - D(x, y))``; their losses are those of
:class:`~advdist_lab.methods.adversarial.ThreePlayerMethod`.
"""

from __future__ import annotations

import torch

from ..losses import adib_discriminator_loss
from .adversarial import ThreePlayerMethod
from .base import Batch, Players, StepContext, binary_head, label_scores
from .ngan import log_one_minus_d


class Adib(ThreePlayerMethod):
    name = "adib"
    discriminator_kind = "binary"

    def heads(self, discriminator, x: torch.Tensor) -> torch.Tensor:
        return binary_head(discriminator, x)

    def reward(self, heads: torch.Tensor, player: str):
        return log_one_minus_d(heads)

    def discriminator_loss(self, players: Players, batch: Batch, ctx: StepContext) -> torch.Tensor:
        cfg = ctx.config
        head = self.heads(players.discriminator, batch.x)
        from_student, from_teacher = self.fake_labels(players, batch, ctx)
        return adib_discriminator_loss(
            label_scores(head, batch.y),
            label_scores(head, from_student),
            label_scores(head, from_teacher),
            cfg.omega_s,
            cfg.omega_t,
        )
