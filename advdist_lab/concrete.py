"""The concrete (Gumbel-Softmax) distribution of TPAMI Eq. 10 / KDGAN Eq. 9: Gumbel noise, samples, log density.

The generators' categorical distributions ``p = softmax(logits)`` over ``K`` labels are relaxed into the concrete
distribution (Maddison, Mnih and Teh 2017; Jang, Gu and Poole 2017) ``y = softmax((log p + g) / tau)`` with
``g ~ Gumbel(0, 1)`` i.i.d. per label. This module holds the distribution itself; the gradient estimators built on
it, the temperature schedules and the exact expectations are in :mod:`advdist_lab.gumbel`, which re-exports every
name here.

* Samplers: :func:`sample_gumbel`, :func:`concrete_sample` (relaxed), :func:`log_concrete_sample` (its logarithm,
  computed in log space: finite at any ``tau``), :func:`straight_through_sample` (one-hot forward, relaxed
  backward), :func:`categorical_sample` (the Gumbel-max trick) and :func:`one_hot`.
* The density: :func:`concrete_log_density` at a point ``y`` of the simplex, and
  :func:`concrete_log_density_from_log` at ``log y``, the ``q_s(y | x)`` of TPAMI Eq. 11 taken literally.

Conventions: label distributions are tensors whose **last dimension is the label space**; every sampler takes an
optional ``torch.Generator`` (on the tensors' device). Checks inspect shapes, dtypes and Python numbers only,
never tensor values (no host-device synchronisation); bad arguments raise ``ValueError`` naming the constraint.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .hparams import check_positive, check_positive_int

__all__ = [
    "EULER_GAMMA",
    "categorical_sample",
    "check_logits",
    "concrete_log_density",
    "concrete_log_density_from_log",
    "concrete_sample",
    "is_integer_dtype",
    "log_concrete_sample",
    "one_hot",
    "sample_gumbel",
    "straight_through_sample",
]

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant, the mean of the standard Gumbel distribution (its variance is pi^2 / 6)."""

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def is_integer_dtype(dtype: torch.dtype) -> bool:
    """Whether ``dtype`` is an integer (or bool) dtype: neither floating-point nor complex."""
    return not (dtype.is_floating_point or dtype.is_complex)


def check_logits(logits: object, name: str = "logits") -> Tensor:
    """Return ``logits`` if it is a floating-point tensor whose last (label) dimension has size >= 2; otherwise
    raise ``ValueError`` naming ``name`` and the constraint. Shapes and dtypes only: no tensor value is read."""
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (got {type(logits).__name__})")
    if not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (got dtype {logits.dtype})")
    if logits.dim() < 1 or logits.shape[-1] < 2:
        raise ValueError(f"{name} must have a last (label) dimension of size >= 2 (got shape {tuple(logits.shape)})")
    return logits


def sample_gumbel(
    shape: int | tuple[int, ...] | torch.Size,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Standard Gumbel(0, 1) noise ``g = -log(-log u)`` with ``u ~ Uniform(0, 1)`` (TPAMI footnote 1, KDGAN fn. 2).

    ``u`` is clamped to ``[tiny, 1 - eps]`` of its dtype so that ``g`` is always finite (in float32 ``g`` lies in
    about ``[-4.5, 16.6]``). Half-precision noise is drawn in float32 and then cast. ``device`` defaults to the
    generator's device (or the default device without a generator).
    """
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype (got {dtype!r})")
    if device is None and generator is not None:
        device = generator.device
    work = torch.float32 if dtype in _LOW_PRECISION else dtype
    finfo = torch.finfo(work)
    u = torch.rand(shape, generator=generator, device=device, dtype=work)
    u = u.clamp_(min=finfo.tiny, max=1.0 - finfo.eps)
    g = -torch.log(-torch.log(u))
    return g.to(dtype)


def concrete_sample(logits: Tensor, tau: float, *, generator: torch.Generator | None = None) -> Tensor:
    """A sample of the concrete distribution, TPAMI Eq. 10 / KDGAN Eq. 9: ``softmax((log p + g) / tau)``.

    ``log p = log_softmax(logits)`` over the last dimension and ``g ~ Gumbel(0, 1)`` i.i.d. per entry. The result
    lies on the simplex (each row sums to 1), is differentiable in ``logits`` (the reparameterisation trick), and
    its ``argmax`` is distributed exactly as ``softmax(logits)`` for every ``tau`` (the Gumbel-max trick). As
    ``tau -> 0`` samples become one-hot; as ``tau -> inf`` they tend to the uniform point.
    """
    logits = check_logits(logits)
    tau = check_positive("tau", tau)
    g = sample_gumbel(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return torch.softmax((torch.log_softmax(logits, dim=-1) + g) / tau, dim=-1)


def log_concrete_sample(logits: Tensor, tau: float, *, generator: torch.Generator | None = None) -> Tensor:
    """The logarithm of a concrete sample (Eq. 10), ``log_softmax((log p + g) / tau)``, computed in log space.

    ``exp`` of it is a :func:`concrete_sample` drawn with the same noise (up to rounding). Unlike ``log`` of a
    relaxed sample, it stays finite at any ``tau``: at a small ``tau`` the coordinates of a relaxed sample away from
    its largest underflow to exact zeros (float32 at ``tau = 0.1`` already, for logits a few units apart), where
    ``log y`` is ``-inf``. Differentiable in ``logits``.
    """
    logits = check_logits(logits)
    tau = check_positive("tau", tau)
    g = sample_gumbel(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return torch.log_softmax((torch.log_softmax(logits, dim=-1) + g) / tau, dim=-1)


def one_hot(labels: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot rows of shape ``(*labels.shape, num_classes)`` for integer ``labels`` in ``[0, num_classes)``.

    Built with ``scatter`` (no value check, so no host-device synchronisation; an out-of-range label raises on
    CPU and triggers a device-side assertion on CUDA).
    """
    if not isinstance(labels, Tensor) or labels.dtype == torch.bool or not is_integer_dtype(labels.dtype):
        raise ValueError(f"labels must be an integer tensor (got {getattr(labels, 'dtype', type(labels).__name__)})")
    num_classes = check_positive_int("num_classes", num_classes)
    out = torch.zeros(*labels.shape, num_classes, dtype=dtype, device=labels.device)
    return out.scatter_(-1, labels.long().unsqueeze(-1), 1.0)


def straight_through_sample(logits: Tensor, tau: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Straight-through Gumbel-Softmax: the one-hot ``argmax`` of a concrete sample (Eq. 10) forward, the gradient
    of the relaxed sample backward.

    Computed as ``y_hard + (y_soft - y_soft.detach())``: the same gradient as the usual
    ``y_hard - y_soft.detach() + y_soft``, and a forward value that is exactly one-hot by construction (the
    bracket is exactly zero), so the discriminator sees the same kind of labels for fake and real data.
    """
    y_soft = concrete_sample(logits, tau, generator=generator)
    y_hard = one_hot(y_soft.detach().argmax(dim=-1), y_soft.shape[-1], dtype=y_soft.dtype)
    return y_hard + (y_soft - y_soft.detach())


def categorical_sample(logits: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Integer (int64) labels ``y ~ softmax(logits)`` by the Gumbel-max trick, ``argmax(log p + g)``; no gradient.

    The shape is ``logits.shape[:-1]``.
    """
    logits = check_logits(logits)
    with torch.no_grad():
        g = sample_gumbel(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        return (torch.log_softmax(logits, dim=-1) + g).argmax(dim=-1)


def concrete_log_density(y: Tensor, logits: Tensor, tau: float) -> Tensor:
    """The log density of the concrete distribution of Eq. 10 at a point ``y`` of the open simplex.

    Maddison, Mnih and Teh (2017), Sec. 3.2, with ``alpha = p = softmax(logits)``, ``lambda = tau``, ``n = K``::

        p(y) = (n - 1)! tau^(n - 1) prod_k (alpha_k y_k^(-tau - 1)) / (sum_i alpha_i y_i^(-tau))^n

    a density w.r.t. the Lebesgue measure on ``(y_1, ..., y_{n-1})`` (``y_n = 1 - sum``). Computed in log space;
    differentiable in ``logits`` and ``y``. Shapes broadcast over leading dimensions; the result has the
    broadcast shape without the label dimension. ``y`` must be strictly inside the simplex (entries > 0): a
    relaxed sample at a small ``tau`` can underflow to exact zeros, where the log density is not finite; at such
    temperatures draw ``log y`` with :func:`log_concrete_sample` and use :func:`concrete_log_density_from_log`.

    This is the ``q_s(y | x)`` of Eq. 11 taken literally: ``grad log q_s(y | x)`` at a detached sample ``y``
    gives the score-function form of the Gumbel-Softmax gradient (estimator ``"concrete_score"`` of
    :func:`advdist_lab.gumbel.adversarial_surrogate`).
    """
    y = check_logits(y, "y")
    return concrete_log_density_from_log(torch.log(y), logits, tau)


def concrete_log_density_from_log(log_y: Tensor, logits: Tensor, tau: float) -> Tensor:
    """:func:`concrete_log_density` at the point ``y = exp(log_y)``, from ``log_y`` (finite at any ``tau``).

    ``log_y`` (shape ``(..., K)``) is typically :func:`log_concrete_sample`'s output; the formula only uses
    ``log y``, so no coordinate underflows. Differentiable in ``logits`` and ``log_y``.
    """
    logits = check_logits(logits)
    log_y = check_logits(log_y, "y")
    tau = check_positive("tau", tau)
    if log_y.shape[-1] != logits.shape[-1]:
        raise ValueError(
            f"y and logits must have the same number of labels (got {log_y.shape[-1]} and {logits.shape[-1]})"
        )
    n = log_y.shape[-1]
    log_alpha = torch.log_softmax(logits, dim=-1)
    log_norm = math.lgamma(n) + (n - 1) * math.log(tau)
    numerator = (log_alpha - (tau + 1.0) * log_y).sum(dim=-1)
    denominator = n * torch.logsumexp(log_alpha - tau * log_y, dim=-1)
    return log_norm + numerator - denominator
