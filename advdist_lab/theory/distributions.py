"""Exact discrete distributions: divergences, optimal discriminators, value functions and equilibria.

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

The game solver, :func:`~advdist_lab.theory.solver.solve_game`, plays these value functions; it imports this
module, never the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..hparams import check_binary_omega, check_choice, check_nonnegative, check_omega, check_real

DTYPE = torch.float64
"""Default dtype of inputs given as lists, arrays or numbers."""

DIST_ATOL = 1e-6
"""A row of a distribution must sum to 1 within this tolerance."""

LOG4 = math.log(4.0)
REDUCTIONS = ("mean", "none")


# --------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------


def _as_tensor(x: object, name: str) -> Tensor:
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
    t = _as_tensor(p, name)
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


def _distributions(**named: object) -> list[Tensor]:
    tensors = {name: as_distribution(p, name) for name, p in named.items()}
    _same_shape(**tensors)
    dtypes = {t.dtype for t in tensors.values()}
    dtype = DTYPE if DTYPE in dtypes or len(dtypes) > 1 else dtypes.pop()
    return [t.to(dtype) for t in tensors.values()]


def _discriminator(d: object, shape: tuple[int, ...], name: str = "d") -> Tensor:
    t = _as_tensor(d, name)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape} (got {tuple(t.shape)})")
    if (t < 0).any() or (t > 1).any():
        raise ValueError(
            f"{name} must be a probability: entries in [0, 1] (got range [{t.min().item():.3g}, {t.max().item():.3g}])"
        )
    return t


def _reduce(per_context: Tensor, reduction: str) -> Tensor:
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
    g = torch.Generator().manual_seed(seed)
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
    g = torch.Generator().manual_seed(seed)
    flat = p_r.reshape(-1, p_r.shape[-1]).to(torch.float64)
    samples = torch.multinomial(flat, n, replacement=True, generator=g)
    counts = torch.zeros_like(flat).scatter_add_(1, samples, torch.ones_like(samples, dtype=flat.dtype))
    p_hat = (counts + pseudocount) / (n + pseudocount * flat.shape[-1])
    return p_hat.reshape(p_r.shape).to(p_r.dtype)


# --------------------------------------------------------------------------------------------------------
# Divergences
# --------------------------------------------------------------------------------------------------------


def _kl(p: Tensor, q: Tensor) -> Tensor:
    # KL >= 0; the clamp removes rounding negatives of order 1e-16 when q equals p.
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1).clamp_min(0)


def kl(p: object, q: object, reduction: str = "mean") -> Tensor:
    """Kullback-Leibler divergence ``KL(p || q) = sum_y p(y) log(p(y) / q(y))`` (TPAMI Eq. 1)."""
    p, q = _distributions(p=p, q=q)
    return _reduce(_kl(p, q), reduction)


def _js(p: Tensor, q: Tensor) -> Tensor:
    m = 0.5 * (p + q)
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


def js(p: object, q: object, reduction: str = "mean") -> Tensor:
    """Jensen-Shannon divergence ``JS(p || q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``.

    Bounded by ``log 2``; it appears as ``2 L_JS(p_r || p_omega) - log 4`` in the proof of Theorem 4.2.
    """
    p, q = _distributions(p=p, q=q)
    return _reduce(_js(p, q), reduction)


def _check_weights(weights: Sequence[float], n: int) -> list[float]:
    values = [check_real(f"weights[{i}]", w) for i, w in enumerate(weights)]
    if len(values) != n:
        raise ValueError(f"weights must have one entry per distribution ({n}) (got {len(values)})")
    if any(w <= 0 for w in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"weights must lie on the open simplex: each > 0 and summing to 1 (got {values!r})")
    return values


def _gjs(ps: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    m = sum(w * p for w, p in zip(weights, ps))
    return sum(w * _kl(p, m) for w, p in zip(weights, ps))


def generalized_js(ps: Sequence[object], weights: Sequence[float], reduction: str = "mean") -> Tensor:
    """Generalised Jensen-Shannon divergence ``sum_i w_i KL(p_i || sum_j w_j p_j)``.

    With ``ps = (p_r, p_s, p_t)`` and ``weights = omega`` it is the divergence part of ADIM's optimal value
    (proof of Theorem 4.4): ``V*_ADIM = sum_i omega_i log omega_i + generalized_js(...)``. It is zero if and only
    if all ``p_i`` are equal.
    """
    if len(ps) < 1:
        raise ValueError("ps must hold at least one distribution (got none)")
    tensors = _distributions(**{f"ps[{i}]": p for i, p in enumerate(ps)})
    return _reduce(_gjs(tensors, _check_weights(weights, len(tensors))), reduction)


def expected_log(p: object, d: object, reduction: str = "mean") -> Tensor:
    """``E_{y ~ p}[log d(y)] = sum_y p(y) log d(y)``, the building block of every adversarial loss (Eq. 3, 4, 6)."""
    p = as_distribution(p, "p")
    d = _discriminator(d, tuple(p.shape)).to(p.dtype)
    return _reduce(torch.xlogy(p, d).sum(-1), reduction)


def _kd_loss(target: Tensor, learner: Tensor, p_r: Tensor, upsilon: float) -> Tensor:
    loss = _kl(target, learner)
    return loss + upsilon * _kl(p_r, learner) if upsilon else loss


def kd_loss(target: object, learner: object, p_r: object, upsilon: float = 0.0, reduction: str = "mean") -> Tensor:
    """The distillation loss of TPAMI Eq. 2.

    ``L_KD(target || learner) = KL(target || learner) + upsilon KL(p_r || learner)``.

    ``kd_loss(p_t, p_s, p_r, upsilon)`` trains the student (weight ``nu`` in Eq. 4, 6);
    ``kd_loss(p_s, p_t, p_r, upsilon)`` trains the teacher (weight ``mu``).
    """
    target, learner, p_r = _distributions(target=target, learner=learner, p_r=p_r)
    return _reduce(_kd_loss(target, learner, p_r, check_nonnegative("upsilon", upsilon)), reduction)


def kd_optimal_student(p_r: object, p_t: object, upsilon: float = 0.0) -> Tensor:
    """The minimiser over ``p_s`` of Eq. 2, ``(p_t + upsilon p_r) / (1 + upsilon)``.

    A KD student therefore inherits its teacher's error: it equals ``p_r`` only if ``p_t = p_r`` or
    ``upsilon -> inf``. (Setting the gradient of ``KL(p_t || q) + upsilon KL(p_r || q) + lambda (sum q - 1)``
    to zero gives ``q = (p_t + upsilon p_r) / (1 + upsilon)``.)
    """
    p_r, p_t = _distributions(p_r=p_r, p_t=p_t)
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
    p_real, p_fake = _distributions(p_real=p_real, p_fake=p_fake)
    return _ratio(p_real, p_real + p_fake, 0.5)


def mixture(p_s: object, p_t: object, omega_s: float, omega_t: float) -> Tensor:
    """``p_omega = omega_s p_s + omega_t p_t`` (Lemma 4.1; KDGAN's ``p_alpha`` of Eq. 4 with ``omega_s = alpha``)."""
    p_s, p_t = _distributions(p_s=p_s, p_t=p_t)
    omega_s, omega_t = check_binary_omega(omega_s, omega_t)
    return omega_s * p_s + omega_t * p_t


def optimal_discriminator_multiclass(p_r: object, p_s: object, p_t: object, omega: Sequence[float]) -> Tensor:
    """Lemma 4.3: ``D*_i(x, y) = omega_i p_i(y|x) / p_bar(y|x)`` with ``p_bar = sum_i omega_i p_i``.

    Returns a tensor of shape ``(3, *p.shape)`` in the order real, student, teacher; it sums to 1 over the
    first dimension. Where ``p_bar = 0`` every ``D`` is optimal and ``omega_i`` is returned.
    """
    p_r, p_s, p_t = _distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    w = torch.tensor(check_omega(omega), dtype=p_r.dtype).view(3, *([1] * p_r.dim()))
    weighted = w * torch.stack([p_r, p_s, p_t])
    return _ratio(weighted, weighted.sum(0, keepdim=True).expand_as(weighted), w.expand_as(weighted))


# --------------------------------------------------------------------------------------------------------
# Value functions (Eq. 3, 4, 6; KDGAN Eq. 3)
# --------------------------------------------------------------------------------------------------------


def _distillation(p_r: Tensor, p_s: Tensor, p_t: Tensor, nu: float, mu: float, upsilon: float) -> Tensor:
    total = torch.zeros(p_r.shape[:-1], dtype=p_r.dtype)
    if nu:
        total = total + nu * _kd_loss(p_t, p_s, p_r, upsilon)
    if mu:
        total = total + mu * _kd_loss(p_s, p_t, p_r, upsilon)
    return total


def _weights(nu: float, mu: float, upsilon: float) -> tuple[float, float, float]:
    return check_nonnegative("nu", nu), check_nonnegative("mu", mu), check_nonnegative("upsilon", upsilon)


def ngan_value(p_r: object, p_s: object, d: object, reduction: str = "mean") -> Tensor:
    """Eq. 3: ``V_NGAN = E_{y~p_r}[log D(x, y)] + E_{y~p_s}[log(1 - D(x, y))]``."""
    p_r, p_s = _distributions(p_r=p_r, p_s=p_s)
    d = _discriminator(d, tuple(p_r.shape)).to(p_r.dtype)
    return _reduce(torch.xlogy(p_r, d).sum(-1) + torch.xlogy(p_s, 1 - d).sum(-1), reduction)


def ngan_optimal_value(p_r: object, p_s: object, reduction: str = "mean") -> Tensor:
    """Eq. 3 at the optimal discriminator (Lemma 4.1 with ``p_omega = p_s``): ``2 JS(p_r || p_s) - log 4``."""
    p_r, p_s = _distributions(p_r=p_r, p_s=p_s)
    return _reduce(2 * _js(p_r, p_s) - LOG4, reduction)


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
    p_r, p_s, p_t = _distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    d = _discriminator(d, tuple(p_r.shape)).to(p_r.dtype)
    omega_s, omega_t = check_binary_omega(omega_s, omega_t)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    adversarial = torch.xlogy(p_r, d).sum(-1) + torch.xlogy(omega_s * p_s + omega_t * p_t, 1 - d).sum(-1)
    return _reduce(adversarial + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


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
    p_r, p_s, p_t = _distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    omega_s, omega_t = check_binary_omega(omega_s, omega_t)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    p_omega = omega_s * p_s + omega_t * p_t
    return _reduce(2 * _js(p_r, p_omega) - LOG4 + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


def adib_equilibrium_value() -> float:
    """Theorem 4.2 (and KDGAN Theorem 4.2): the value of ADIB at its equilibrium, ``-log 4``."""
    return -LOG4


def ngan_equilibrium_value() -> float:
    """The value of NGAN's game (Eq. 3) at its equilibrium ``p_s = p_r``: ``-log 4``."""
    return -LOG4


def _check_d3(d: object, shape: tuple[int, ...]) -> Tensor:
    t = _discriminator(d, (3, *shape))
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
    p_r, p_s, p_t = _distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    d = _check_d3(d, tuple(p_r.shape)).to(p_r.dtype)
    w = check_omega(omega)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    adversarial = sum(wi * torch.xlogy(pi, di).sum(-1) for wi, pi, di in zip(w, (p_r, p_s, p_t), d))
    return _reduce(adversarial + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


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
    p_r, p_s, p_t = _distributions(p_r=p_r, p_s=p_s, p_t=p_t)
    w = check_omega(omega)
    nu, mu, upsilon = _weights(nu, mu, upsilon)
    constant = sum(wi * math.log(wi) for wi in w)
    return _reduce(constant + _gjs((p_r, p_s, p_t), w) + _distillation(p_r, p_s, p_t, nu, mu, upsilon), reduction)


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


# --------------------------------------------------------------------------------------------------------
# KDGAN (NeurIPS 2018), Eq. 3-5
# --------------------------------------------------------------------------------------------------------

KDGAN_DISTILLATION = ("kl", "l2")


def _kdgan_ds(learner: Tensor, target: Tensor, kind: str) -> Tensor:
    if kind == "kl":
        return _kl(target, learner)
    # L2 between logits, which are defined up to an additive constant: compare centred log-probabilities.
    a, b = torch.log(learner), torch.log(target)
    diff = (a - a.mean(-1, keepdim=True)) - (b - b.mean(-1, keepdim=True))
    return 0.5 * (diff**2).sum(-1)


def _kdgan_args(alpha: float, beta: float, gamma: float, distillation: str) -> tuple[float, float, float]:
    alpha = check_real("alpha", alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (KDGAN Eq. 3) (got {alpha!r})")
    check_choice("distillation", distillation, KDGAN_DISTILLATION)
    return alpha, check_nonnegative("beta", beta), check_nonnegative("gamma", gamma)


def kdgan_distillation_loss(learner: object, target: object, kind: str = "kl", reduction: str = "mean") -> Tensor:
    """KDGAN's ``L_DS(learner, target)``: ``KL(target || learner)`` or the L2 loss between (centred) logits.

    Both are zero if and only if ``learner == target``, which is all Theorem 4.2 needs. ``kind="l2"`` needs
    strictly positive distributions (logits are their logarithms).
    """
    learner, target = _distributions(learner=learner, target=target)
    check_choice("kind", kind, KDGAN_DISTILLATION)
    if kind == "l2" and ((learner <= 0).any() or (target <= 0).any()):
        raise ValueError("the L2 loss on logits needs strictly positive distributions (got a zero entry)")
    return _reduce(_kdgan_ds(learner, target, kind), reduction)


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
    p_u, p_c, p_t = _distributions(p_u=p_u, p_c=p_c, p_t=p_t)
    d = _discriminator(d, tuple(p_u.shape)).to(p_u.dtype)
    alpha, beta, gamma = _kdgan_args(alpha, beta, gamma, distillation)
    if distillation == "l2":
        kdgan_distillation_loss(p_c, p_t, "l2")
    value = torch.xlogy(p_u, d).sum(-1) + torch.xlogy(alpha * p_c + (1 - alpha) * p_t, 1 - d).sum(-1)
    if beta:
        value = value + beta * _kdgan_ds(p_c, p_t, distillation)
    if gamma:
        value = value + gamma * _kdgan_ds(p_t, p_c, distillation)
    return _reduce(value, reduction)


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
    p_u, p_c, p_t = _distributions(p_u=p_u, p_c=p_c, p_t=p_t)
    alpha, beta, gamma = _kdgan_args(alpha, beta, gamma, distillation)
    if distillation == "l2":
        kdgan_distillation_loss(p_c, p_t, "l2")
    value = 2 * _js(p_u, alpha * p_c + (1 - alpha) * p_t) - LOG4
    if beta:
        value = value + beta * _kdgan_ds(p_c, p_t, distillation)
    if gamma:
        value = value + gamma * _kdgan_ds(p_t, p_c, distillation)
    return _reduce(value, reduction)
