"""ADIB (TPAMI Eq. 4; = KDGAN Eq. 3): student, teacher and a binary discriminator.

``min_{S,T} max_D E_{p_r}[log D] + omega_s E_{p_s}[log(1 - D)] + omega_t E_{p_t}[log(1 - D)]
+ nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``, with ``omega_s + omega_t = 1`` and ``L_KD`` of Eq. 2.
"""

from __future__ import annotations

import torch

from ..losses import adib_discriminator_loss, kd_loss
from .adversarial import adversarial_term
from .base import Batch, Method, Players, StepContext, Terms, binary_head, hard_sample, label_score
from .ngan import log_one_minus_d


class Adib(Method):
    name = "adib"
    discriminator_kind = "binary"
    student_adversarial = True

    def discriminator_loss(self, players: Players, batch: Batch, ctx: StepContext) -> torch.Tensor:
        cfg = ctx.config
        head = binary_head(players.discriminator, batch.x)
        with torch.no_grad():
            from_student = hard_sample(players.student(batch.xs), ctx)
            from_teacher = hard_sample(players.teacher(batch.x), ctx)
        return adib_discriminator_loss(
            label_score(head, batch.y),
            label_score(head, from_student),
            label_score(head, from_teacher),
            cfg.omega_s,
            cfg.omega_t,
        )

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        cfg = ctx.config
        logits = players.student(batch.xs)
        with torch.no_grad():
            head = binary_head(players.discriminator, batch.x)
            teacher = players.teacher(batch.x)
        return Terms(
            adversarial=cfg.omega_s * adversarial_term(logits, log_one_minus_d(head), ctx),
            distillation=cfg.nu * kd_loss(teacher, logits, batch.y, cfg.upsilon),
        )

    def teacher_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        cfg = ctx.config
        logits = players.teacher(batch.x)
        with torch.no_grad():
            head = binary_head(players.discriminator, batch.x)
            student = players.student(batch.xs)
        return Terms(
            adversarial=cfg.omega_t * adversarial_term(logits, log_one_minus_d(head), ctx),
            distillation=cfg.mu * kd_loss(student, logits, batch.y, cfg.upsilon),
        )
