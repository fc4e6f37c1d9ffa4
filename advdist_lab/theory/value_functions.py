"""The value functions of NGAN (Eq. 3), ADIB (Eq. 4) and ADIM (Eq. 6), their optima and equilibria.

Each game's value at a given discriminator, its value at the optimal discriminator in the closed form of the
proofs (Lemma 4.1 / Theorem 4.2, Lemma 4.3 / Theorem 4.4), the equilibrium values, and the limits of Lemmas 4.6
and 4.7. References are to the TPAMI paper (``000_...``); conventions (a distribution's last dimension is the
label space, ``reduction`` over contexts, checked inputs) are those of :mod:`.distributions`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..hparams import check_binary_omega, check_choice, check_nonnegative, check_omega, check_real
from .distributions import (
    DIST_ATOL,
    LOG4,
    as_discriminator,
    as_distributions,
    generalized_js,
    generalized_js_per_context,
    js_per_context,
    kd_loss,
    kd_loss_per_context,
    reduce_contexts,
)


def _distillation(p_r: Tensor, p_s: Tensor, p_t: Tensor, nu: float, mu: float, upsilon: float) -> Tensor:
    total = torch.zeros(p_r.shape[:-1], dtype=p_r.dtype)
    if nu:
        total = total + nu * kd_loss_per_context(p_t, p_s, p_r, upsilon)
    if mu:
        total = total + mu * kd_loss_per_context(p_s, p_t, p_r, upsilon)
    return total


def _weights(nu: float, mu: float, upsilon: float) -> tuple[float, float, float]:
    return check_nonnegative("nu", nu), check_nonnegative("mu", mu), check_nonnegative("upsilon", upsilon)


def ngan_value(p_r: object, p_s: object, d: object, reduction: str = "mean") -> Tensor:
    """Eq. 3: ``V_NGAN = E_{y~p_r}[log D(x, y)] + E_{y~p_s}[log(1 - D(x, y))]``."""
    p_r, p_s = as_distributions(p_r=p_r, p_s=p_s)
    d = as_discriminator(d, tuple(p_r.shape)).to(p_r.dtype)
    return reduce_contexts(torch.xlogy(p_r, d).sum(-1) + torch.xlogy(p_s, 1 - d).sum(-1), reduction)


def ngan_optimal_value(p_r: object, p_s: object, reduction: str = "mean") -> Tensor:
    """Eq. 3 at the optimal discriminator (Lemma 4.1 with ``p_omega = p_s``): ``2 JS(p_r || p_s) - log 4``."""
    p_r, p_s = as_distributions(p_r=p_r, p_s=p_s)
    return reduce_contexts(2 * js_per_context(p_r, p_s) - LOG4, reduction)


def adib_value(
    p_r: object,
    p_s: object,
    p_t: object,
    d: object,
    omega_s: float,
    omega_t: float,
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Eq. 4 with the Eq. 2 distillation losses:

    ``V_ADIB = E_{p_r}[log D] + omega_s E_{p_s}[log(1 - D)] + omega_t E_{p_t}[log(1 - D)]
    + nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``, with ``omega_s + omega_t = 1``.
    """
    p_r, p_s, p_t = as_distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    d = as_discriminator(d, tuple(p_r.shape)).to(p_r.dtype)
    omega_s, omega_t = check_binary_omega(omega_s, omega_t)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    adversarial = torch.xlogy(p_r, d).sum(-1) + torch.xlogy(omega_s * p_s + omega_t * p_t, 1 - d).sum(-1)
    return reduce_contexts(adversarial + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


def adib_optimal_value(
    p_r: object,
    p_s: object,
    p_t: object,
    omega_s: float,
    omega_t: float,
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Eq. 4 at the optimal discriminator, in the closed form of the proof of Theorem 4.2:

    ``2 JS(p_r || p_omega) - log 4 + nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``.
    """
    p_r, p_s, p_t = as_distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    omega_s, omega_t = check_binary_omega(omega_s, omega_t)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    p_omega = omega_s * p_s + omega_t * p_t
    adversarial = 2 * js_per_context(p_r, p_omega) - LOG4
    return reduce_contexts(adversarial + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


def adib_equilibrium_value() -> float:
    """Theorem 4.2 (and KDGAN Theorem 4.2): the value of ADIB at its equilibrium, ``-log 4``."""
    return -LOG4


def ngan_equilibrium_value() -> float:
    """The value of NGAN's game (Eq. 3) at its equilibrium ``p_s = p_r``: ``-log 4``."""
    return -LOG4


def _check_d3(d: object, shape: tuple[int, ...]) -> Tensor:
    t = as_discriminator(d, (3, *shape))
    err = (t.sum(0) - 1).abs().max().item()
    if err > DIST_ATOL:
        raise ValueError(
            f"d must satisfy sum_i D_i(x, y) = 1 (Eq. 6 constraint) within {DIST_ATOL:g} (got off by {err:.3g})"
        )
    return t


def adim_value(
    p_r: object,
    p_s: object,
    p_t: object,
    d: object,
    omega: Sequence[float],
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Eq. 6 with the Eq. 2 distillation losses:

    ``V_ADIM = sum_{i in {r,s,t}} omega_i E_{p_i}[log D_i] + nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``,
    where ``d`` has shape ``(3, *p.shape)`` (real, student, teacher) and ``sum_i D_i = 1``.
    """
    p_r, p_s, p_t = as_distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    d = _check_d3(d, tuple(p_r.shape)).to(p_r.dtype)
    w = check_omega(omega)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    adversarial = sum(wi * torch.xlogy(pi, di).sum(-1) for wi, pi, di in zip(w, (p_r, p_s, p_t), d))
    return reduce_contexts(adversarial + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


def adim_optimal_value(
    p_r: object,
    p_s: object,
    p_t: object,
    omega: Sequence[float],
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Eq. 6 at the optimal discriminator, in the closed form of the proof of Theorem 4.4:

    ``sum_i omega_i log omega_i + sum_i omega_i KL(p_i || p_bar) + nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)``.
    """
    p_r, p_s, p_t = as_distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    w = check_omega(omega)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    constant = sum(wi * math.log(wi) for wi in w)
    adversarial = constant + generalized_js_per_context((p_r, p_s, p_t), w)
    return reduce_contexts(adversarial + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


def adim_equilibrium_value(omega: Sequence[float]) -> float:
    """Theorem 4.4: the value of ADIM at its equilibrium, ``log(omega_r^omega_r omega_s^omega_s omega_t^omega_t)``."""
    return float(sum(w * math.log(w) for w in check_omega(omega)))


def adim_divergence(p_r: object, p_s: object, p_t: object, omega: Sequence[float], reduction: str = "mean") -> Tensor:
    """The divergence part of ADIM's optimal adversarial value: ``V*_ADIM - sum_i omega_i log omega_i``.

    Equal to ``generalized_js((p_r, p_s, p_t), omega)``; this is the quantity whose limits Lemmas 4.6 and 4.7
    are about (the constant must be subtracted first: ``V*_ADIM / omega_t`` itself diverges as omega_s -> 1).
    """
    return generalized_js((p_r, p_s, p_t), check_omega(omega), reduction)


def lemma_omega(player: str, epsilon: float, upsilon: float) -> tuple[float, float, float]:
    """The omega on the path of Lemma 4.6 (``player="student"``) or 4.7 (``player="teacher"``).

    Lemma 4.6 lets ``omega_s = 1 - epsilon -> 1`` with ``omega_r / omega_t = upsilon`` fixed; Lemma 4.7 lets
    ``omega_t = 1 - epsilon -> 1`` with ``omega_r / omega_s = upsilon`` fixed. Needs ``0 < epsilon < 1`` and
    ``upsilon > 0``.
    """
    check_choice("player", player, ("student", "teacher"))
    eps = check_real("epsilon", epsilon)
    if not 0 < eps < 1:
        raise ValueError(f"epsilon must be in (0, 1) (got {eps!r})")
    u = check_real("upsilon", upsilon)
    if u <= 0:
        raise ValueError(f"upsilon must be > 0 on the path of Lemmas 4.6 and 4.7 (got {u!r})")
    r, other = u * eps / (1 + u), eps / (1 + u)
    return (r, 1 - eps, other) if player == "student" else (r, other, 1 - eps)


def lemma_limit(player: str, p_r: object, p_s: object, p_t: object, upsilon: float, reduction: str = "mean") -> Tensor:
    """The right-hand side of Lemma 4.6 (student) or 4.7 (teacher): the distillation loss of Eq. 2.

    Student (Eq. 12): ``KL(p_t || p_s) + upsilon KL(p_r || p_s)``; teacher (Eq. 13):
    ``KL(p_s || p_t) + upsilon KL(p_r || p_t)``.
    """
    check_choice("player", player, ("student", "teacher"))
    if player == "student":
        return kd_loss(p_t, p_s, p_r, upsilon, reduction)
    return kd_loss(p_s, p_t, p_r, upsilon, reduction)


def lemma_scaled_divergence(
    player: str, p_r: object, p_s: object, p_t: object, omega: Sequence[float], reduction: str = "mean"
) -> Tensor:
    """The left-hand side of Lemma 4.6 / 4.7 at a given omega, stated precisely:

    ``(V*_ADIM - sum_i omega_i log omega_i) / omega_t`` for the student (Lemma 4.6) and the same divided by
    ``omega_s`` for the teacher (Lemma 4.7). Along :func:`lemma_omega` it converges to :func:`lemma_limit`.
    """
    check_choice("player", player, ("student", "teacher"))
    w = check_omega(omega)
    scale = w[2] if player == "student" else w[1]
    return adim_divergence(p_r, p_s, p_t, w, reduction) / scale
