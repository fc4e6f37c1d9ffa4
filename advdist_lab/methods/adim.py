"""ADIM (TPAMI Eq. 6 and Algorithm 1): student, teacher and a multi-class discriminator; and ADIM-NGS.

``min_{S,T} max_D sum_{i in {r,s,t}} omega_i E_{y~p_i}[log D_i(x, y)] + nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``
subject to ``D_r + D_s + D_t = 1``. The discriminator is two binary heads (TPAMI Sec. 5): real vs fake, then
student vs teacher, so ``D_s = (1 - D_r) sigmoid(h_2)`` and ``D_t = (1 - D_r) sigmoid(-h_2)``.

The student descends ``omega_s E_{p_s}[log D_s] + nu L_KD(p_t || p_s)`` (line 11), the teacher
``omega_t E_{p_t}[log D_t] + mu L_KD(p_s || p_t)`` (line 8). ADIM uses the Gumbel-Softmax trick for the adversarial
gradient (Eq. 10-11); ADIM-NGS is the same game with the plain score-function (REINFORCE) gradient (Fig. 4, 5).
"""

from __future__ import annotations

import torch

from ..losses import adim_discriminator_loss
from ..models.discriminators import three_way_log_probs
from .adversarial import ThreePlayerMethod
from .base import Batch, Players, StepContext, label_scores, multiclass_heads


def _log_probs(heads: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    return three_way_log_probs(label_scores(heads[0], y), label_scores(heads[1], y))


def log_d(heads: tuple[torch.Tensor, torch.Tensor], column: int):
    """``y -> log D_i(x, y)`` for ``i`` = 1 (student) or 2 (teacher), the heads of one batch held fixed."""
    heads = (heads[0].detach(), heads[1].detach())
    return lambda y: _log_probs(heads, y)[..., column]


class Adim(ThreePlayerMethod):
    name = "adim"
    discriminator_kind = "multiclass"

    def heads(self, discriminator, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return multiclass_heads(discriminator, x)

    def reward(self, heads: tuple[torch.Tensor, torch.Tensor], player: str):
        return log_d(heads, 1 if player == "student" else 2)

    def discriminator_loss(self, players: Players, batch: Batch, ctx: StepContext) -> torch.Tensor:
        cfg = ctx.config
        heads = self.heads(players.discriminator, batch.x)
        from_student, from_teacher = self.fake_labels(players, batch, ctx)
        return adim_discriminator_loss(
            _log_probs(heads, batch.y),
            _log_probs(heads, from_student),
            _log_probs(heads, from_teacher),
            (cfg.omega_r, cfg.omega_s, cfg.omega_t),
        )


class AdimNgs(Adim):
    """ADIM without the Gumbel-Softmax trick: the config's estimator is forced to ``score`` (REINFORCE)."""

    name = "adim-ngs"
