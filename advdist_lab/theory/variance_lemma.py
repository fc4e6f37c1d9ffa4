"""Lemma 4.5 (TPAMI Sec. 4.3; KDGAN Lemma 4.3, Eq. 6-7), by Monte Carlo: the variance of a convex combination.

``Var X <= Var Y`` implies ``Var(lambda X + (1 - lambda) Y) <= Var Y`` for ``lambda in [0, 1]``: in the papers
``X`` is the distillation gradient (from the teacher), ``Y`` the adversarial one (from the discriminator). The
check is a :class:`~advdist_lab.theory.theorems.Check` like the other lemmas'; the presets include the cases where
the premise fails and so does the conclusion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..hparams import check_int_at_least, check_nonnegative_int, check_positive, check_real
from .theorems import Check

LEMMA_4_5_LAMBDAS = tuple(i / 20 for i in range(21))
"""The default mixing weights: lambda = 0, 0.05, ..., 1."""

LEMMA_4_5_PRESETS: dict[str, tuple[float, float, float]] = {
    "rho = -1": (0.5, 1.0, -1.0),
    "rho = 0": (0.5, 1.0, 0.0),
    "rho = 0.5": (0.5, 1.0, 0.5),
    "rho = 1": (0.5, 1.0, 1.0),
    "Var X = Var Y, rho = 0.5": (1.0, 1.0, 0.5),
    "counterexample: Var X = 2 Var Y, rho = 0": (2.0, 1.0, 0.0),
    "counterexample: Cov(X, Y) > Var Y": (4.0, 1.0, 0.75),
}
"""``(Var X, Var Y, correlation)`` cases for Lemma 4.5. The first five satisfy the premise ``Var X <= Var Y``
(``Var Y = 1``; correlations -1, 0, 0.5, 1, and the boundary ``Var X = Var Y``), and the conclusion holds. The
last two violate it, and the conclusion fails: with ``Var X = 2``, ``rho = 0``,
``Var Z = 3 lambda^2 - 2 lambda + 1 > 1`` for ``lambda > 2/3``, by up to ``1`` at ``lambda = 1``; with
``Var X = 4``, ``rho = 0.75`` (``Cov = 1.5 > Var Y``), ``Var Z = 2 lambda^2 + lambda + 1 > 1`` for every
``lambda > 0``, by up to ``3``."""


@dataclass(frozen=True)
class Lemma45Result:
    """Monte Carlo and closed-form ``Var(Z)``, ``Z = lambda X + (1 - lambda) Y``, at each ``lambda``.

    ``monte_carlo[i]`` is the sample variance of ``Z`` at ``lambdas[i]`` (``samples`` draws of a jointly Gaussian
    ``(X, Y)``, the same draws for every ``lambda``), ``standard_error[i]`` its standard error (from the fourth
    sample moment), ``closed_form[i] = lambda^2 Var X + 2 lambda (1 - lambda) Cov + (1 - lambda)^2 Var Y``.
    ``excess[i]`` is the sample ``Var(Z) - Var(Y)`` from the same draws, with standard error ``excess_se[i]``.
    """

    var_x: float
    var_y: float
    correlation: float
    samples: int
    lambdas: tuple[float, ...]
    monte_carlo: tuple[float, ...]
    standard_error: tuple[float, ...]
    closed_form: tuple[float, ...]
    excess: tuple[float, ...]
    excess_se: tuple[float, ...]
    var_y_monte_carlo: float

    @property
    def covariance(self) -> float:
        return self.correlation * math.sqrt(self.var_x * self.var_y)

    @property
    def premise(self) -> bool:
        """Whether ``Var X <= Var Y``."""
        return self.var_x <= self.var_y

    def closed_form_variance(self, lam: float) -> float:
        """``Var(lambda X + (1 - lambda) Y)`` in closed form."""
        return lam**2 * self.var_x + 2 * lam * (1 - lam) * self.covariance + (1 - lam) ** 2 * self.var_y

    @property
    def violated_above(self) -> float | None:
        """The ``lambda*`` with ``Var Z > Var Y`` exactly for ``lambda`` in ``(lambda*, 1]``; ``None`` if none.

        ``Var Z - Var Y = lambda (lambda Var(X - Y) - 2 (Var Y - Cov))`` is convex in ``lambda`` and zero at
        ``lambda = 0``, so on ``[0, 1]`` it is positive somewhere exactly when it is positive at ``lambda = 1``,
        i.e. when ``Var X > Var Y``: the premise of the lemma is necessary as well as sufficient. Then
        ``lambda* = 2 (Var Y - Cov) / Var(X - Y)``, which is ``<= 0`` (every ``lambda > 0`` fails) when
        ``Cov >= Var Y``.
        """
        if self.premise:
            return None
        var_diff = self.var_x + self.var_y - 2 * self.covariance
        return max(0.0, 2 * (self.var_y - self.covariance) / var_diff)


def _check_lemma_4_5_inputs(var_x: object, var_y: object, correlation: object, lambdas: object, samples: object):
    var_x = check_positive("var_x", var_x)
    var_y = check_positive("var_y", var_y)
    correlation = check_real("correlation", correlation)
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [-1, 1] (got {correlation!r})")
    if isinstance(lambdas, (str, bytes)) or not isinstance(lambdas, Sequence) or len(lambdas) == 0:
        raise ValueError(f"lambdas must be a non-empty sequence of numbers in [0, 1] (got {lambdas!r})")
    lambdas = tuple(check_real("lambda", lam) for lam in lambdas)
    if any(not 0.0 <= lam <= 1.0 for lam in lambdas):
        raise ValueError(f"lambdas must lie in [0, 1] (got {lambdas!r})")
    samples = check_int_at_least("samples", samples, 2)
    return var_x, var_y, correlation, lambdas, samples


def lemma_4_5_monte_carlo(
    var_x: float,
    var_y: float,
    correlation: float,
    lambdas: Sequence[float] = LEMMA_4_5_LAMBDAS,
    samples: int = 100_000,
    seed: int = 0,
) -> Lemma45Result:
    """Lemma 4.5 (TPAMI Sec. 4.3; KDGAN Lemma 4.3, Eq. 6-7) by Monte Carlo: ``Var(lambda X + (1 - lambda) Y)``.

    ``(X, Y)`` is jointly Gaussian with the given variances and correlation: ``X = sqrt(Var X) e_1``,
    ``Y = sqrt(Var Y) (rho e_1 + sqrt(1 - rho^2) e_2)`` with ``e_1, e_2 ~ N(0, 1)`` i.i.d. (float64, seeded).
    In the papers ``X`` is the distillation gradient (from the teacher), ``Y`` the adversarial one (from the
    discriminator) and ``Z`` the student's gradient in ADIM / KDGAN. Raises ``ValueError`` for variances that are
    not > 0, a correlation outside ``[-1, 1]``, ``lambdas`` outside ``[0, 1]`` or ``samples < 2``.
    """
    var_x, var_y, correlation, lambdas, samples = _check_lemma_4_5_inputs(var_x, var_y, correlation, lambdas, samples)
    generator = torch.Generator().manual_seed(check_nonnegative_int("seed", seed))
    e = torch.randn(2, samples, generator=generator, dtype=torch.float64)
    x = math.sqrt(var_x) * e[0]
    y = math.sqrt(var_y) * (correlation * e[0] + math.sqrt(max(0.0, 1.0 - correlation**2)) * e[1])
    lam = torch.tensor(lambdas, dtype=torch.float64)[:, None]
    z = lam * x + (1 - lam) * y
    z_sq = (z - z.mean(dim=1, keepdim=True)) ** 2
    y_sq = (y - y.mean()) ** 2
    scale = samples / (samples - 1)  # unbiased sample variances
    var_z = z_sq.mean(dim=1) * scale
    excess = (z_sq - y_sq).mean(dim=1) * scale
    cov = correlation * math.sqrt(var_x * var_y)
    closed = [lam**2 * var_x + 2 * lam * (1 - lam) * cov + (1 - lam) ** 2 * var_y for lam in lambdas]
    return Lemma45Result(
        var_x=var_x,
        var_y=var_y,
        correlation=correlation,
        samples=samples,
        lambdas=lambdas,
        monte_carlo=tuple(var_z.tolist()),
        standard_error=tuple((z_sq.std(dim=1) / math.sqrt(samples)).tolist()),
        closed_form=tuple(closed),
        excess=tuple(excess.tolist()),
        excess_se=tuple(((z_sq - y_sq).std(dim=1) / math.sqrt(samples)).tolist()),
        var_y_monte_carlo=float(y_sq.mean() * scale),
    )


def lemma_4_5(
    var_x: float,
    var_y: float,
    correlation: float,
    lambdas: Sequence[float] = LEMMA_4_5_LAMBDAS,
    samples: int = 100_000,
    seed: int = 0,
    sigmas: float = 4.0,
) -> Check:
    """Lemma 4.5: ``Var X <= Var Y`` implies ``Var(lambda X + (1 - lambda) Y) <= Var Y`` for ``lambda in [0, 1]``.

    The error is the largest Monte Carlo excess ``Var(Z) - Var(Y)`` over ``lambdas`` (0 if none is positive);
    the tolerance is ``sigmas`` standard errors of that excess (the largest over ``lambdas``), plus ``1e-12 Var Y``
    for rounding. The check passes for every case that satisfies the premise and fails, by many standard errors,
    when ``Var X > Var Y`` (see :attr:`Lemma45Result.violated_above` and :data:`LEMMA_4_5_PRESETS`).

    The sample variances and covariance of one set of draws obey the same algebra as the true ones (the proof
    only uses Cauchy-Schwarz), so whenever the *sample* ``Var X <= Var Y`` the Monte Carlo excess is ``<= 0`` up
    to rounding; only at the boundary ``Var X = Var Y`` does sampling noise make it positive, by a few standard
    errors at most.
    """
    sigmas = check_positive("sigmas", sigmas)
    result = lemma_4_5_monte_carlo(var_x, var_y, correlation, lambdas, samples, seed)
    premise = "premise holds" if result.premise else "premise violated"
    return Check(
        f"Lemma 4.5 (Var X = {result.var_x:g}, Var Y = {result.var_y:g}, rho = {result.correlation:g}; {premise}): "
        "max over lambda of Var(Z) - Var(Y) <= 0",
        max(0.0, max(result.excess)),
        sigmas * max(result.excess_se) + 1e-12 * result.var_y,
    )
