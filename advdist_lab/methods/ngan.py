"""NGAN (TPAMI Eq. 3; KDGAN's NaGAN): a student and a binary discriminator, no teacher.

``min_S max_D E_{y~p_r}[log D(x, y)] + E_{y~p_s}[log(1 - D(x, y))]``. The discriminator sees the privileged view
``x`` (it "makes use of privileged provisions in the same way as the teacher") and the student's labels as
discrete samples; the student's gradient goes through the configured estimator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import ngan_discriminator_loss
from .adversarial import adversarial_term
from .base import Batch, Method, Players, StepContext, Terms, binary_head, hard_sample, label_scores


def log_one_minus_d(head: torch.Tensor):
    """``y -> log(1 - D(x, y)) = logsigmoid(-<y, g(x)>)`` for the fixed logits ``g(x)`` of one batch."""
    head = head.detach()
    return lambda y: F.logsigmoid(-label_scores(head, y))


class Ngan(Method):
    name = "ngan"
    discriminator_kind = "binary"
    student_adversarial = True

    def discriminator_loss(self, players: Players, batch: Batch, ctx: StepContext) -> torch.Tensor:
        head = binary_head(players.discriminator, batch.x)
        with torch.no_grad():
            fake = hard_sample(players.student(batch.xs), ctx)
        return ngan_discriminator_loss(label_scores(head, batch.y), label_scores(head, fake))

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        logits = players.student(batch.xs)
        with torch.no_grad():
            head = binary_head(players.discriminator, batch.x)
        return Terms(adversarial=adversarial_term(logits, log_one_minus_d(head), ctx))
