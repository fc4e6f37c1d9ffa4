"""DFARD's generator loss ``L_gen`` (``001_...``, "The Knowledge from the Data", Eq. 1, 3 and 6).

DFARD trains its generator ``x_hat = g(z, y)`` against the frozen teacher ``f_t`` and the current student ``f_s``
on two terms, both minimised by the generator:

* ``L_cls = CE(f_t(x_hat), y)`` (**Eq. 1**), the mean cross-entropy of the teacher on the label the image was
  generated for: the image must look like its class to the teacher. (The conditional generator's ``y``; DAFL,
  unconditional, used the teacher's own argmax as a pseudo-label, which Eq. 1 allows too.)
* ``L_adv = -KL_tau(f_t || f_s)`` (**Eq. 3**): the generator seeks the images on which the student disagrees
  most with the teacher. :func:`kl_divergence` is ``KL_tau(t || s) = tau^2 * (1/B) sum_i KL(softmax(t_i/tau) ||
  softmax(s_i/tau))`` with Hinton's ``tau^2`` scaling (so that its gradients keep their size as ``tau`` changes,
  as in the ``L_KD`` of Eq. 5).

and weighs them by **Eq. 6**, ``L_gen = lam * L_cls + (1 - lam) * L_adv`` (:func:`dfard_weights`). Both numbers
come from the caller: ``lam`` is Eq. 7 (AGB, :func:`advdist_lab.robust.ita_agb.adaptive_generator_balance`) or
Table 3's fixed ``0.3`` ("Vanilla"), ``tau`` is Eq. 4 (ITA, :func:`advdist_lab.robust.ita_agb.interactive_temperature`)
or the vanilla ``3``. :func:`advdist_lab.robust.generation.losses.generator_loss` computes the terms for DFARD and
for its baselines (:mod:`advdist_lab.robust.generation.baselines`).

**Numerics.** The KL is computed from log-softmax in float32 (float64 for float64 logits), so half-precision
logits under autocast are safe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from advdist_lab.hparams import check_real

__all__ = ["check_lam", "check_tau", "dfard_weights", "kl_divergence"]


def check_tau(tau: object) -> float:
    """``tau`` as a float ``> 0`` (the temperature of the adversarial KL, Eq. 3), else ``ValueError``."""
    value = check_real("tau", tau)
    if value <= 0:
        raise ValueError(f"tau must be > 0, the temperature of the adversarial KL (got {value!r})")
    return value


def check_lam(lam: object) -> float:
    """``lam`` as a float in ``[0, 1]`` (the weight of ``L_cls`` in Eq. 6), else ``ValueError``."""
    value = check_real("lam", lam)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], the weight of L_cls in DFARD Eq. 6 (got {value!r})")
    return value


def kl_divergence(teacher_logits: Tensor, student_logits: Tensor, tau: float) -> Tensor:
    """``tau^2 * (1/B) sum_i KL(softmax(t_i / tau) || softmax(s_i / tau))`` (DFARD Eq. 3 and 5, Hinton scaling).

    Gradients flow to both arguments. ``tau > 0``; inputs are ``(B, C)`` logits.
    """
    tau = check_tau(tau)
    dtype = torch.promote_types(teacher_logits.dtype, torch.float32)
    log_t = F.log_softmax(teacher_logits.to(dtype) / tau, dim=1)
    log_s = F.log_softmax(student_logits.to(dtype) / tau, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1).mean()
    return kl * tau**2


def dfard_weights(lam: object) -> dict[str, float]:
    """The weights of DFARD's Eq. 6, ``{"cls": lam, "adv": 1 - lam}``; ``lam`` in ``[0, 1]``."""
    lam = check_lam(lam)
    return {"cls": lam, "adv": 1.0 - lam}
