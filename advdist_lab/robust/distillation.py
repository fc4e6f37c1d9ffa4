"""The distillation stage shared by DFARD and DERD: adversarial examples of generated data and the KD loss.

DFARD (``001_...``) trains every method through "the same PGD-attack ... and the same distillation training loss"
("Baselines"); its Algorithm 1, lines 10-14: synthesise ``x_hat = g(z, y)``, make adversarial examples
``x_hat'`` and distil the student through **Eq. 5**::

    L_KD = sum_{x_hat' in X_hat'} KL( f_t(x_hat'; theta_t), f_s(x_hat'; theta_s), tau~ )

* :func:`kd_loss`: the KL at temperature ``tau``, ``tau^2 * KL(softmax(t / tau) || softmax(s / tau))`` averaged
  over the batch. The ``tau^2`` factor (Hinton et al. 2015) keeps the gradient's scale independent of ``tau``, so
  that ITA's changing temperature does not also change the step size; the paper writes no factor. We average
  over the batch where Eq. 5 writes a sum (the same up to the learning rate).
* :func:`adversarial_examples`: "A 10-step PGD (PGD-10) with a random start size of 0.001 and step size of 2/255
  ... L_inf norm eps = 8/255" ("Implementation details"). The paper does not say which loss the PGD ascends; we
  take the ARD/RSLAD choice for distillation: the student's divergence from the teacher on the clean image,
  ``KL(f_t(x_hat) || f_s(x_hat'))`` at temperature 1, starting from ``x_hat + 0.001 * N(0, I)``; the student is
  in eval mode and frozen while attacked (:func:`advdist_lab.robust.attacks.gradient.attack_mode`).
* Which teacher output Eq. 5 reads: it writes ``f_t(x_hat')``, the teacher on the adversarial example, and we
  follow it (RSLAD instead reads the teacher on the clean image; with a robust teacher the two are close).

The teachers both methods distil from are loaded frozen by :func:`load_frozen_teacher` and described in
``result.json`` by :func:`describe_teacher`; :func:`finite_loss` stops a run at the first loss that is not finite,
naming the player (``generator`` or ``student``) and the epoch as ``advdist-lab train`` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from advdist_lab.hparams import check_positive, check_positive_int
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust.attacks.gradient import attack_mode, project_linf, signed_ascent
from advdist_lab.robust.generation.dfard_loss import kl_divergence

__all__ = ["adversarial_examples", "describe_teacher", "finite_loss", "kd_loss", "load_frozen_teacher"]


def kd_loss(teacher_logits: torch.Tensor, student_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau^2 * KL(softmax(t / tau) || softmax(s / tau))``, mean over the batch (DFARD Eq. 5, module docstring):
    the ``KL_tau`` of the generator's Eq. 3 (:func:`advdist_lab.robust.generation.dfard_loss.kl_divergence`) on two
    ``(batch, C)`` logits of the same shape.

    Gradients flow to both arguments; pass ``teacher_logits.detach()`` for a fixed teacher.
    """
    if teacher_logits.shape != student_logits.shape or teacher_logits.dim() != 2:
        raise ValueError(
            "teacher_logits and student_logits must have the same shape (batch, C) "
            f"(got {tuple(teacher_logits.shape)} and {tuple(student_logits.shape)})"
        )
    return kl_divergence(teacher_logits, student_logits, tau)


def adversarial_examples(
    student: nn.Module,
    teacher_logits: torch.Tensor,
    x: torch.Tensor,
    *,
    eps: float,
    steps: int,
    step_size: float,
    start_std: float = 0.001,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD-``steps`` on ``KL(softmax(teacher_logits) || softmax(student(x')))`` inside the ``eps``-ball around ``x``
    and ``[0, 1]``, from ``x + start_std * N(0, I)`` (module docstring). Returns ``x'`` detached.

    ``teacher_logits`` are the teacher's logits on ``x`` (detached here). The student's mode and parameter
    flags are restored afterwards. The ascent is :func:`advdist_lab.robust.attacks.gradient.signed_ascent`, PGD_T's
    with the teacher's prediction as the target.
    """
    eps = check_positive("eps", eps)
    steps = check_positive_int("steps", steps)
    step_size = check_positive("step_size", step_size)
    start_std = check_positive("start_std", start_std)
    x = x.detach()
    target = F.softmax(teacher_logits.detach(), dim=1)
    noise = torch.randn(x.shape, generator=generator, device=generator.device if generator is not None else x.device)
    start = project_linf(x + start_std * noise.to(x.device), x, eps)

    def divergence(z: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(student(z), dim=1), target, reduction="sum")

    with attack_mode(student):
        return signed_ascent(student, x, start, divergence, eps, steps, step_size)


def load_frozen_teacher(path: str, data, device: torch.device):
    """The teacher at ``path`` (a run folder of ``robust-teacher`` or a model file, resolved by
    :func:`advdist_lab.robust.teacher.model_path` as the run's fingerprint is), in eval mode and frozen, checked
    against the data's classes and image shape. Returns ``(teacher, info)``."""
    from advdist_lab.robust.models import load_robust_model
    from advdist_lab.robust.teacher import model_path

    teacher, info = load_robust_model(model_path(path), device=device)
    if info["num_classes"] != data.num_classes or tuple(info["image_shape"]) != tuple(data.image_shape):
        raise ValueError(
            f"the teacher {path} was built for {info['num_classes']} classes of {tuple(info['image_shape'])} images, "
            f"not {data.name}'s {data.num_classes} classes of {tuple(data.image_shape)}"
        )
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher, info


def describe_teacher(path: str, model, info: dict) -> dict:
    """What ``result.json`` says of a teacher: its path, architecture, parameters (all: it is frozen) and the
    summary its model file carries."""
    return {
        "path": path,
        "arch": info["arch"],
        "parameters": sum(p.numel() for p in model.model.parameters()),
        "summary": info.get("summary", {}),
    }


def finite_loss(player: str, loss: torch.Tensor, epoch: int) -> float:
    """``loss`` as a float, or :class:`advdist_lab.methods.loop.NonFiniteLossError` ("the {player}'s loss is not
    finite in training epoch {epoch}") when it is NaN or infinite. Called before the step, so the player's
    parameters are never updated from a non-finite loss. ``epoch`` counts from 1."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(player, epoch)
    return value
