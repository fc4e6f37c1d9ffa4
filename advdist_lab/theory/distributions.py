"""Exact discrete distributions: input checks, divergences, KD's loss and the optimal discriminators.

Everything here is computed exactly on small label spaces, so the lemmas and theorems of the papers can be
checked to machine precision. References are to the TPAMI paper (``000_...``, "Adversarial Distillation for
Learning with Privileged Provisions") unless they name KDGAN (``003_...``, NeurIPS 2018).

Conventions
-----------
* A distribution is a tensor whose **last dimension is the label space**; leading dimensions index contexts
  ``x``. Values that the papers write as an expectation over ``x`` are **averaged uniformly over contexts**
  (``reduction="mean"``, the default); ``reduction="none"`` keeps one value per context.
* Inputs that are not tensors become ``float64``; floating tensors keep their dtype.
* ``0 log 0 = 0`` throughout (``torch.xlogy``); ``KL(p || q)`` is ``+inf`` where ``q = 0 < p``.
* Inputs are checked: negative entries, rows that do not sum to 1 within :data:`DIST_ATOL`, non-finite values,
  mismatched shapes, and omega off the simplex raise ``ValueError``.

This module holds the checks, the divergences, KD's loss (Eq. 2) and the optimal discriminators; the value
functions of NGAN, ADIB and ADIM are in :mod:`.value_functions`, KDGAN's in :mod:`.kdgan`. The ``*_per_context``
functions are the unchecked kernels that those modules and the game solver (:mod:`.solver`) share. Imports run one
way: this module imports none of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..hparams import (
    check_binary_omega,
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_omega,
    check_real,
)

DTYPE = torch.float64
"""Default dtype of inputs given as lists, arrays or numbers."""

DIST_ATOL = 1e-6
"""A row of a distribution must sum to 1 within this tolerance."""

LOG4 = math.log(4.0)
REDUCTIONS = ("mean", "none")


# --------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------


def as_finite_tensor(x: object, name: str) -> Tensor:
    """``x`` as a floating tensor with a non-empty last (label) dimension and finite entries, else ``ValueError``.

    Non-tensors become :data:`DTYPE`; floating tensors keep their dtype. It checks no sum or sign: see
    :func:`as_distribution` for distributions and :func:`as_discriminator` for probabilities in ``[0, 1]``.
    """
    if isinstance(x, Tensor):
        t = x if x.is_floating_point() else x.to(DTYPE)
    else:
        try:
            t = torch.as_tensor(x, dtype=DTYPE)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if t.dim() < 1 or t.shape[-1] < 1:
        raise ValueError(
            f"{name} must have a last dimension of labels with at least one entry (got shape {tuple(t.shape)})"
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (got non-finite entries)")
    return t


def as_distribution(p: object, name: str = "p") -> Tensor:
    """Return ``p`` as a tensor after checking that each row (last dimension) is a distribution.

    Raises ``ValueError`` for negative entries, rows whose sum differs from 1 by more than
    :data:`DIST_ATOL`, non-finite values, or a missing label dimension.
    """
    t = as_finite_tensor(p, name)
    if (t < 0).any():
        raise ValueError(f"{name} must be a distribution: entries >= 0 (got minimum {t.min().item()!r})")
    err = (t.sum(-1) - 1).abs().max().item()
    if err > DIST_ATOL:
        raise ValueError(
            f"{name} must be a distribution: each row sums to 1 within {DIST_ATOL:g} (got a row off by {err:.3g})"
        )
    return t


def _same_shape(**tensors: Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"distributions must have the same shape (got {listing})")


def as_distributions(**named: object) -> list[Tensor]:
    """Check each keyword argument with :func:`as_distribution` (its name in the message) and that all share one
    shape; return them in order, in one dtype (:data:`DTYPE` if any is float64 or the dtypes differ)."""
    tensors = {name: as_distribution(p, name) for name, p in named.items()}
    _same_shape(**tensors)
    dtypes = {t.dtype for t in tensors.values()}
    dtype = DTYPE if DTYPE in dtypes or len(dtypes) > 1 else dtypes.pop()
    return [t.to(dtype) for t in tensors.values()]


def as_discriminator(d: object, shape: tuple[int, ...], name: str = "d") -> Tensor:
    """``d`` as a tensor of the given shape with entries in ``[0, 1]`` (a discriminator's probabilities), else
    ``ValueError``."""
    t = as_finite_tensor(d, name)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape} (got {tuple(t.shape)})")
    if (t < 0).any() or (t > 1).any():
        raise ValueError(
            f"{name} must be a probability: entries in [0, 1] (got range [{t.min().item():.3g}, {t.max().item():.3g}])"
        )
    return t


def reduce_contexts(per_context: Tensor, reduction: str) -> Tensor:
    """One value per context, averaged uniformly over contexts (``"mean"``) or kept (``"none"``)."""
    check_choice("reduction", reduction, REDUCTIONS)
    return per_context.mean() if reduction == "mean" else per_context


def random_distributions(
    n_contexts: int, n_labels: int, *, seed: int = 0, concentration: float = 1.0, dtype: torch.dtype = DTYPE
) -> Tensor:
    """``n_contexts`` distributions over ``n_labels`` labels drawn from a symmetric Dirichlet.

    Smaller ``concentration`` gives peakier distributions. Deterministic in ``seed``.
    """
    for name, v in (("n_contexts", n_contexts), ("n_labels", n_labels)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1 (got {v!r})")
    conc = check_real("concentration", concentration)
    if conc <= 0:
        raise ValueError(f"concentration must be > 0 (got {conc!r})")
    g = torch.Generator().manual_seed(check_nonnegative_int("seed", seed))
    gamma = torch._standard_gamma(torch.full((n_contexts, n_labels), conc, dtype=torch.float64), generator=g)
    gamma = gamma.clamp_min(1e-300)
    return (gamma / gamma.sum(-1, keepdim=True)).to(dtype)


def empirical_distribution(p_r: object, n: int, *, seed: int = 0, pseudocount: float = 0.0) -> Tensor:
    """The minimiser of TPAMI Eq. 1 on ``n`` labels sampled from ``p_r`` in each context: their frequencies.

    A teacher of unlimited capacity trained by ``min KL(p_hat || p_t)`` on a finite sample learns the
    empirical distribution ``p_hat``, not ``p_r``: this is where a teacher's error comes from. With
    ``pseudocount > 0`` the counts are smoothed, ``(count + pseudocount) / (n + K pseudocount)``, so that no
    label gets probability 0 (which would make ``KL(p_r || p_t)`` infinite). Deterministic in ``seed``.
    """
    p_r = as_distribution(p_r, "p_r")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (got {n!r})")
    pseudocount = check_nonnegative("pseudocount", pseudocount)
    g = torch.Generator().manual_seed(check_nonnegative_int("seed", seed))
    flat = p_r.reshape(-1, p_r.shape[-1]).to(torch.float64)
    samples = torch.multinomial(flat, n, replacement=True, generator=g)
    counts = torch.zeros_like(flat).scatter_add_(1, samples, torch.ones_like(samples, dtype=flat.dtype))
    p_hat = (counts + pseudocount) / (n + pseudocount * flat.shape[-1])
    return p_hat.reshape(p_r.shape).to(p_r.dtype)


# --------------------------------------------------------------------------------------------------------
# Divergences
# --------------------------------------------------------------------------------------------------------


def kl_per_context(p: Tensor, q: Tensor) -> Tensor:
    """``KL(p || q)`` per context (TPAMI Eq. 1) on tensors already checked: no input checks, for the solver's loop.

    KL >= 0; the clamp removes rounding negatives of order 1e-16 when ``q`` equals ``p``.
    """
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1).clamp_min(0)


def kl(p: object, q: object, reduction: str = "mean") -> Tensor:
    """Kullback-Leibler divergence ``KL(p || q) = sum_y p(y) log(p(y) / q(y))`` (TPAMI Eq. 1)."""
    p, q = as_distributions(p=p, q=q)
    return reduce_contexts(kl_per_context(p, q), reduction)


def js_per_context(p: Tensor, q: Tensor) -> Tensor:
    """``JS(p || q)`` per context on tensors already checked (see :func:`js`)."""
    m = 0.5 * (p + q)
    return 0.5 * kl_per_context(p, m) + 0.5 * kl_per_context(q, m)


def js(p: object, q: object, reduction: str = "mean") -> Tensor:
    """Jensen-Shannon divergence ``JS(p || q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``.

    Bounded by ``log 2``; it appears as ``2 L_JS(p_r || p_omega) - log 4`` in the proof of Theorem 4.2.
    """
    p, q = as_distributions(p=p, q=q)
    return reduce_contexts(js_per_context(p, q), reduction)


def _check_weights(weights: Sequence[float], n: int) -> list[float]:
    values = [check_real(f"weights[{i}]", w) for i, w in enumerate(weights)]
    if len(values) != n:
        raise ValueError(f"weights must have one entry per distribution ({n}) (got {len(values)})")
    if any(w <= 0 for w in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"weights must lie on the open simplex: each > 0 and summing to 1 (got {values!r})")
    return values


def generalized_js_per_context(ps: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """``sum_i w_i KL(p_i || sum_j w_j p_j)`` per context on tensors and weights already checked (see
    :func:`generalized_js`)."""
    m = sum(w * p for w, p in zip(weights, ps))
    return sum(w * kl_per_context(p, m) for w, p in zip(weights, ps))


def generalized_js(ps: Sequence[object], weights: Sequence[float], reduction: str = "mean") -> Tensor:
    """Generalised Jensen-Shannon divergence ``sum_i w_i KL(p_i || sum_j w_j p_j)``.

    With ``ps = (p_r, p_s, p_t)`` and ``weights = omega`` it is the divergence part of ADIM's optimal value
    (proof of Theorem 4.4): ``V*_ADIM = sum_i omega_i log omega_i + generalized_js(...)``. It is zero if and only
    if all ``p_i`` are equal.
    """
    if len(ps) < 1:
        raise ValueError("ps must hold at least one distribution (got none)")
    tensors = as_distributions(**{f"ps[{i}]": p for i, p in enumerate(ps)})
    return reduce_contexts(generalized_js_per_context(tensors, _check_weights(weights, len(tensors))), reduction)


def expected_log(p: object, d: object, reduction: str = "mean") -> Tensor:
    """``E_{y ~ p}[log d(y)] = sum_y p(y) log d(y)``, the building block of every adversarial loss (Eq. 3, 4, 6)."""
    p = as_distribution(p, "p")
    d = as_discriminator(d, tuple(p.shape)).to(p.dtype)
    return reduce_contexts(torch.xlogy(p, d).sum(-1), reduction)


def kd_loss_per_context(target: Tensor, learner: Tensor, p_r: Tensor, upsilon: float) -> Tensor:
    """TPAMI Eq. 2 per context, ``KL(target || learner) + upsilon KL(p_r || learner)``, on checked tensors."""
    loss = kl_per_context(target, learner)
    return loss + upsilon * kl_per_context(p_r, learner) if upsilon else loss


def kd_loss(target: object, learner: object, p_r: object, upsilon: float = 0.0, reduction: str = "mean") -> Tensor:
    """The distillation loss of TPAMI Eq. 2.

    ``L_KD(target || learner) = KL(target || learner) + upsilon KL(p_r || learner)``.

    ``kd_loss(p_t, p_s, p_r, upsilon)`` trains the student (weight ``nu`` in Eq. 4, 6);
    ``kd_loss(p_s, p_t, p_r, upsilon)`` trains the teacher (weight ``mu``).
    """
    target, learner, p_r = as_distributions(target=target, learner=learner, p_r=p_r)
    return reduce_contexts(kd_loss_per_context(target, learner, p_r, check_nonnegative("upsilon", upsilon)), reduction)


def kd_optimal_student(p_r: object, p_t: object, upsilon: float = 0.0) -> Tensor:
    """The minimiser over ``p_s`` of Eq. 2, ``(p_t + upsilon p_r) / (1 + upsilon)``.

    A KD student therefore inherits its teacher's error: it equals ``p_r`` only if ``p_t = p_r`` or
    ``upsilon -> inf``. (Setting the gradient of ``KL(p_t || q) + upsilon KL(p_r || q) + lambda (sum q - 1)``
    to zero gives ``q = (p_t + upsilon p_r) / (1 + upsilon)``.)
    """
    p_r, p_t = as_distributions(p_r=p_r, p_t=p_t)
    u = check_nonnegative("upsilon", upsilon)
    return (p_t + u * p_r) / (1 + u)


# --------------------------------------------------------------------------------------------------------
# Optimal discriminators (Lemma 4.1, Lemma 4.3) and mixtures
# --------------------------------------------------------------------------------------------------------


def _ratio(num: Tensor, den: Tensor, fill: Tensor | float) -> Tensor:
    safe = torch.where(den > 0, den, torch.ones_like(den))
    fill = torch.as_tensor(fill, dtype=num.dtype).expand_as(num)
    return torch.where(den > 0, num / safe, fill)


def optimal_discriminator_binary(p_real: object, p_fake: object) -> Tensor:
    """Lemma 4.1 (and KDGAN Lemma 4.1): ``D*(x, y) = p_real / (p_real + p_fake)``.

    For ADIB pass ``p_fake = mixture(p_s, p_t, omega_s, omega_t)``; for NGAN ``p_fake = p_s``. Where both
    are zero every ``D`` is optimal and 1/2 is returned.
    """
    p_real, p_fake = as_distributions(p_real=p_real, p_fake=p_fake)
    return _ratio(p_real, p_real + p_fake, 0.5)


def mixture(p_s: object, p_t: object, omega_s: float, omega_t: float) -> Tensor:
    """``p_omega = omega_s p_s + omega_t p_t`` (Lemma 4.1; KDGAN's ``p_alpha`` of Eq. 4 with ``omega_s = alpha``)."""
    p_s, p_t = as_distributions(p_s=p_s, p_t=p_t)
    omega_s, omega_t = check_binary_omega(omega_s, omega_t)
    return omega_s * p_s + omega_t * p_t


def optimal_discriminator_multiclass(p_r: object, p_s: object, p_t: object, omega: Sequence[float]) -> Tensor:
    """Lemma 4.3: ``D*_i(x, y) = omega_i p_i(y|x) / p_bar(y|x)`` with ``p_bar = sum_i omega_i p_i``.

    Returns a tensor of shape ``(3, *p.shape)`` in the order real, student, teacher; it sums to 1 over the
    first dimension. Where ``p_bar = 0`` every ``D`` is optimal and ``omega_i`` is returned.
    """
    p_r, p_s, p_t = as_distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    w = torch.tensor(check_omega(omega), dtype=p_r.dtype).view(3, *([1] * p_r.dim()))
    weighted = w * torch.stack([p_r, p_s, p_t])
    return _ratio(weighted, weighted.sum(0, keepdim=True).expand_as(weighted), w.expand_as(weighted))
