"""Numerical checks of the papers' lemmas and theorems against their closed forms.

Each check returns a :class:`Check`: the largest numerical error between what is computed by optimisation or
by direct evaluation and what the lemma says, with a tolerance. Notebooks 02 and 03 print them; the tests
assert them. The optimal discriminators are found by maximising the value functions of :mod:`.value_functions` with
L-BFGS over unconstrained logits (no closed form is used on the numerical side); the equilibria by minimising the
value at the optimal discriminator over both players' logits, also with L-BFGS. Lemma 4.5, checked by Monte Carlo,
is in :mod:`.variance_lemma`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..hparams import (
    check_choice,
    check_positive,
    check_positive_int,
)
from .distributions import (
    as_distribution,
    as_finite_tensor,
    expected_log,
    mixture,
    optimal_discriminator_binary,
    optimal_discriminator_multiclass,
)
from .kdgan import check_alpha, check_kdgan_weights, kdgan_optimal_value, kdgan_value
from .small_ops import flush_denormals, softmax
from .value_functions import (
    adib_equilibrium_value,
    adib_optimal_value,
    adib_value,
    adim_equilibrium_value,
    adim_optimal_value,
    adim_value,
    lemma_limit,
    lemma_omega,
    lemma_scaled_divergence,
    ngan_value,
)


@dataclass(frozen=True)
class Check:
    """One numerical check: ``error`` is the largest absolute deviation from the closed form."""

    statement: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return math.isfinite(self.error) and self.error <= self.tolerance

    def __str__(self) -> str:
        verdict = "OK" if self.passed else "FAILED"
        return f"{self.statement}: max error {self.error:.2e} (tolerance {self.tolerance:.0e}) {verdict}"


def _max_abs(a: Tensor, b: Tensor | float) -> float:
    return float((torch.as_tensor(a) - torch.as_tensor(b, dtype=torch.as_tensor(a).dtype)).abs().max())


def maximise(
    objective: Callable[[Tensor], Tensor], shape: Sequence[int], init: Tensor | None = None, max_iter: int = 500
) -> Tensor:
    """Maximise a smooth scalar ``objective(logits)`` over float64 logits of ``shape`` with L-BFGS; return the logits.

    Starts from ``init`` (or zeros). L-BFGS with a strong-Wolfe line search is scale-free enough to converge to
    ~1e-9 where plain gradient steps on logits crawl (their steps shrink with the probabilities).
    """
    max_iter = check_positive_int("max_iter", max_iter)
    start = torch.zeros(tuple(shape), dtype=torch.float64) if init is None else init.detach().to(torch.float64)
    logits = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [logits], lr=1.0, max_iter=max_iter, tolerance_grad=1e-13, tolerance_change=1e-16, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = -objective(logits)
        loss.backward()
        return loss

    with flush_denormals():
        for _ in range(5):
            optimizer.step(closure)
    return logits.detach()


def minimise_players(objective: Callable[[Tensor, Tensor], Tensor], p_s: object, p_t: object) -> tuple[Tensor, Tensor]:
    """Minimise ``objective(p_s, p_t)`` over both players' logits with L-BFGS, from the given (positive) start."""
    p_s = as_distribution(p_s, "p_s").to(torch.float64)
    p_t = as_distribution(p_t, "p_t").to(torch.float64)
    init = torch.stack([torch.log(p_s), torch.log(p_t)])
    logits = maximise(lambda z: -objective(softmax(z[0], -1), softmax(z[1], -1)), init.shape, init=init)
    return softmax(logits[0], -1), softmax(logits[1], -1)


def numerical_discriminator(
    p_r: object, p_s: object, p_t: object | None = None, *, method: str = "adib", omega: Sequence[float] | None = None
) -> Tensor:
    """The discriminator that maximises the game's value for fixed players, found by L-BFGS.

    ``method="ngan"`` (Eq. 3, ``p_t`` unused), ``"adib"`` (Eq. 4, ``omega = (omega_s, omega_t)``) or ``"adim"``
    (Eq. 6, ``omega = (omega_r, omega_s, omega_t)``, ``D = softmax`` over real/student/teacher). The distillation
    terms do not involve the discriminator, so they are left out.
    """
    check_choice("method", method, ("ngan", "adib", "adim"))
    p_r = as_distribution(p_r, "p_r")
    if method == "ngan":
        logits = maximise(lambda phi: ngan_value(p_r, p_s, torch.sigmoid(phi)), p_r.shape)
        return torch.sigmoid(logits)
    if method == "adib":
        w_s, w_t = omega if omega is not None else (0.5, 0.5)
        logits = maximise(lambda phi: adib_value(p_r, p_s, p_t, torch.sigmoid(phi), w_s, w_t), p_r.shape)
        return torch.sigmoid(logits)
    w = omega if omega is not None else (1 / 3, 1 / 3, 1 / 3)
    logits = maximise(lambda phi: adim_value(p_r, p_s, p_t, softmax(phi, 0), w), (3, *p_r.shape))
    return softmax(logits, 0)


def _equilibrium_checks(
    theorem: str,
    at_d_star: Tensor,
    closed_form: str,
    optimal_value: Callable[[Tensor, Tensor], Tensor],
    target: float,
    target_name: str,
    players: tuple[object, object, object],
    tolerance: float,
) -> list[Check]:
    """The three checks shared by Theorems 4.2 and 4.4 (see :func:`theorem_4_2`)."""
    p_r, p_s, p_t = (as_distribution(p, n) for p, n in zip(players, ("p_r", "p_s", "p_t")))
    best_s, best_t = minimise_players(optimal_value, p_s, p_t)
    reached = max(abs(float(optimal_value(best_s, best_t)) - target), _max_abs(best_s, p_r), _max_abs(best_t, p_r))
    return [
        Check(f"{theorem}: V(D*) vs {closed_form}", _max_abs(at_d_star, optimal_value(p_s, p_t)), tolerance),
        Check(
            f"{theorem}: value at p_s = p_t = p_r vs {target_name}",
            abs(float(optimal_value(p_r, p_r)) - target),
            tolerance,
        ),
        Check(
            f"{theorem}: minimising V(D*) over p_s, p_t reaches p_s = p_t = p_r and {target_name}", reached, tolerance
        ),
    ]


# ---------------------------------------------------------------------------------------------------------
# ADIB (Lemma 4.1, Theorem 4.2) and KDGAN (Eq. 4, 5)
# ---------------------------------------------------------------------------------------------------------


def lemma_4_1(p_r: object, p_s: object, p_t: object, omega_s: float, omega_t: float, tolerance: float = 1e-6) -> Check:
    """Lemma 4.1: the discriminator that maximises Eq. 4 equals ``p_r / (p_r + p_omega)``."""
    tolerance = check_positive("tolerance", tolerance)
    numerical = numerical_discriminator(p_r, p_s, p_t, method="adib", omega=(omega_s, omega_t))
    closed = optimal_discriminator_binary(p_r, mixture(p_s, p_t, omega_s, omega_t))
    return Check("Lemma 4.1: argmax_D V_ADIB vs p_r / (p_r + p_omega)", _max_abs(numerical, closed), tolerance)


def theorem_4_2(
    p_r: object,
    p_s: object,
    p_t: object,
    omega_s: float,
    omega_t: float,
    nu: float,
    mu: float,
    upsilon: float = 0.0,
    tolerance: float = 1e-6,
) -> list[Check]:
    """Theorem 4.2, in three checks.

    1. At the optimal discriminator, Eq. 4 equals ``2 JS(p_r || p_omega) - log 4 + nu L_KD + mu L_KD``
       (evaluated at the given ``p_s``, ``p_t``).
    2. At ``p_s = p_t = p_r`` the value is ``-log 4``.
    3. Minimising that value over both players (L-BFGS on their logits, from the given ``p_s``, ``p_t``, with
       ``nu, mu > 0``) reaches ``p_s = p_t = p_r`` and ``-log 4``: the error is the largest of
       ``|V - (-log 4)|`` and ``max |p - p_r|``. (The gradient dynamics of the game are shown by
       :func:`~advdist_lab.theory.solver.solve_game` in the notebooks.)
    """
    tolerance = check_positive("tolerance", tolerance)
    d_star = optimal_discriminator_binary(p_r, mixture(p_s, p_t, omega_s, omega_t))
    return _equilibrium_checks(
        "Theorem 4.2",
        at_d_star=adib_value(p_r, p_s, p_t, d_star, omega_s, omega_t, nu, mu, upsilon),
        closed_form="2 JS(p_r || p_omega) - log 4 + distillation",
        optimal_value=lambda a, b: adib_optimal_value(p_r, a, b, omega_s, omega_t, nu, mu, upsilon),
        target=adib_equilibrium_value(),
        target_name="-log 4",
        players=(p_r, p_s, p_t),
        tolerance=tolerance,
    )


def kdgan_eq_4(p_c: object, p_t: object, d: object, alpha: float, tolerance: float = 1e-12) -> Check:
    """KDGAN Eq. 4: ``alpha E_{p_c}[log(1-d)] + (1-alpha) E_{p_t}[log(1-d)] = E_{p_alpha}[log(1-d)]``."""
    tolerance = check_positive("tolerance", tolerance)
    alpha = check_alpha(alpha)
    one_minus_d = 1 - as_finite_tensor(d, "d")
    lhs = alpha * expected_log(p_c, one_minus_d) + (1 - alpha) * expected_log(p_t, one_minus_d)
    rhs = expected_log(mixture(p_c, p_t, alpha, 1 - alpha), one_minus_d)
    return Check("KDGAN Eq. 4: the two fake terms vs one term under p_alpha", _max_abs(lhs, rhs), tolerance)


def kdgan_eq_5(
    p_u: object,
    p_c: object,
    p_t: object,
    alpha: float,
    beta: float,
    gamma: float,
    distillation: str = "kl",
    tolerance: float = 1e-6,
) -> Check:
    """KDGAN Eq. 5 and Lemma 4.1: Eq. 3 at the numerically optimal discriminator equals ``2 JS - log 4 + L_MD``."""
    tolerance = check_positive("tolerance", tolerance)
    alpha, beta, gamma = check_kdgan_weights(alpha, beta, gamma, distillation)
    d = numerical_discriminator(p_u, p_c, p_t, method="adib", omega=(alpha, 1 - alpha))
    numerical = kdgan_value(p_u, p_c, p_t, d, alpha, beta, gamma, distillation)
    closed = kdgan_optimal_value(p_u, p_c, p_t, alpha, beta, gamma, distillation)
    return Check(
        f"KDGAN Eq. 5 ({distillation} distillation): max_d U vs 2 JS - log 4 + L_MD",
        _max_abs(numerical, closed),
        tolerance,
    )


# ---------------------------------------------------------------------------------------------------------
# ADIM (Lemma 4.3, Theorem 4.4, Lemmas 4.6, 4.7)
# ---------------------------------------------------------------------------------------------------------


def lemma_4_3(p_r: object, p_s: object, p_t: object, omega: Sequence[float], tolerance: float = 1e-6) -> Check:
    """Lemma 4.3: the discriminator that maximises Eq. 6 equals ``omega_i p_i / p_bar``."""
    tolerance = check_positive("tolerance", tolerance)
    numerical = numerical_discriminator(p_r, p_s, p_t, method="adim", omega=omega)
    closed = optimal_discriminator_multiclass(p_r, p_s, p_t, omega)
    return Check("Lemma 4.3: argmax_D V_ADIM vs omega_i p_i / p_bar", _max_abs(numerical, closed), tolerance)


def theorem_4_4(
    p_r: object,
    p_s: object,
    p_t: object,
    omega: Sequence[float],
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    tolerance: float = 1e-6,
) -> list[Check]:
    """Theorem 4.4, in three checks (the same three as :func:`theorem_4_2`), for any ``nu, mu >= 0``.

    With ``nu = mu = 0`` the third check shows what ADIB cannot do: the adversarial losses alone drive both
    ``p_s`` and ``p_t`` to ``p_r``.
    """
    tolerance = check_positive("tolerance", tolerance)
    d_star = optimal_discriminator_multiclass(p_r, p_s, p_t, omega)
    return _equilibrium_checks(
        "Theorem 4.4",
        at_d_star=adim_value(p_r, p_s, p_t, d_star, omega, nu, mu, upsilon),
        closed_form="sum omega log omega + sum omega_i KL(p_i || p_bar) + distillation",
        optimal_value=lambda a, b: adim_optimal_value(p_r, a, b, omega, nu, mu, upsilon),
        target=adim_equilibrium_value(omega),
        target_name="sum omega log omega",
        players=(p_r, p_s, p_t),
        tolerance=tolerance,
    )


@dataclass(frozen=True)
class LemmaPoint:
    """One point on the path of Lemma 4.6 / 4.7."""

    epsilon: float
    omega: tuple[float, float, float]
    scaled_divergence: float  # (V* - sum omega log omega) / omega_t (student) or / omega_s (teacher)
    naive_ratio: float  # V* / omega_t (or / omega_s) taken literally, without subtracting the constant
    limit: float  # the distillation loss on the right-hand side of Eq. 12 / 13
    error: float  # |scaled_divergence - limit|


def lemma_path(
    player: str, p_r: object, p_s: object, p_t: object, upsilon: float, epsilons: Sequence[float]
) -> list[LemmaPoint]:
    """Lemma 4.6 (``player="student"``) or 4.7 (``"teacher"``) along ``omega_s`` (or ``omega_t``) ``= 1 - epsilon``.

    The lemma holds for the divergence part of the optimal value; the literal ratio ``V* / omega_t`` diverges
    to minus infinity like ``(1 + upsilon) log(epsilon)``, which :attr:`LemmaPoint.naive_ratio` shows.
    """
    check_positive("upsilon", upsilon)
    limit = float(lemma_limit(player, p_r, p_s, p_t, upsilon))
    points = []
    for eps in epsilons:
        omega = lemma_omega(player, eps, upsilon)
        scale = omega[2] if player == "student" else omega[1]
        scaled = float(lemma_scaled_divergence(player, p_r, p_s, p_t, omega))
        naive = float(adim_optimal_value(p_r, p_s, p_t, omega)) / scale
        points.append(LemmaPoint(float(eps), omega, scaled, naive, limit, abs(scaled - limit)))
    return points


def lemma_4_6_4_7(
    player: str, p_r: object, p_s: object, p_t: object, upsilon: float, epsilon: float = 1e-7, tolerance: float = 1e-5
) -> Check:
    """Lemma 4.6 / 4.7 at a small ``epsilon``: the scaled divergence against the distillation loss of Eq. 2."""
    tolerance = check_positive("tolerance", tolerance)
    point = lemma_path(player, p_r, p_s, p_t, upsilon, [epsilon])[0]
    name = "Lemma 4.6 (omega_s -> 1)" if player == "student" else "Lemma 4.7 (omega_t -> 1)"
    return Check(
        f"{name} at epsilon = {epsilon:g}: scaled divergence vs Eq. 2 distillation loss", point.error, tolerance
    )
