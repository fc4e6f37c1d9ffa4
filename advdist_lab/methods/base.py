"""What every method shares: the players, a minibatch, the step context and the losses a step returns.

A method (:class:`Method`) says how to compute three losses on a minibatch, one per player:

* ``discriminator_loss``: the negated value function that the discriminator ascends (Algorithm 1, line 5);
* ``teacher_loss`` and ``student_loss``: the value function that each generator descends (lines 8 and 11),
  returned as :class:`Terms` so that the adversarial and the distillation parts stay separate (the gradient
  probes of the course take their gradients one at a time).

The shared training loop (:mod:`advdist_lab.methods.loop`) decides when each is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..gumbel import categorical_sample, member_draw
from ..models.discriminators import label_score


@dataclass
class Players:
    """The student ``S``, the teacher ``T`` and the discriminator ``D`` of a run (``None`` where a method has none)."""

    student: nn.Module
    teacher: nn.Module | None = None
    discriminator: nn.Module | None = None

    def items(self) -> list[tuple[str, nn.Module]]:
        return [
            (n, m)
            for n, m in (("student", self.student), ("teacher", self.teacher), ("discriminator", self.discriminator))
            if m is not None
        ]


@dataclass
class Batch:
    """A minibatch: ``x`` the privileged view (teacher, discriminator), ``xs`` the student's view, labels ``y``."""

    x: torch.Tensor
    xs: torch.Tensor
    y: torch.Tensor


@dataclass
class StepContext:
    """What a loss needs besides the batch: the epoch's temperature, the run's random generator and config."""

    tau: float
    generator: torch.Generator
    config: object  # the resolved TrainConfig
    num_classes: int


@dataclass
class Terms:
    """A generator's loss in parts, each already multiplied by its weight; ``None`` where a method has no such part."""

    adversarial: torch.Tensor | None = None
    distillation: torch.Tensor | None = None
    supervised: torch.Tensor | None = None

    @property
    def total(self) -> torch.Tensor:
        parts = [t for t in (self.adversarial, self.distillation, self.supervised) if t is not None]
        if not parts:
            raise ValueError("a generator's loss needs at least one term")
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total

    def logged(self) -> dict[str, torch.Tensor]:
        out = {"loss": self.total.detach()}
        for name in ("adversarial", "distillation", "supervised"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.detach()
        return out


def hard_sample(logits: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """A discrete label drawn from ``softmax(logits)``, as the discriminator sees the generators' labels (per member,
    each from its own generator, when ``ctx.generator`` is a sequence: :func:`advdist_lab.gumbel.member_draw`).

    The original KDGAN code fed the discriminator discrete samples; a relaxed sample would let it tell fake from
    real by softness alone (``shared/papers/README.md``).
    """
    return member_draw(categorical_sample, logits.detach(), ctx.generator)


def label_scores(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`~advdist_lab.models.discriminators.label_score` ``<y, g(x)>`` of Eq. 16, also over a leading member
    dimension: logits ``(M, B, K)`` and labels ``(M, B)`` or ``(M, B, K)`` give ``(M, B)`` (the batched members of
    :mod:`advdist_lab.runs.ensemble`); ``(B, K)`` logits go to ``label_score`` unchanged."""
    if logits.dim() != 3:
        return label_score(logits, y)
    members, batch = logits.shape[:2]
    if tuple(y.shape[:2]) != (members, batch):
        raise ValueError(
            f"labels for (M, B, K) logits must start with (M, B) = {(members, batch)} (got {tuple(y.shape)})"
        )
    return label_score(logits.flatten(0, 1), y.flatten(0, 1)).view(members, batch)


class Method:
    """A method of TPAMI Table 1: which players it has and the loss each of them minimises."""

    name: ClassVar[str] = ""
    discriminator_kind: ClassVar[str | None] = None  # None, "binary" or "multiclass"
    teacher_pretrained: ClassVar[bool] = True  # the teacher starts from supervised pretraining
    student_adversarial: ClassVar[bool] = False  # the student's loss has an adversarial part (NGAN, ADIB, ADIM)

    def discriminator_loss(self, players: Players, batch: Batch, ctx: StepContext) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no discriminator")

    def teacher_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        raise NotImplementedError(f"{self.name} does not train its teacher in the main loop")

    def student_loss(self, players: Players, batch: Batch, ctx: StepContext) -> Terms:
        raise NotImplementedError


def binary_head(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The binary discriminator's logit for every label, ``g(x)`` of ``D(x, y) = sigmoid(<y, g(x)>)`` (Eq. 16)."""
    return discriminator.label_logits(x).float()  # fp32 under autocast: log-sigmoids of bf16 logits lose digits


def multiclass_heads(discriminator: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The multi-class discriminator's two heads for every label: real vs fake, then student vs teacher."""
    real_fake, student_teacher = discriminator.head_label_logits(x)
    return real_fake.float(), student_teacher.float()
