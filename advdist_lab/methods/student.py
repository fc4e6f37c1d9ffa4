"""The student trained alone on its own view: the reference every distillation method must beat.

``student`` minimises the supervised cross-entropy of Eq. 1 on the labels only, ``E_{(x, y)}[-log p_s(y | x_s)]``
on the student's view ``x_s`` (the same student architecture, optimiser, batch size and epochs as every other
method; no teacher, no discriminator, no pretraining). In the privileged setting (TPAMI Sec. 3, KDGAN Sec. 3:
the teacher and the discriminator see ``x``, the student a degraded view of it) a method helps only if its student
ends above this one (:mod:`advdist_lab.experiments.privileged`).
"""

from __future__ import annotations

from ..losses import cross_entropy
from .base import Batch, Method, Players, StepContext, Terms


class Student(Method):
    """Supervised learning of the student on its view (Eq. 1): ``Terms(supervised=CE(S(x_s), y))``."""

    name = "student"
    teacher_pretrained = False

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        return Terms(supervised=cross_entropy(players.student(batch.xs), batch.y))
