"""The exact games' values and closed-form gradients with respect to the players' logits.

The players are parameterised by logits: ``p_s = softmax(theta_s)``, ``p_t = softmax(theta_t)`` over the last
dimension; the binary discriminator (NGAN Eq. 3, ADIB Eq. 4) is ``D = sigmoid(phi)`` with one logit per
context and label, the multi-class discriminator (ADIM Eq. 6) is ``D = softmax(phi)`` over its first dimension
of size 3 (real, student, teacher), so the constraint ``sum_i D_i = 1`` holds by construction.

Gradients are exact (enumeration over labels, no sampling) and written in closed form; :func:`game_gradients`
exposes them and the tests compare them with autograd of the value functions in :mod:`.value_functions`. With a
temperature, the players' adversarial gradients are the Gumbel-Softmax estimates of TPAMI Eq. 10 instead.
:class:`ExactGame` is what :func:`~advdist_lab.theory.solver.solve_game` steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..gumbel import sample_gumbel
from ..hparams import GameHParams, Omega, check_choice
from .distributions import (
    LOG4,
    as_distribution,
    generalized_js_per_context,
    js_per_context,
    kd_loss_per_context,
)
from .small_ops import log_softmax, logsigmoid, softmax


def _vjp_softmax(p: Tensor, g: Tensor) -> Tensor:
    """Gradient with respect to logits of a function whose gradient with respect to ``p = softmax`` is ``g``."""
    return p * (g - (p * g).sum(-1, keepdim=True))


class ExactGame:
    """Value and gradients of one method at given logits, without input checks.

    The caller checks its inputs first: :func:`game_hparams` for the hyperparameters, ``p_r`` and ``p_teacher``
    with :func:`~advdist_lab.theory.distributions.as_distribution` (as :func:`game_gradients` and
    :func:`~advdist_lab.theory.solver.solve_game` do). ``tau`` (with ``samples`` and ``generator``) switches the
    players' adversarial gradients to Gumbel-Softmax estimates.
    """

    def __init__(
        self,
        hp: GameHParams,
        p_r: Tensor,
        p_teacher: Tensor | None,
        tau: float | None = None,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        self.hp = hp
        self.p_r = p_r
        self.p_teacher = p_teacher
        self.upsilon = hp.upsilon
        self.tau = tau
        self.samples = samples
        self.generator = generator

    def _adversarial_gradient(self, p: Tensor, log_p: Tensor, reward: Tensor) -> Tensor:
        """Gradient w.r.t. the logits of ``E_{y ~ p}[reward(y)]``: exact, or by the Gumbel-Softmax trick.

        With ``tau`` set, ``samples`` relaxed samples ``y = softmax((log p + g) / tau)`` (TPAMI Eq. 10) replace the
        expectation by ``<y, reward>`` and its pathwise gradient ``y * (reward - <y, reward>) / tau`` is averaged:
        a biased estimate for ``tau > 0`` (its mean is not the exact gradient), noisy for small ``tau``.
        """
        if self.tau is None:
            return _vjp_softmax(p, reward)
        g = sample_gumbel((self.samples, *p.shape), generator=self.generator, dtype=p.dtype)
        y = softmax((log_p + g) / self.tau, -1)
        return (y * (reward - (y * reward).sum(-1, keepdim=True))).mean(0) / self.tau

    # the distillation part (Eq. 2, 4, 6) and its gradients ------------------------------------------------
    def _distillation(self, p_s: Tensor, log_s: Tensor, p_t: Tensor, log_t: Tensor) -> Tensor:
        hp, p_r = self.hp, self.p_r
        xlogx_r = torch.xlogy(p_r, p_r).sum(-1)
        total = torch.zeros(p_r.shape[:-1], dtype=p_r.dtype)
        if hp.nu:
            loss = (p_t * (log_t - log_s)).sum(-1)
            if hp.upsilon:
                loss = loss + hp.upsilon * (xlogx_r - (p_r * log_s).sum(-1))
            total = total + hp.nu * loss
        if hp.mu:
            loss = (p_s * (log_s - log_t)).sum(-1)
            if hp.upsilon:
                loss = loss + hp.upsilon * (xlogx_r - (p_r * log_t).sum(-1))
            total = total + hp.mu * loss
        return total

    def _distillation_grads(self, p_s: Tensor, log_s: Tensor, p_t: Tensor, log_t: Tensor) -> tuple[Tensor, Tensor]:
        hp, u, p_r = self.hp, self.upsilon, self.p_r
        g_s = torch.zeros_like(p_s)
        g_t = torch.zeros_like(p_t)
        if hp.nu:  # nu [KL(p_t || p_s) + u KL(p_r || p_s)]
            g_s = g_s + hp.nu * ((1 + u) * p_s - p_t - u * p_r)
            g_t = g_t + hp.nu * _vjp_softmax(p_t, log_t - log_s)
        if hp.mu:  # mu [KL(p_s || p_t) + u KL(p_r || p_t)]
            g_s = g_s + hp.mu * _vjp_softmax(p_s, log_s - log_t)
            g_t = g_t + hp.mu * ((1 + u) * p_t - p_s - u * p_r)
        return g_s, g_t

    # value and gradients of the whole game --------------------------------------------------------------
    def value(self, th_s: Tensor, th_t: Tensor | None, phi: Tensor | None) -> Tensor:
        """Per-context value of the game at the given logits."""
        hp, p_r = self.hp, self.p_r
        log_s = log_softmax(th_s, -1)
        p_s = log_s.exp()
        if hp.method == "kd":
            return kd_loss_per_context(self.p_teacher, p_s, p_r, self.upsilon)
        if hp.method == "ngan":
            return (p_r * logsigmoid(phi)).sum(-1) + (p_s * logsigmoid(-phi)).sum(-1)
        log_t = log_softmax(th_t, -1)
        p_t = log_t.exp()
        if hp.method == "adib":
            fake = hp.omega_s * p_s + hp.omega_t * p_t
            adversarial = (p_r * logsigmoid(phi)).sum(-1) + (fake * logsigmoid(-phi)).sum(-1)
        else:
            log_d = log_softmax(phi, 0)
            adversarial = sum(w * (p * ld).sum(-1) for w, p, ld in zip(hp.omega, (p_r, p_s, p_t), log_d))
        return adversarial + self._distillation(p_s, log_s, p_t, log_t)

    def optimal_value(self, th_s: Tensor, th_t: Tensor | None) -> Tensor:
        """Per-context value with the optimal discriminator (Lemma 4.1 / 4.3): Theorems 4.2 and 4.4 in closed form."""
        hp, p_r = self.hp, self.p_r
        log_s = log_softmax(th_s, -1)
        p_s = log_s.exp()
        if hp.method == "kd":
            return kd_loss_per_context(self.p_teacher, p_s, p_r, self.upsilon)
        if hp.method == "ngan":
            return 2 * js_per_context(p_r, p_s) - LOG4
        log_t = log_softmax(th_t, -1)
        p_t = log_t.exp()
        if hp.method == "adib":
            adversarial = 2 * js_per_context(p_r, hp.omega_s * p_s + hp.omega_t * p_t) - LOG4
        else:
            constant = sum(w * math.log(w) for w in hp.omega)
            adversarial = constant + generalized_js_per_context((p_r, p_s, p_t), hp.omega)
        return adversarial + self._distillation(p_s, log_s, p_t, log_t)

    def optimal_phi(self, th_s: Tensor, th_t: Tensor | None) -> Tensor:
        """Logits of the optimal discriminator, clamped to stay finite where a probability is zero."""
        p_s = softmax(th_s, -1)
        tiny = torch.finfo(p_s.dtype).tiny
        if self.hp.method == "ngan":
            return (torch.log(self.p_r + tiny) - torch.log(p_s + tiny)).clamp(-50, 50)
        p_t = softmax(th_t, -1)
        if self.hp.method == "adib":
            fake = self.hp.omega_s * p_s + self.hp.omega_t * p_t
            return (torch.log(self.p_r + tiny) - torch.log(fake + tiny)).clamp(-50, 50)
        weighted = torch.stack([w * p for w, p in zip(self.hp.omega, (self.p_r, p_s, p_t))])
        return torch.log(weighted + tiny).clamp_min(-100)

    def discriminator(self, phi: Tensor | None) -> Tensor | None:
        """The discriminator's probabilities at ``phi``: sigmoid (binary) or softmax over real, student, teacher."""
        if phi is None:
            return None
        return softmax(phi, 0) if self.hp.method == "adim" else torch.sigmoid(phi)

    def gradients(
        self, th_s: Tensor, th_t: Tensor | None, phi: Tensor | None, players: tuple[str, ...]
    ) -> dict[str, Tensor]:
        """Gradients of the per-context value with respect to the logits of the requested players."""
        hp, p_r = self.hp, self.p_r
        log_s = log_softmax(th_s, -1)
        p_s = log_s.exp()
        out: dict[str, Tensor] = {}
        if hp.method == "kd":
            if "student" in players:
                out["student"] = (1 + self.upsilon) * p_s - self.p_teacher - self.upsilon * p_r
            return out
        if hp.method == "ngan":
            if "student" in players:
                out["student"] = self._adversarial_gradient(p_s, log_s, logsigmoid(-phi))
            if "discriminator" in players:
                out["discriminator"] = p_r * torch.sigmoid(-phi) - p_s * torch.sigmoid(phi)
            return out
        log_t = log_softmax(th_t, -1)
        p_t = log_t.exp()
        if hp.method == "adib":
            log_fake = logsigmoid(-phi)
            adv_s, adv_t = hp.omega_s * log_fake, hp.omega_t * log_fake
            if "discriminator" in players:
                fake = hp.omega_s * p_s + hp.omega_t * p_t
                out["discriminator"] = p_r * torch.sigmoid(-phi) - fake * torch.sigmoid(phi)
        else:
            log_d = log_softmax(phi, 0)
            adv_s, adv_t = hp.omega_s * log_d[1], hp.omega_t * log_d[2]
            if "discriminator" in players:
                weighted = torch.stack([w * p for w, p in zip(hp.omega, (p_r, p_s, p_t))])
                out["discriminator"] = weighted - log_d.exp() * weighted.sum(0, keepdim=True)
        if "student" in players or "teacher" in players:
            g_s, g_t = self._distillation_grads(p_s, log_s, p_t, log_t)
            out["student"] = self._adversarial_gradient(p_s, log_s, adv_s) + g_s
            out["teacher"] = self._adversarial_gradient(p_t, log_t, adv_t) + g_t
        return out


def game_hparams(method: str, omega: object, nu: float, mu: float, upsilon: float) -> GameHParams:
    """The validated :class:`~advdist_lab.hparams.GameHParams` of a game, with ``omega`` as each method takes it.

    ``omega``: ``None`` (equal weights), ADIM's ``(omega_r, omega_s, omega_t)`` or an
    :class:`~advdist_lab.hparams.Omega`, ADIB's ``(omega_s, omega_t)``; KD and NGAN take none. ``ValueError``
    names the constraint that fails.
    """
    check_choice("method", method, ("kd", "ngan", "adib", "adim"))
    if isinstance(omega, Omega):
        omega = omega.as_tuple()
    if omega is None:
        return GameHParams(method, nu=nu, mu=mu, upsilon=upsilon)
    if method == "adim":
        if not hasattr(omega, "__len__") or len(omega) != 3:  # type: ignore[arg-type]
            raise ValueError(f"ADIM's omega must be (omega_r, omega_s, omega_t) (got {omega!r})")
        r, s, t = omega  # type: ignore[misc]
        return GameHParams(method, r, s, t, nu=nu, mu=mu, upsilon=upsilon)
    if method == "adib":
        if not hasattr(omega, "__len__") or len(omega) != 2:  # type: ignore[arg-type]
            raise ValueError(f"ADIB's omega must be (omega_s, omega_t) with omega_s + omega_t = 1 (got {omega!r})")
        s, t = omega  # type: ignore[misc]
        return GameHParams(method, None, s, t, nu=nu, mu=mu, upsilon=upsilon)
    raise ValueError(f"{method.upper()} takes no omega (got omega={omega!r})")


def game_gradients(
    p_r: object,
    method: str,
    theta_s: Tensor,
    theta_t: Tensor | None = None,
    phi: Tensor | None = None,
    *,
    omega: object = None,
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    p_teacher: object = None,
) -> dict[str, Tensor]:
    """Closed-form gradients of each context's value with respect to the players' logits.

    Returns a dict with keys ``student`` (and ``teacher`` for ADIB/ADIM, ``discriminator`` for NGAN, ADIB,
    ADIM). Used by :func:`solve_game`; public so that tests and notebooks can check them against autograd.
    """
    p_r = as_distribution(p_r, "p_r")
    hp = game_hparams(method, omega, nu, mu, upsilon)
    if method == "kd" and p_teacher is None:
        raise ValueError("method='kd' distils from a fixed teacher: pass p_teacher (the teacher's distribution)")
    teacher = None if p_teacher is None else as_distribution(p_teacher, "p_teacher").to(p_r.dtype)
    players = ("student", "teacher", "discriminator")
    return ExactGame(hp, p_r, teacher).gradients(theta_s, theta_t, phi, players)
