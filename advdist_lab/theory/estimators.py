"""The gradient estimators of the adversarial term against the exact gradient: bias and variance over ``tau`` and ``m``.

The generators of the papers minimise (or maximise) ``E_{y ~ p_theta}[f(y)]`` with ``p_theta = softmax(theta)``
over ``K`` labels and a reward ``f`` read off a discriminator: ``f = log D(x, y)`` for the ADIM student (TPAMI
paper ``000_...``, Eq. 11) or ``f = log(1 - D(x, y))`` for the KDGAN classifier (KDGAN Eq. 8). With ``K`` small
the exact gradient is a sum over the labels, ``p * (f - <p, f>)`` (:func:`advdist_lab.gumbel.exact_gradient`), so
every estimator can be measured against the truth:

* **bias** ``||E[g_hat] - grad||`` and its Monte Carlo noise level,
* **variance** ``tr Cov(g_hat)`` of the ``m``-sample estimate (the mean of ``m`` single-sample estimates, as a
  minibatch of ``m`` rows with the same ``x`` would give),
* **mean squared error** ``E ||g_hat - grad||^2 = bias^2 + variance``,

as functions of the temperature ``tau`` of the concrete distribution (TPAMI Eq. 10, KDGAN Eq. 9) and of ``m``.
The estimators are the library's own (:func:`advdist_lab.gumbel.adversarial_surrogate`), not re-implementations:

* ``"score"``: REINFORCE, TPAMI Eq. 8 / 11 (first line), KDGAN Eq. 8 read with hard samples; unbiased, with or
  without the leave-one-out ``"mean"`` baseline (within the ``m`` samples of one estimate; with ``m = 1`` there is
  no other sample and the two coincide). It does not use ``tau``.
* ``"pathwise"``: the Gumbel-Softmax gradient through the relaxed sample (TPAMI Eq. 10 / 11, KDGAN Eq. 9). The
  papers' claim (TPAMI Sec. 4.3, KDGAN Sec. 3.3): a high temperature gives low-variance but biased gradients, a low
  one less bias and more variance, hence the annealed temperature. :func:`estimator_sweep` measures both sides.
* ``"straight_through"``: one-hot forward, relaxed backward. For a reward linear in ``y`` it equals the pathwise
  gradient; for a nonlinear reward it keeps a bias as ``tau -> 0``.
* ``"concrete_score"``: TPAMI Eq. 11 taken literally, the score function of the concrete density at a relaxed
  sample, with or without the leave-one-out baseline. Its mean is the pathwise estimator's (both are unbiased for
  the gradient of ``E_{y ~ q_tau}[f(y)]``), so it carries the same temperature bias; its score vector's law does
  not depend on ``tau`` (see :func:`advdist_lab.gumbel.adversarial_surrogate`), so its variance tends to a finite
  limit as ``tau -> 0`` instead of growing like the pathwise one.

What the default sweep measures (``discriminator_case()``, ``f = log D``, ``||grad|| = 0.45``, one sample per
estimate): the pathwise bias falls from 0.42 at ``tau = 10`` to 0.12 at ``tau = 1`` and about 0.01 at
``tau = 0.1`` while its variance rises from 3e-5 to 0.07 and 2.5 (the score function: 1.6), so the mean squared
error is smallest at an intermediate ``tau`` (about 1.4 for one sample, 0.7 for 16: more samples favour less
bias). Straight-through follows pathwise at large ``tau`` but keeps a bias of about 0.02 as ``tau -> 0``. The
concrete score (no baseline, 40,000 replicates) has the pathwise bias within its noise and a variance of 4.0 at
``tau = 10``, 12 at ``tau = 1``, 17.2 at ``tau = 0.1`` and 17.6 at ``tau = 0.001``: bounded, but about eleven times
the categorical score's at every small ``tau``; the pathwise variance passes it only below ``tau`` of about 0.02.

A case is a fixed discriminator ``D(x, y) = sigmoid(<y, h>)`` with ``x`` fixed (one logit per label, as the
original KDGAN discriminator has), and fixed generator logits ``theta``: see :func:`discriminator_case`.
Everything runs in float64 on the CPU; all draws come from seeded ``torch.Generator`` objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..gumbel import BASELINES, ESTIMATORS, SCORE_ESTIMATORS, adversarial_surrogate, concrete_sample, exact_gradient
from ..hparams import check_choice, check_int_at_least, check_nonnegative_int, check_positive, check_positive_int

__all__ = [
    "DEFAULT_ESTIMATORS",
    "DEFAULT_SAMPLE_COUNTS",
    "DEFAULT_TAUS",
    "REWARDS",
    "BiasVariance",
    "EstimatorCase",
    "bias_variance",
    "discriminator_case",
    "estimates",
    "estimator_label",
    "estimator_sweep",
    "underflow_fraction",
]

REWARDS = ("log_d", "log_one_minus_d", "linear")
"""Rewards ``f(y)`` of :func:`discriminator_case` with ``D(x, y) = sigmoid(<y, h>)``: ``log D`` (TPAMI Eq. 11, the
ADIM student), ``log(1 - D)`` (KDGAN Eq. 8, NGAN / KDGAN classifier) and the discriminator logit ``<y, h>`` itself
(linear in ``y``: there straight-through and pathwise coincide)."""

DEFAULT_TAUS = tuple(0.05 * 200.0 ** (i / 8) for i in range(9))
"""Nine temperatures log-spaced from 0.05 to 10 (the papers anneal from 10 to 0.1)."""

DEFAULT_SAMPLE_COUNTS = (1, 4, 16, 64)
"""Numbers of samples ``m`` per estimate."""

DEFAULT_ESTIMATORS = ("score", "pathwise", "straight_through")
"""The estimators :func:`estimator_sweep` measures by default: the papers' REINFORCE and the two Gumbel-Softmax
gradients. Pass ``estimators=ESTIMATORS`` (:data:`advdist_lab.gumbel.ESTIMATORS`) to add ``"concrete_score"``."""

_F64 = torch.float64


@dataclass(frozen=True, eq=False)
class EstimatorCase:
    """Generator logits ``theta`` (``(K,)``) and a reward ``f(y)`` from a fixed discriminator logit vector ``h``.

    ``D(x, y) = sigmoid(<y, h>)`` for a label vector ``y`` (one-hot or relaxed), ``x`` fixed. :meth:`reward_fn`
    is the ``reward_fn`` of :func:`~advdist_lab.gumbel.adversarial_surrogate`; :attr:`exact` is the exact gradient
    of ``E_{y ~ softmax(theta)}[f(y)]`` w.r.t. ``theta``, by enumeration of the ``K`` labels.
    """

    logits: Tensor
    discriminator_logits: Tensor
    reward: str

    @property
    def num_labels(self) -> int:
        return self.logits.shape[-1]

    def reward_fn(self, y: Tensor) -> Tensor:
        """``f(y)`` for labels ``(N, K)``: ``log D``, ``log(1 - D)`` or ``<y, h>``; returns ``(N,)``."""
        logit = y @ self.discriminator_logits.to(y.dtype)
        if self.reward == "log_d":
            return torch.nn.functional.logsigmoid(logit)
        if self.reward == "log_one_minus_d":
            return torch.nn.functional.logsigmoid(-logit)
        return logit

    @property
    def rewards_per_label(self) -> Tensor:
        """``f(one_hot(k))`` for ``k = 0 .. K-1``, shape ``(K,)``."""
        return self.reward_fn(torch.eye(self.num_labels, dtype=self.logits.dtype))

    @property
    def exact(self) -> Tensor:
        """The exact gradient ``p * (f - <p, f>)``, shape ``(K,)``."""
        return exact_gradient(self.logits[None], self.rewards_per_label[None])[0]


def discriminator_case(num_labels: int = 5, *, reward: str = "log_d", seed: int = 0) -> EstimatorCase:
    """A case with a known answer: ``theta ~ N(0, 1)`` and ``h ~ N(0, 2^2)`` per label (float64), from ``seed``.

    ``reward`` is one of :data:`REWARDS`. With the defaults (``K = 5``, seed 0) ``p_theta`` is about
    ``(0.61, 0.10, 0.02, 0.23, 0.04)`` and ``D`` about ``(0.06, 0.69, 0.84, 0.19, 0.31)``: the generator puts most
    of its mass on the label the discriminator rejects, so the exact gradient is far from zero
    (``||grad|| = 0.45`` for ``log D``).
    """
    num_labels = check_int_at_least("num_labels", num_labels, 2)
    check_choice("reward", reward, REWARDS)
    seed = check_nonnegative_int("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    theta = torch.randn(num_labels, generator=generator, dtype=_F64)
    h = 2.0 * torch.randn(num_labels, generator=generator, dtype=_F64)
    return EstimatorCase(logits=theta, discriminator_logits=h, reward=reward)


def _check_case(case: object) -> EstimatorCase:
    if not isinstance(case, EstimatorCase):
        raise ValueError(f"case must be an EstimatorCase (got {type(case).__name__})")
    return case


def estimates(
    case: EstimatorCase,
    estimator: str,
    *,
    tau: float = 1.0,
    samples: int = 1,
    replicates: int = 1000,
    baseline: str = "none",
    seed: int = 0,
) -> Tensor:
    """``replicates`` independent ``samples``-sample estimates of ``grad E[f]``, shape ``(replicates, K)``.

    One call of :func:`~advdist_lab.gumbel.adversarial_surrogate` on logits of shape ``(replicates, samples, K)``
    (every row ``theta``): each group of ``samples`` rows is one estimate, the mean of its rows' single-sample
    estimates, with the leave-one-out ``"mean"`` baseline taken within the group. The surrogate's loss is a mean
    over all rows, so the estimate of group ``r`` is ``replicates`` times the sum over its rows of
    ``d loss / d logits``. ``baseline`` applies to the score-function estimators (``"score"``,
    ``"concrete_score"``) only; ``tau`` to all but ``"score"``. The same ``seed`` gives the same Gumbel noise to
    ``"pathwise"``, ``"straight_through"`` and ``"concrete_score"`` at every ``tau`` (common random numbers), which
    makes differences between them sharper than independent draws would.
    """
    case = _check_case(case)
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("baseline", baseline, BASELINES)
    tau = check_positive("tau", tau)
    samples = check_positive_int("samples", samples)
    replicates = check_positive_int("replicates", replicates)
    seed = check_nonnegative_int("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    leaf = case.logits.detach().expand(replicates, samples, case.num_labels).clone().requires_grad_(True)
    with torch.enable_grad():
        surrogate = adversarial_surrogate(
            leaf, case.reward_fn, estimator=estimator, tau=tau, generator=generator, baseline=baseline
        )
        (grad,) = torch.autograd.grad(surrogate.loss, leaf)
    return grad.sum(dim=1) * replicates


def estimator_label(estimator: str, baseline: str = "none") -> str:
    """A display name: ``"score"``, ``"score + baseline"``, ``"pathwise"``, ``"straight-through"``,
    ``"concrete-score"``, ``"concrete-score + baseline"``."""
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("baseline", baseline, BASELINES)
    name = estimator.replace("_", "-")
    return f"{name} + baseline" if estimator in SCORE_ESTIMATORS and baseline == "mean" else name


@dataclass(frozen=True)
class BiasVariance:
    """Bias and variance of one estimator's ``samples``-sample estimate, from ``replicates`` replicates.

    * ``bias``: ``||mean of the estimates - exact||``. Even an unbiased estimator shows a positive value, of the
      order of ``bias_se``.
    * ``bias_se``: ``sqrt(variance / replicates)``, the norm of the standard-error vector of the mean: the root
      mean square of ``||mean - E[estimate]||`` from Monte Carlo noise alone. A bias many times ``bias_se`` is real.
    * ``variance``: the trace of the sample covariance of the estimates (``1 / (replicates - 1)``).
    * ``mse``: the mean of ``||estimate - exact||^2`` (about ``bias^2 + variance``).
    * ``exact_norm``: ``||exact||``, the scale to compare with.

    ``tau`` is the temperature the row is reported at (the score function does not use it).
    """

    reward: str
    estimator: str
    baseline: str
    tau: float
    samples: int
    replicates: int
    bias: float
    bias_se: float
    variance: float
    mse: float
    exact_norm: float

    @property
    def label(self) -> str:
        return estimator_label(self.estimator, self.baseline)

    @property
    def relative_bias(self) -> float:
        """``bias / ||exact||``."""
        return self.bias / self.exact_norm if self.exact_norm > 0 else math.inf


def _summarise(case: EstimatorCase, g: Tensor, estimator: str, baseline: str, tau: float, samples: int) -> BiasVariance:
    exact = case.exact
    replicates = g.shape[0]
    variance = float(g.var(dim=0).sum()) if replicates > 1 else math.nan
    return BiasVariance(
        reward=case.reward,
        estimator=estimator,
        baseline=baseline,
        tau=float(tau),
        samples=samples,
        replicates=replicates,
        bias=float((g.mean(dim=0) - exact).norm()),
        bias_se=math.sqrt(variance / replicates),
        variance=variance,
        mse=float(((g - exact) ** 2).sum(dim=-1).mean()),
        exact_norm=float(exact.norm()),
    )


def bias_variance(
    case: EstimatorCase,
    estimator: str,
    *,
    tau: float = 1.0,
    samples: int = 1,
    replicates: int = 1000,
    baseline: str = "none",
    seed: int = 0,
) -> BiasVariance:
    """:func:`estimates` summarised as a :class:`BiasVariance` (``replicates >= 2``)."""
    replicates = check_int_at_least("replicates", replicates, 2)
    g = estimates(case, estimator, tau=tau, samples=samples, replicates=replicates, baseline=baseline, seed=seed)
    return _summarise(case, g, estimator, baseline, tau, samples)


def _check_sequence(name: str, values: object, check: Callable[[str, object], object]) -> tuple:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence (got {values!r})")
    return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))


def estimator_sweep(
    case: EstimatorCase,
    taus: Sequence[float] = DEFAULT_TAUS,
    sample_counts: Sequence[int] = DEFAULT_SAMPLE_COUNTS,
    *,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    baselines: Sequence[str] = BASELINES,
    replicates: int = 2000,
    seed: int = 0,
) -> list[BiasVariance]:
    """Bias and variance of every estimator at every ``tau`` and every number of samples ``m``.

    One row per (estimator, baseline, tau, m): ``"score"`` and ``"concrete_score"`` once per baseline in
    ``baselines``, the others with ``baseline="none"`` only (they do not use one). The score function does not use
    ``tau``: it is measured once per (baseline, m) and that row is repeated at each ``tau`` (only ``tau`` differs),
    so a figure draws it as a flat reference. Each (estimator, baseline, m) uses the same seed at every ``tau``
    (common random numbers: the same Gumbel noise), so the curves over ``tau`` are smooth and their shape is not
    noise; different (estimator, baseline, m) get different seeds derived from ``seed``.

    Cost: ``replicates * sum(sample_counts)`` rows per estimator and ``tau``, linear in ``replicates``. Measured
    in CPU time on one thread, for the default taus and ``m`` (9 taus, m = 1, 4, 16, 64) and the four
    estimator-baseline pairs of :data:`DEFAULT_ESTIMATORS` (144 rows): 0.18 s with ``replicates=200`` (a smoke run)
    and 1.6 s with the default 2000; the two concrete-score pairs of ``estimators=ESTIMATORS`` (72 rows more) cost
    as much again (0.19 s and 1.8 s).
    """
    case = _check_case(case)
    taus = _check_sequence("taus", taus, check_positive)
    sample_counts = _check_sequence("sample_counts", sample_counts, check_positive_int)
    estimators = _check_sequence("estimators", estimators, lambda n, v: check_choice(n, v, ESTIMATORS))
    baselines = _check_sequence("baselines", baselines, lambda n, v: check_choice(n, v, BASELINES))
    replicates = check_int_at_least("replicates", replicates, 2)
    seed = check_nonnegative_int("seed", seed)

    rows: list[BiasVariance] = []
    stream = 0
    for estimator in estimators:
        for baseline in baselines if estimator in SCORE_ESTIMATORS else ("none",):
            for m in sample_counts:
                call_seed = seed * 1_000_003 + stream
                stream += 1
                if estimator == "score":
                    row = bias_variance(
                        case, estimator, samples=m, replicates=replicates, baseline=baseline, seed=call_seed
                    )
                    rows.extend(_with_tau(row, tau) for tau in taus)
                    continue
                for tau in taus:
                    rows.append(
                        bias_variance(
                            case,
                            estimator,
                            tau=tau,
                            samples=m,
                            replicates=replicates,
                            baseline=baseline,
                            seed=call_seed,
                        )
                    )
    return rows


def _with_tau(row: BiasVariance, tau: float) -> BiasVariance:
    return replace(row, tau=float(tau))


def underflow_fraction(
    case: EstimatorCase, tau: float, *, dtype: torch.dtype = torch.float32, replicates: int = 10_000, seed: int = 0
) -> float:
    """The fraction of relaxed samples ``y = softmax((log p + g) / tau)`` (Eq. 10) in ``dtype`` with a coordinate
    that underflows to exactly 0, where ``log y`` and so the concrete log density computed from ``y`` itself (Eq. 11
    read literally, :func:`~advdist_lab.gumbel.concrete_log_density`) are not finite.

    ``"concrete_score"`` avoids this by drawing ``log y`` in log space; this measures what a direct implementation
    meets at a given temperature (``replicates`` samples of ``case.logits`` from ``seed``).
    """
    case = _check_case(case)
    tau = check_positive("tau", tau)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype (got {dtype!r})")
    replicates = check_positive_int("replicates", replicates)
    seed = check_nonnegative_int("seed", seed)
    logits = case.logits.to(dtype).expand(replicates, case.num_labels)
    y = concrete_sample(logits, tau, generator=torch.Generator().manual_seed(seed))
    return float((y == 0).any(dim=-1).to(torch.float64).mean())
