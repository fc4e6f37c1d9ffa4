"""Gradient estimators for the generators' discrete labels, temperature schedules and exact expectations.

The generators of NGAN, ADIB and ADIM (TPAMI paper ``000_...``, Eq. 3, 4, 6) are categorical distributions
``p_theta(y | x)`` over labels, and their adversarial term is an expectation ``E_{y ~ p_theta}[f(x, y)]`` of a
reward that a discriminator computes, for example ``f = log(1 - D(x, y))`` or ``f = log D_s(x, y)``. The samples
``y`` are discrete, so the gradient w.r.t. ``theta`` needs an estimator. This module gives four
(:data:`ESTIMATORS`), behind one function, :func:`adversarial_surrogate`:

* ``"score"``: the score-function (REINFORCE, Williams 1992) estimator of TPAMI Eq. 8 / 11 (first line) with
  hard samples from ``p_theta``: ``grad E[f] = E[f(y) grad log p_theta(y)]``. Unbiased for any reward; high
  variance, reduced by a baseline.
* ``"pathwise"``: the Gumbel-Softmax / concrete relaxation (Jang et al. 2017; Maddison et al. 2017) of TPAMI
  Eq. 10 / KDGAN Eq. 9, ``y = softmax((log p_theta + g) / tau)`` with ``g ~ Gumbel(0, 1)``, differentiated
  through the sample (the reparameterisation trick). Low variance; biased for ``tau > 0``, the bias shrinking as
  ``tau -> 0`` for rewards that are smooth in ``y`` (like the linear ``<y, g(x)>`` form), while the variance grows.
  Hence the annealed temperature (:data:`PAPER_SCHEDULE`, :data:`KDGAN_SCHEDULE`).
* ``"straight_through"``: the straight-through Gumbel-Softmax: the one-hot label of the relaxed sample forward,
  the gradient of the relaxed sample backward.
* ``"concrete_score"``: TPAMI Eq. 11 (last line) taken literally, the score function of the *concrete* density
  ``q_tau`` at a relaxed sample: ``E_{y ~ q_tau}[f(y) grad log q_tau(y)]`` (see :func:`adversarial_surrogate`).

Two notes that the papers leave implicit (see ``papers/README.md``):

* **Eq. 11 writes the Gumbel-Softmax gradient in score-function form**,
  ``E_{y ~ q_s}[grad log q_s(y | x) log D_s(x, y)]``, with ``q_s`` the concrete density. The common reading of
  the Gumbel-Softmax trick is the pathwise (reparameterised) gradient through the relaxed sample, which is what
  ``"pathwise"`` computes. Eq. 11 taken literally needs the density of the concrete distribution
  (:func:`concrete_log_density`, Maddison et al. 2017, Sec. 3.2); ``"concrete_score"`` is that reading. Both are
  unbiased for the gradient of the *relaxed* objective ``E_{y ~ q_tau}[f(y)]``, not of ``E_{y ~ p_theta}[f(y)]``.
* **A discriminator that sees one-hot real labels and relaxed (soft) fake ones can tell them apart by softness
  alone**, and the generators then learn nothing useful; the original KDGAN code fed the discriminator discrete
  samples. ``"straight_through"`` avoids this: the discriminator sees one-hot labels for real and fake alike,
  while the gradient still flows through the relaxed sample.

The concrete distribution itself (Gumbel noise, the samplers, the log density) is in :mod:`advdist_lab.concrete`;
its names are re-exported here. Conventions: label distributions are tensors whose **last dimension is the label
space**; ``logits`` are unnormalised log-probabilities (only ``log_softmax(logits) = log p_theta`` matters). Every
sampler takes an optional ``torch.Generator`` for reproducibility; it must live on the device of the tensors. Bad
arguments raise ``ValueError`` naming the constraint. The checks in the hot path inspect shapes, dtypes and Python
numbers only, never tensor values, so they cause no host-device synchronisation on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .concrete import (
    EULER_GAMMA,
    categorical_sample,
    check_logits,
    concrete_log_density,
    concrete_log_density_from_log,
    concrete_sample,
    log_concrete_sample,
    one_hot,
    sample_gumbel,
    straight_through_sample,
)
from .hparams import TemperatureSchedule, check_choice, check_positive

__all__ = [
    "BASELINES",
    "ESTIMATORS",
    "EULER_GAMMA",
    "KDGAN_SCHEDULE",
    "PAPER_SCHEDULE",
    "SCORE_ESTIMATORS",
    "Surrogate",
    "TemperatureSchedule",
    "adversarial_surrogate",
    "categorical_sample",
    "concrete_log_density",
    "concrete_log_density_from_log",
    "concrete_sample",
    "exact_gradient",
    "expected_reward",
    "log_concrete_sample",
    "member_draw",
    "one_hot",
    "sample_gumbel",
    "straight_through_sample",
    "temperature_schedule",
]

ESTIMATORS = ("score", "pathwise", "straight_through", "concrete_score")
"""Gradient estimators of :func:`adversarial_surrogate`: REINFORCE (Eq. 8/11), Gumbel-Softmax, straight-through,
and Eq. 11 literally (the score function of the concrete density)."""

SCORE_ESTIMATORS = ("score", "concrete_score")
"""The score-function estimators (of the categorical and of the concrete density): the ones that take a baseline."""

BASELINES = ("none", "mean")
"""Baselines of the score-function estimators: none, or the leave-one-out batch mean."""

# --------------------------------------------------------------------------------------------------------
# Temperature schedules
# --------------------------------------------------------------------------------------------------------


def temperature_schedule(
    kind: str = "exponential",
    start: float = 10.0,
    end: float | None = None,
    factor: float = 0.88,
    every: int = 1,
) -> TemperatureSchedule:
    """A :class:`~advdist_lab.hparams.TemperatureSchedule` for the temperature ``tau`` of Eq. 10.

    A thin constructor: ``end`` defaults to ``0.1`` (the paper's final temperature) for the annealing kinds and
    to ``start`` for ``kind="constant"``. Kinds: ``constant``, ``exponential``, ``linear``, ``step`` (see
    :class:`~advdist_lab.hparams.TemperatureSchedule`); invalid values raise ``ValueError``.
    """
    if end is None:
        end = start if kind == "constant" else 0.1
    return TemperatureSchedule(start=start, end=end, kind=kind, factor=factor, every=every)


KDGAN_SCHEDULE = TemperatureSchedule(start=10.0, end=0.1, kind="step", factor=0.88, every=1)
"""The original KDGAN code's schedule: ``tau`` starts at 10 and is multiplied by 0.88 per step (epoch),
``tau_k = max(0.1, 10 * 0.88 ** k)``. (The code multiplied "every few epochs"; ``every=1`` here.) The KDGAN
paper's text instead says "start with a large value (1.0) and exponentially decay it to a small value (0.1)"."""

PAPER_SCHEDULE = TemperatureSchedule(start=10.0, end=0.1, kind="exponential")
"""TPAMI Sec. 5: the temperature is annealed from 10 exponentially (geometrically) to 0.1 over the run."""


# --------------------------------------------------------------------------------------------------------
# Exact expectations (for tests and gradient-variance studies)
# --------------------------------------------------------------------------------------------------------


def expected_reward(logits: Tensor, rewards_per_label: Tensor) -> Tensor:
    """Exact ``E_{y ~ softmax(logits)}[f(y)] = sum_k p_k f_k`` when ``rewards_per_label[..., k] = f(one_hot(k))``.

    Shapes ``(B, K)`` (or any matching shapes with the label dimension last); returns ``(B,)``.
    Differentiable in ``logits`` (and in the rewards).
    """
    logits = check_logits(logits)
    if not isinstance(rewards_per_label, Tensor) or rewards_per_label.shape != logits.shape:
        raise ValueError(
            "rewards_per_label must be a tensor of the shape of logits "
            f"(got {tuple(getattr(rewards_per_label, 'shape', ()))} for logits {tuple(logits.shape)})"
        )
    return (torch.softmax(logits, dim=-1) * rewards_per_label.to(logits.dtype)).sum(dim=-1)


def exact_gradient(logits: Tensor, rewards_per_label: Tensor) -> Tensor:
    """The exact gradient of :func:`expected_reward` w.r.t. ``logits``, row by row, by autograd; shape of logits.

    Row ``b`` is ``grad_{logits_b} E_{y ~ p_b}[f_b(y)] = p_b * (f_b - <p_b, f_b>)``. The rewards are held fixed
    (detached). The result is detached.
    """
    logits = check_logits(logits)
    with torch.enable_grad():
        leaf = logits.detach().requires_grad_(True)
        total = expected_reward(leaf, rewards_per_label.detach() if isinstance(rewards_per_label, Tensor) else None)
        (grad,) = torch.autograd.grad(total.sum(), leaf)
    return grad


# --------------------------------------------------------------------------------------------------------
# The adversarial surrogate
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surrogate:
    """What :func:`adversarial_surrogate` returns.

    * ``loss``: a scalar whose gradient w.r.t. ``logits`` is the chosen estimator of
      ``grad E_{y ~ softmax(logits)}[f(y)]``, averaged over the batch (so row ``b`` of ``d loss / d logits`` is
      ``1/B`` times the estimate for row ``b``). Minimise it to decrease ``E[f]`` (e.g. ``f = log(1 - D)``),
      negate it to increase ``E[f]`` (e.g. ``f = log D``). For ``"score"`` and ``"concrete_score"`` its value is
      not the mean reward (use ``value``).
    * ``value``: a detached scalar, the batch mean of the rewards observed (for logging).
    * ``sample``: the detached labels used, of the shape of the logits (``(B, K)``, ``(K,)`` or ``(G, B, K)``):
      one-hot for ``"score"`` and ``"straight_through"``, relaxed for ``"pathwise"`` and ``"concrete_score"``.
    """

    loss: Tensor
    value: Tensor
    sample: Tensor


def adversarial_surrogate(
    logits: Tensor,
    reward_fn: Callable[[Tensor], Tensor],
    *,
    estimator: str,
    tau: float = 1.0,
    generator: torch.Generator | None = None,
    baseline: str = "none",
) -> Surrogate:
    """A surrogate loss for the generator's adversarial term ``E_{y ~ p_theta}[f(x, y)]`` (TPAMI Eq. 3, 4, 6).

    ``logits``: ``(B, K)`` of ``p_theta(y | x_b)``, or ``(K,)`` as ``B = 1`` (then ``sample`` is ``(K,)`` too),
    or ``(G, B, K)``: ``G`` independent groups (batches) of ``B`` rows each, handled as one batch of ``G * B``
    rows except that the ``"mean"`` baseline is taken within each group (used by
    :mod:`advdist_lab.theory.estimators` to draw many ``B``-sample estimates in one call); ``sample`` then has shape
    ``(G, B, K)``. ``reward_fn(y)`` takes float ``(N, K)`` labels (one-hot or relaxed; always 2-D, ``N = B`` or
    ``N = G * B`` rows in group-major order) and returns the ``(N,)`` rewards ``f(x_b, y_b)``, for example
    ``log(1 - D(x, y))``; it may be differentiable in ``y``. For 1-D logits a reward of shape ``()`` is accepted
    as well as ``(1,)``.

    Estimators (:data:`ESTIMATORS`):

    * ``"score"``: REINFORCE, TPAMI Eq. 8 / 11 (first line) with hard samples ``y ~ p_theta``:
      ``loss = mean_b log p_theta(y_b) (r_b - b_b)`` with ``r = reward_fn(y).detach()``. With ``baseline="none"``
      ``b = 0``; with ``baseline="mean"`` ``b_b`` is the **leave-one-out** mean of the other rows' rewards (of
      the same group for 3-D logits; ``B > 1``), which does not depend on ``y_b`` and so keeps the estimator
      unbiased (the plain batch mean would include ``r_b`` and bias it by a factor ``(B - 1) / B``); with
      ``B = 1`` there is no other row and ``b = 0``. The gradient is unbiased for any reward.
    * ``"pathwise"``: Gumbel-Softmax, TPAMI Eq. 10 / KDGAN Eq. 9: ``y = concrete_sample(logits, tau)`` and
      ``loss = mean(reward_fn(y))`` with gradients through ``y``. Biased for ``tau > 0``; the bias vanishes as
      ``tau -> 0`` for rewards smooth in ``y``.
    * ``"straight_through"``: ``y = straight_through_sample(logits, tau)`` (one-hot forward), same loss.
    * ``"concrete_score"``: TPAMI Eq. 11, last line, literally: ``y ~ q_tau`` a relaxed sample (drawn in log space,
      :func:`log_concrete_sample`; the reward, hence the discriminator, sees the relaxed ``y`` as for
      ``"pathwise"``) and ``loss = mean_b log q_tau(y_b | logits_b) (r_b - b_b)`` with ``y`` and ``r`` detached,
      ``log q_tau`` the concrete log density (:func:`concrete_log_density_from_log`) and the same baselines as
      ``"score"``. It is **unbiased for** ``grad_theta E_{y ~ q_tau(theta)}[f(y)]``, the gradient of the relaxed
      objective (the same quantity the pathwise estimator is unbiased for when ``f`` is differentiable), and
      therefore **biased for** ``grad_theta E_{y ~ p_theta}[f(one_hot(y))]``, the categorical objective that
      ``"score"`` estimates without bias; that bias is the pathwise one and vanishes as ``tau -> 0`` for a reward
      continuous at the vertices. Unlike ``"pathwise"`` it needs no gradient of ``f``. Unlike ``"score"`` its
      score ``d log q_tau(y) / d logits = 1 - K softmax(-g)`` at the sample (``g`` its Gumbel noise) is ``1 - K``
      times a flat-Dirichlet vector whatever ``tau`` and ``logits``: ``tr Cov = K (K - 1) / (K + 1)`` against at
      most ``1 - 1/K`` for the categorical score, so its variance stays bounded as ``tau -> 0`` (where the
      pathwise one grows like ``1 / tau``) but is several times the categorical score's at every ``tau``.

    For ``"pathwise"`` and ``"straight_through"`` the loss also carries gradients into whatever parameters
    ``reward_fn`` uses (a discriminator's); zero them or step only the generator's optimiser. ``tau`` is unused by
    ``"score"`` but still checked; ``baseline`` is used by :data:`SCORE_ESTIMATORS` only.

    The loss is the mean over all rows (all ``G * B`` rows for 3-D logits), so the gradient w.r.t. row ``b`` of
    the logits is ``1 / (number of rows)`` times the estimate for that row.

    **Members** (``generator`` a sequence of ``M`` generators, ``logits`` of shape ``(M, B, K)``): ``M``
    independent runs trained as one batched model (:mod:`advdist_lab.runs.ensemble`). Member ``m``'s labels are drawn
    from the ``m``-th generator exactly as that run alone draws them from its own (:func:`member_draw`);
    ``reward_fn`` then takes ``(M, B, K)`` labels and returns ``(M, B)`` rewards, the ``"mean"`` baseline is taken
    within each member, and ``loss``, ``value`` are per member, shape ``(M,)`` (each the mean over its ``B`` rows).

    Raises ``ValueError`` for an unknown estimator or baseline, ``tau`` not finite and > 0, logits that are not a
    floating tensor of shape ``(G, B, K)``, ``(B, K)`` or ``(K,)`` with ``K >= 2``, or a reward that is not a
    floating tensor of one value per row. Tensor values are not inspected (that would synchronise a GPU).
    """
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("baseline", baseline, BASELINES)
    tau = check_positive("tau", tau)
    logits = check_logits(logits)
    if logits.dim() > 3:
        raise ValueError(f"logits must have shape (G, B, K), (B, K) or (K,) (got shape {tuple(logits.shape)})")
    members = isinstance(generator, (tuple, list))
    if members and (logits.dim() != 3 or len(generator) != logits.shape[0]):
        raise ValueError(
            f"one generator per member needs logits (M, B, K) with M = {len(generator)} members "
            f"(got shape {tuple(logits.shape)})"
        )
    squeeze = logits.dim() == 1
    grouped = logits.dim() == 3 and not members
    batch = logits.unsqueeze(0) if squeeze else logits.reshape(-1, logits.shape[-1]) if grouped else logits
    b, k = batch.shape[-2:]
    if b < 1:
        raise ValueError(f"logits must have at least one row (got shape {tuple(logits.shape)})")
    groups, group_size = (logits.shape[0], logits.shape[1]) if grouped else (1, b)

    if estimator == "score":
        labels = member_draw(categorical_sample, batch, generator)
        y = one_hot(labels, k, dtype=batch.dtype)
    elif estimator == "pathwise":
        y = member_draw(concrete_sample, batch, generator, tau)
    elif estimator == "straight_through":
        y = member_draw(straight_through_sample, batch, generator, tau)
    else:  # concrete_score: log space keeps log q_tau(y) finite where y's small coordinates underflow
        log_y = member_draw(log_concrete_sample, batch.detach(), generator, tau)
        y = log_y.exp()

    reward = reward_fn(y)
    rows = "(M, B)" if members else "(G * B,)" if grouped else "(B,)"
    expected = tuple(batch.shape[:-1])
    if not isinstance(reward, Tensor) or not reward.is_floating_point():
        raise ValueError(
            f"reward_fn must return a floating-point tensor of shape {rows} = {expected} (got {reward!r:.80})"
        )
    if squeeze and reward.dim() == 0:
        reward = reward.reshape(1)
    if tuple(reward.shape) != expected:
        raise ValueError(
            f"reward_fn must return one reward per row, shape {rows} = {expected} (got shape {tuple(reward.shape)})"
        )

    if estimator in SCORE_ESTIMATORS:
        r = reward.detach()
        if baseline == "mean" and grouped and group_size > 1:
            r = r.reshape(groups, group_size)  # leave-one-out mean within each group
            r = (r - (r.sum(-1, keepdim=True) - r) / (group_size - 1)).reshape(b)
        elif baseline == "mean" and members and b > 1:
            r = r - (r.sum(-1, keepdim=True) - r) / (b - 1)  # leave-one-out mean within each member
        elif baseline == "mean" and not grouped and b > 1:
            r = r - (r.sum() - r) / (b - 1)  # leave-one-out mean: independent of y_b, so unbiased
        if estimator == "score":
            log_p = torch.log_softmax(batch, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        else:
            log_p = concrete_log_density_from_log(log_y, batch, tau)
        loss = (log_p * r).mean(-1) if members else (log_p * r).mean()
    else:
        loss = reward.mean(-1) if members else reward.mean()

    sample = y.detach()
    sample = sample.squeeze(0) if squeeze else sample.reshape(logits.shape) if grouped else sample
    return Surrogate(loss=loss, value=reward.detach().mean(-1) if members else reward.detach().mean(), sample=sample)


def member_draw(sampler: Callable[..., Tensor], logits: Tensor, generator, *args) -> Tensor:
    """``sampler(logits, *args, generator=generator)``, or, when ``generator`` is a sequence of ``M`` generators
    (one per member of ``(M, ...)`` logits), member ``m``'s draw from the ``m``-th generator, stacked: each member's
    draw has the shape and comes from the generator state that the run of that member alone would use.

    ``sampler`` is a sampler of :mod:`advdist_lab.concrete` (``categorical_sample``, ``concrete_sample``...).
    """
    if not isinstance(generator, (tuple, list)):
        return sampler(logits, *args, generator=generator)
    if logits.dim() < 2 or logits.shape[0] != len(generator):
        raise ValueError(
            f"one generator per member needs logits with a leading member dimension of {len(generator)} "
            f"(got shape {tuple(logits.shape)})"
        )
    return torch.stack([sampler(part, *args, generator=g) for part, g in zip(logits, generator)])
