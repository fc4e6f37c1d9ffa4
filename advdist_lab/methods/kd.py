"""The knowledge-distillation baselines of TPAMI Table 1: MIMIC, DISTN, NOISY and CODIS.

* MIMIC (Ba and Caruana, 2014): the student regresses the pretrained teacher's logits with an L2 loss.
* DISTN (Hinton et al., 2015): soft targets at temperature ``T`` (``T^2``-scaled) plus the hard labels. The
  original KDGAN code used T = 3.
* NOISY (Sau and Balasubramanian, 2016): L2 against teacher logits under multiplicative Gaussian noise.
* CODIS (online codistillation, Anil et al., 2018): student and teacher learn together from scratch, each from the
  labels and from the other's current distribution, ``CE + w * KL(p_other || p_self)``. No public code exists;
  ours follows the paper's loss with the distillation weight ``codis_weight`` from the first step.

MIMIC, DISTN and NOISY distil from a teacher pretrained by Eq. 1 (supervised) and frozen
(:class:`FrozenTeacherKD`): where the teacher's forward pass is deterministic, the training loop computes its logits
on the training set once and hands each minibatch its rows (:class:`TeacherBatch`) instead of running the teacher on
every minibatch (:meth:`advdist_lab.methods.loop.Trainer.frozen_teacher_logits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..losses import cross_entropy, hinton_kd_loss, kl_loss, l2_logit_loss, noisy_teacher_logits
from .base import Batch, Method, Players, StepContext, Terms


@dataclass
class TeacherBatch(Batch):
    """A minibatch with ``teacher_logits``, the frozen teacher's logits on its ``x``, computed beforehand."""

    teacher_logits: torch.Tensor | None = None


def _teacher_logits(players: Players, batch: Batch) -> torch.Tensor:
    if isinstance(batch, TeacherBatch) and batch.teacher_logits is not None:
        return batch.teacher_logits
    with torch.no_grad():
        return players.teacher(batch.x)


class FrozenTeacherKD(Method):
    """A KD baseline whose teacher is pretrained and then frozen: the main loop never trains it (``k_t = 0``), so
    its logits on an image do not change during the run, and the loop may hand them in a :class:`TeacherBatch`."""


class Mimic(FrozenTeacherKD):
    name = "mimic"

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        return Terms(distillation=l2_logit_loss(players.student(batch.xs), _teacher_logits(players, batch)))


class Distn(FrozenTeacherKD):
    name = "distn"

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        cfg = ctx.config
        logits = players.student(batch.xs)
        soft = hinton_kd_loss(logits, _teacher_logits(players, batch), batch.y, cfg.distn_temperature, alpha=1.0)
        return Terms(
            distillation=cfg.distn_alpha * soft, supervised=(1 - cfg.distn_alpha) * cross_entropy(logits, batch.y)
        )


class Noisy(FrozenTeacherKD):
    name = "noisy"

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        target = noisy_teacher_logits(_teacher_logits(players, batch), ctx.config.noisy_sigma, ctx.generator)
        return Terms(distillation=l2_logit_loss(players.student(batch.xs), target))


class Codis(Method):
    name = "codis"
    teacher_pretrained = False

    def teacher_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        logits = players.teacher(batch.x)
        with torch.no_grad():
            other = players.student(batch.xs)
        return Terms(
            distillation=ctx.config.codis_weight * kl_loss(other, logits), supervised=cross_entropy(logits, batch.y)
        )

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        logits = players.student(batch.xs)
        return Terms(
            distillation=ctx.config.codis_weight * kl_loss(_teacher_logits(players, batch), logits),
            supervised=cross_entropy(logits, batch.y),
        )
