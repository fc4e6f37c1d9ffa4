"""KDGAN (NeurIPS 2018, ``003_...``), Eq. 3-5: its value function, its optimum and its distillation losses.

KDGAN's game is ADIB's (TPAMI Eq. 4) with ``omega_s = alpha`` and its own distillation losses ``L_DS``; the
conventions are those of :mod:`.distributions`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..hparams import check_choice, check_nonnegative, check_real
from .distributions import LOG4, as_discriminator, as_distributions, js_per_context, kl_per_context, reduce_contexts

KDGAN_DISTILLATION = ("kl", "l2")


def _kdgan_ds(learner: Tensor, target: Tensor, kind: str) -> Tensor:
    if kind == "kl":
        return kl_per_context(target, learner)
    # L2 between logits, which are defined up to an additive constant: compare centred log-probabilities.
    a, b = torch.log(learner), torch.log(target)
    diff = (a - a.mean(-1, keepdim=True)) - (b - b.mean(-1, keepdim=True))
    return 0.5 * (diff**2).sum(-1)


def check_alpha(alpha: object) -> float:
    """KDGAN's mixing weight of the classifier (Eq. 3, 4) as a float in ``(0, 1)``, else ``ValueError``."""
    alpha = check_real("alpha", alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (KDGAN Eq. 3) (got {alpha!r})")
    return alpha


def check_kdgan_weights(alpha: object, beta: object, gamma: object, distillation: str) -> tuple[float, float, float]:
    """KDGAN's ``alpha`` in ``(0, 1)``, ``beta, gamma >= 0`` and a known distillation loss (Eq. 3), else ``ValueError``;
    returns ``(alpha, beta, gamma)`` as floats."""
    alpha = check_alpha(alpha)
    check_choice("distillation", distillation, KDGAN_DISTILLATION)
    return alpha, check_nonnegative("beta", beta), check_nonnegative("gamma", gamma)


def kdgan_distillation_loss(learner: object, target: object, kind: str = "kl", reduction: str = "mean") -> Tensor:
    """KDGAN's ``L_DS(learner, target)``: ``KL(target || learner)`` or the L2 loss between (centred) logits.

    Both are zero if and only if ``learner == target``, which is all Theorem 4.2 needs. ``kind="l2"`` needs
    strictly positive distributions (logits are their logarithms).
    """
    learner, target = as_distributions(learner=learner, target=target)
    check_choice("kind", kind, KDGAN_DISTILLATION)
    if kind == "l2" and ((learner <= 0).any() or (target <= 0).any()):
        raise ValueError("the L2 loss on logits needs strictly positive distributions (got a zero entry)")
    return reduce_contexts(_kdgan_ds(learner, target, kind), reduction)


def kdgan_value(
    p_u: object,
    p_c: object,
    p_t: object,
    d: object,
    alpha: float,
    beta: float,
    gamma: float,
    distillation: str = "kl",
    reduction: str = "mean",
) -> Tensor:
    """KDGAN Eq. 3: ``U = E_{p_u}[log d] + alpha E_{p_c}[log(1 - d)] + (1 - alpha) E_{p_t}[log(1 - d)]
    + beta L_DS^c(p_c, p_t) + gamma L_DS^t(p_t, p_c)``.

    ``p_u`` is the true distribution, ``p_c`` the classifier (student) and ``p_t`` the teacher. It is
    :func:`adib_value` with ``omega_s = alpha`` and KDGAN's distillation losses.
    """
    p_u, p_c, p_t = as_distributions(p_u=p_u, p_c=p_c, p_t=p_t)
    d = as_discriminator(d, tuple(p_u.shape)).to(p_u.dtype)
    alpha, beta, gamma = check_kdgan_weights(alpha, beta, gamma, distillation)
    if distillation == "l2":
        kdgan_distillation_loss(p_c, p_t, "l2")
    value = torch.xlogy(p_u, d).sum(-1) + torch.xlogy(alpha * p_c + (1 - alpha) * p_t, 1 - d).sum(-1)
    if beta:
        value = value + beta * _kdgan_ds(p_c, p_t, distillation)
    if gamma:
        value = value + gamma * _kdgan_ds(p_t, p_c, distillation)
    return reduce_contexts(value, reduction)


def kdgan_optimal_value(
    p_u: object,
    p_c: object,
    p_t: object,
    alpha: float,
    beta: float,
    gamma: float,
    distillation: str = "kl",
    reduction: str = "mean",
) -> Tensor:
    """KDGAN Eq. 5: ``2 L_JS(p_u || p_alpha) - log 4 + beta L_DS^c + gamma L_DS^t`` with
    ``p_alpha = alpha p_c + (1 - alpha) p_t`` (Eq. 4)."""
    p_u, p_c, p_t = as_distributions(p_u=p_u, p_c=p_c, p_t=p_t)
    alpha, beta, gamma = check_kdgan_weights(alpha, beta, gamma, distillation)
    if distillation == "l2":
        kdgan_distillation_loss(p_c, p_t, "l2")
    value = 2 * js_per_context(p_u, alpha * p_c + (1 - alpha) * p_t) - LOG4
    if beta:
        value = value + beta * _kdgan_ds(p_c, p_t, distillation)
    if gamma:
        value = value + gamma * _kdgan_ds(p_t, p_c, distillation)
    return reduce_contexts(value, reduction)
