"""A small solver for the exact-distribution games of the TPAMI paper: gradient descent-ascent on logits.

The players are parameterised by logits: ``p_s = softmax(theta_s)``, ``p_t = softmax(theta_t)`` over the last
dimension; the binary discriminator (NGAN Eq. 3, ADIB Eq. 4) is ``D = sigmoid(phi)`` with one logit per
context and label, the multi-class discriminator (ADIM Eq. 6) is ``D = softmax(phi)`` over its first dimension
of size 3 (real, student, teacher), so the constraint ``sum_i D_i = 1`` holds by construction.

The student and teacher descend the value function, the discriminator ascends it. Gradients are exact
(enumeration over labels, no sampling) and written in closed form, so a 2,000-step game on 3 labels takes a
fraction of a second; :func:`game_gradients` exposes them and the tests compare them with autograd of the value
functions in :mod:`advdist_lab.theory`. Each context's logits follow the gradient of that context's own value
(``reduction="none"``), so the step size does not depend on how many contexts there are.

Modes:

* ``"simultaneous"``: every player steps on the gradient at the same point.
* ``"alternating"``: ``d_steps`` discriminator steps, then the student and teacher step against the updated
  discriminator (TPAMI Algorithm 1 with exact gradients).

``discriminator="optimal"`` replaces the learned discriminator by its closed form (Lemma 4.1 / 4.3) before
every generator step: the generators then descend the "virtual training criterion" ``V*``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..gumbel import sample_gumbel
from ..hparams import GameHParams, Omega, check_choice, check_positive, check_positive_int
from .distributions import (
    LOG4,
    as_distribution,
    generalized_js_per_context,
    js_per_context,
    kd_loss_per_context,
    kd_optimal_student,
    kl_per_context,
)
from .small_ops import flush_denormals, log_softmax, logsigmoid, softmax
from .value_functions import adim_equilibrium_value

MODES = ("simultaneous", "alternating")
DISCRIMINATORS = ("learned", "optimal")


@dataclass(frozen=True)
class GameTrajectory:
    """The record of one game. Tensors have the recorded steps as their first dimension.

    Attributes:
        method: ``kd``, ``ngan``, ``adib`` or ``adim``.
        hparams: the validated hyperparameters.
        p_r: the real distribution, shape ``(*contexts, labels)``.
        steps: step index of each record, shape ``(R,)``; step 0 is the initial point.
        p_s, p_t: student and teacher distributions, shape ``(R, *contexts, labels)`` (``p_t`` is the fixed
            teacher for KD and ``None`` for NGAN).
        d: discriminator probabilities, ``(R, *contexts, labels)`` (binary) or ``(R, 3, *contexts, labels)``
            (ADIM); ``None`` for KD.
        value: the value function at the recorded players and discriminator, ``(R,)``.
        optimal_value: the value with the optimal discriminator, ``V*`` (for KD: the KD loss), ``(R,)``.
        equilibrium_value: the value at the theoretical equilibrium (Theorems 4.2, 4.4; for KD the loss of
            :func:`~advdist_lab.theory.kd_optimal_student`).
        tau, samples: the Gumbel-Softmax temperature and samples per step of the players' adversarial gradients
            (``tau = None``: exact gradients).
    """

    method: str
    hparams: GameHParams
    mode: str
    p_r: Tensor
    steps: Tensor
    p_s: Tensor
    p_t: Tensor | None
    d: Tensor | None
    value: Tensor
    optimal_value: Tensor
    equilibrium_value: float
    tau: float | None = None
    samples: int = 1

    def _player(self, player: str) -> Tensor:
        p = self.p_s if player == "student" else self.p_t
        if p is None:
            raise ValueError(f"method {self.method!r} has no teacher (got player={player!r})")
        return p

    def kl_to_real(self, player: str = "student") -> Tensor:
        """``KL(p_r || p_player)`` at every record, averaged over contexts; ``player`` in student, teacher, mixture.

        ``mixture`` is ADIB's ``p_omega = omega_s p_s + omega_t p_t`` (ADIB only).
        """
        check_choice("player", player, ("student", "teacher", "mixture"))
        if player == "mixture":
            if self.method != "adib":
                raise ValueError(f"player='mixture' needs method='adib' (got method={self.method!r})")
            p = self.hparams.omega_s * self.p_s + self.hparams.omega_t * self.p_t
        else:
            p = self._player(player)
        return kl_per_context(self.p_r.expand_as(p), p).reshape(len(p), -1).mean(1)

    def total_variation(self, player: str = "student") -> Tensor:
        """Largest total-variation distance ``max_x sum_y |p_player - p_r| / 2`` over contexts, per record."""
        p = self._player(check_choice("player", player, ("student", "teacher")))
        return (0.5 * (p - self.p_r).abs().sum(-1)).reshape(len(p), -1).amax(1)

    def _first_step_staying(self, below: Tensor) -> int | None:
        if not below[-1]:
            return None
        above = (~below).nonzero()
        return int(self.steps[0 if len(above) == 0 else int(above[-1]) + 1])

    def steps_to_reach(self, tolerance: float, player: str = "student") -> int | None:
        """The first recorded step from which ``kl_to_real(player)`` stays below ``tolerance``; ``None`` if never."""
        check_positive("tolerance", tolerance)
        return self._first_step_staying(self.kl_to_real(player) < tolerance)

    def steps_to_approach(self, target: object, tolerance: float, player: str = "student") -> int | None:
        """The first recorded step from which ``max |p_player - target| < tolerance`` holds; ``None`` if never.

        Use it for games whose fixed point is not ``p_r``, such as KD's ``kd_optimal_student``.
        """
        check_positive("tolerance", tolerance)
        p = self._player(check_choice("player", player, ("student", "teacher")))
        target = as_distribution(target, "target").to(p.dtype)
        if tuple(target.shape) != tuple(p.shape[1:]):
            raise ValueError(f"target must have the shape of p_r {tuple(p.shape[1:])} (got {tuple(target.shape)})")
        gap = (p - target).abs().reshape(len(p), -1).amax(1)
        return self._first_step_staying(gap < tolerance)

    def equilibrium_crossings(self) -> int:
        """How often the value crosses its equilibrium value along the record: a count of oscillations."""
        v = self.value - self.equilibrium_value
        return int(((v[1:] * v[:-1]) < 0).sum())


def _vjp_softmax(p: Tensor, g: Tensor) -> Tensor:
    """Gradient with respect to logits of a function whose gradient with respect to ``p = softmax`` is ``g``."""
    return p * (g - (p * g).sum(-1, keepdim=True))


class _Game:
    """Value and gradients of one method at given logits, without input checks (see :func:`solve_game`)."""

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


def _logits(p: object, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    t = as_distribution(p, name).to(dtype)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have the shape of p_r {shape} (got {tuple(t.shape)})")
    if (t <= 0).any():
        raise ValueError(
            f"{name} must be strictly positive: a player's logits are log-probabilities (got a zero entry)"
        )
    return torch.log(t)


def _hparams(method: str, omega: object, nu: float, mu: float, upsilon: float) -> GameHParams:
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
    hp = _hparams(method, omega, nu, mu, upsilon)
    if method == "kd" and p_teacher is None:
        raise ValueError("method='kd' distils from a fixed teacher: pass p_teacher (the teacher's distribution)")
    teacher = None if p_teacher is None else as_distribution(p_teacher, "p_teacher").to(p_r.dtype)
    players = ("student", "teacher", "discriminator")
    return _Game(hp, p_r, teacher).gradients(theta_s, theta_t, phi, players)


def solve_game(
    p_r: object,
    method: str = "adim",
    *,
    omega: object = None,
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    steps: int = 2000,
    lr: float = 0.1,
    lr_d: float | None = None,
    d_steps: int = 1,
    mode: str = "alternating",
    discriminator: str = "learned",
    p_s0: object = None,
    p_t0: object = None,
    seed: int = 0,
    init_scale: float = 1.0,
    record_every: int = 1,
    tau: float | None = None,
    samples: int = 1,
) -> GameTrajectory:
    """Play one of the exact games by gradient descent-ascent on logits and return the trajectory.

    Args:
        p_r: the real distribution ``p_r(y|x)``, shape ``(*contexts, labels)``.
        method: ``kd`` (Eq. 2: the student descends ``L_KD(p_t || p_s)`` against the fixed teacher ``p_t0``),
            ``ngan`` (Eq. 3), ``adib`` (Eq. 4) or ``adim`` (Eq. 6).
        omega: ADIM ``(omega_r, omega_s, omega_t)``; ADIB ``(omega_s, omega_t)``; default equal weights.
        nu, mu, upsilon: the distillation weights of Eq. 2, 4, 6 (>= 0).
        steps: number of updates; lr, lr_d: step sizes of the generators and of the discriminator
            (``lr_d`` defaults to ``lr``).
        d_steps: discriminator steps per generator step in ``alternating`` mode (Algorithm 1's inner loop).
        mode: ``alternating`` or ``simultaneous``; discriminator: ``learned`` or ``optimal``.
        p_s0, p_t0: initial student and teacher (strictly positive); drawn from ``N(0, init_scale^2)`` logits
            with ``seed`` when omitted. For KD, ``p_t0`` is the fixed teacher and is required.
        record_every: keep every k-th step (the first and the last step are always kept).
        tau: ``None`` (exact gradients) or the Gumbel-Softmax temperature: the student's and the teacher's
            adversarial gradients are then the pathwise estimates of Eq. 10 from ``samples`` relaxed samples per
            step (Algorithm 1's GS trick), drawn with ``seed``; the discriminator keeps its exact gradient.

    Raises:
        ValueError: bad distributions, omega off the simplex, negative weights, non-positive step sizes.
    """
    p_r = as_distribution(p_r, "p_r")
    dtype, shape = p_r.dtype, tuple(p_r.shape)
    hp = _hparams(method, omega, nu, mu, upsilon)
    steps = check_positive_int("steps", steps)
    lr = check_positive("lr", lr)
    lr_d = lr if lr_d is None else check_positive("lr_d", lr_d)
    d_steps = check_positive_int("d_steps", d_steps)
    record_every = check_positive_int("record_every", record_every)
    check_choice("mode", mode, MODES)
    check_choice("discriminator", discriminator, DISCRIMINATORS)
    init_scale = check_positive("init_scale", init_scale)
    if method == "kd" and p_t0 is None:
        raise ValueError("method='kd' distils from a fixed teacher: pass p_t0 (the teacher's distribution)")
    if method == "ngan" and p_t0 is not None:
        raise ValueError("NGAN has no teacher: p_t0 must be None for method='ngan'")
    if method == "kd" and discriminator != "learned":
        raise ValueError(f"KD has no discriminator: discriminator must stay 'learned' (got {discriminator!r})")
    if tau is not None:
        tau = check_positive("tau", tau)
        if method == "kd":
            raise ValueError("KD has no adversarial term to estimate: tau must be None for method='kd'")
    samples = check_positive_int("samples", samples)
    if mode == "simultaneous" and d_steps != 1:
        raise ValueError(f"d_steps > 1 needs mode='alternating' (got d_steps={d_steps} with mode='simultaneous')")

    g = torch.Generator().manual_seed(int(seed))

    def init(p0: object, name: str) -> Tensor:
        if p0 is not None:
            return _logits(p0, name, shape, dtype)
        return (init_scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)

    th_s = init(p_s0, "p_s0")
    p_teacher = None
    th_t = None
    if method == "kd":
        p_teacher = softmax(_logits(p_t0, "p_t0", shape, dtype), -1)
    elif method in ("adib", "adim"):
        th_t = init(p_t0, "p_t0")
    game = _Game(hp, p_r, p_teacher, tau, samples, g)
    phi = None
    if method != "kd":
        phi = torch.zeros((3, *shape) if method == "adim" else shape, dtype=dtype)
        if discriminator == "optimal":
            phi = game.optimal_phi(th_s, th_t)

    recorded: dict[str, list[Tensor]] = {k: [] for k in ("steps", "p_s", "p_t", "d", "value", "optimal_value")}

    def record(step: int) -> None:
        recorded["steps"].append(torch.tensor(step))
        recorded["p_s"].append(softmax(th_s, -1))
        if th_t is not None or p_teacher is not None:
            recorded["p_t"].append(p_teacher if th_t is None else softmax(th_t, -1))
        if phi is not None:
            recorded["d"].append(game.discriminator(phi))
        recorded["value"].append(game.value(th_s, th_t, phi).mean())
        recorded["optimal_value"].append(game.optimal_value(th_s, th_t).mean())

    generators = ("student",) if th_t is None else ("student", "teacher")

    def descend(grads: dict[str, Tensor]) -> None:
        nonlocal th_s, th_t
        th_s = th_s - lr * grads["student"]
        if th_t is not None:
            th_t = th_t - lr * grads["teacher"]

    record(0)
    with flush_denormals():
        for step in range(1, steps + 1):
            if method == "kd":
                descend(game.gradients(th_s, None, None, generators))
            elif discriminator == "optimal":
                descend(game.gradients(th_s, th_t, game.optimal_phi(th_s, th_t), generators))
                phi = game.optimal_phi(th_s, th_t)
            elif mode == "alternating":
                for _ in range(d_steps):
                    phi = phi + lr_d * game.gradients(th_s, th_t, phi, ("discriminator",))["discriminator"]
                descend(game.gradients(th_s, th_t, phi, generators))
            else:
                grads = game.gradients(th_s, th_t, phi, (*generators, "discriminator"))
                descend(grads)
                phi = phi + lr_d * grads["discriminator"]
            if step % record_every == 0 or step == steps:
                record(step)

    if method == "kd":
        q = kd_optimal_student(p_r, p_teacher, hp.upsilon)
        equilibrium = float(kd_loss_per_context(p_teacher, q, p_r, hp.upsilon).mean())
    elif method == "adim":
        equilibrium = adim_equilibrium_value(hp.omega)
    else:
        equilibrium = -LOG4
    return GameTrajectory(
        method=method,
        hparams=hp,
        mode=mode,
        p_r=p_r,
        steps=torch.stack(recorded["steps"]),
        p_s=torch.stack(recorded["p_s"]),
        p_t=torch.stack(recorded["p_t"]) if recorded["p_t"] else None,
        d=torch.stack(recorded["d"]) if recorded["d"] else None,
        value=torch.stack(recorded["value"]),
        optimal_value=torch.stack(recorded["optimal_value"]),
        equilibrium_value=equilibrium,
        tau=tau,
        samples=samples,
    )


def sweep_game(
    p_r: object,
    name: str,
    values: Sequence[float],
    *,
    tolerance: float = 1e-4,
    **settings: object,
) -> list[dict[str, float | int | None]]:
    """Solve the game once per value of one hyperparameter and summarise each trajectory (a row per value).

    ``name`` is a keyword of :func:`solve_game` (``nu``, ``mu``, ``upsilon``, ``lr``, ``tau``, ...) or one of ADIM's
    weights ``omega_r``, ``omega_s``, ``omega_t``, varied along the simplex with the other two equal (``omega_s =
    0.2`` plays ``omega = (0.4, 0.2, 0.4)``). ``settings`` go to :func:`solve_game` unchanged. Each row holds the
    value, the steps after which the student and the teacher stay within ``tolerance`` of ``p_r`` in KL (``None``:
    never), their final KL, the teacher's largest KL along the way (how far the student drags it), and the final
    ``V*`` beside the equilibrium value.
    """
    check_positive("tolerance", tolerance)
    omegas = ("omega_r", "omega_s", "omega_t")
    if name in omegas and settings.get("method", "adim") != "adim":
        raise ValueError(f"{name} is swept along ADIM's simplex: method must be 'adim' (got {settings['method']!r})")
    if name in omegas and "omega" in settings:
        raise ValueError(f"sweeping {name} sets omega: do not pass omega as well")
    if name not in omegas and name not in _SWEEPABLE:
        raise ValueError(f"name must be one of {', '.join(omegas + _SWEEPABLE)} (got {name!r})")
    if len(values) == 0:
        raise ValueError("values must hold at least one value")
    rows = []
    for value in values:
        kwargs = dict(settings)
        if name in omegas:
            weight = check_positive(name, value)
            if weight >= 1:
                raise ValueError(f"{name} must be < 1 to stay on the open simplex (got {weight!r})")
            rest = (1.0 - weight) / 2
            kwargs["method"] = "adim"
            kwargs["omega"] = tuple(weight if n == name else rest for n in omegas)
        else:
            kwargs[name] = value
        trajectory = solve_game(p_r, **kwargs)
        has_teacher = trajectory.p_t is not None and trajectory.method != "kd"
        teacher_kl = trajectory.kl_to_real("teacher") if has_teacher else None
        rows.append(
            {
                name: value,
                "student_steps": trajectory.steps_to_reach(tolerance, "student"),
                "teacher_steps": trajectory.steps_to_reach(tolerance, "teacher") if has_teacher else None,
                "student_kl": float(trajectory.kl_to_real("student")[-1]),
                "teacher_kl": float(teacher_kl[-1]) if has_teacher else None,
                "teacher_worst_kl": float(teacher_kl.max()) if has_teacher else None,
                "optimal_value": float(trajectory.optimal_value[-1]),
                "equilibrium_value": trajectory.equilibrium_value,
            }
        )
    return rows


_SWEEPABLE = ("nu", "mu", "upsilon", "lr", "lr_d", "d_steps", "steps", "tau", "samples", "seed", "init_scale")
