"""Distillation and adversarial losses on minibatches of logits (TPAMI ``000_...``, Eq. 1-6; KDGAN ``003_...``).

Every function takes logits of shape ``(B, K)`` (the label space last) and returns a scalar averaged over the
batch, so the training loop can add them with the paper's weights. The logits may also carry a leading member
dimension, ``(M, B, K)``: ``M`` independent runs trained as one batched model (:mod:`advdist_lab.runs.ensemble`);
the losses are then averaged over each member's batch and returned per member, shape ``(M,)`` (the per-example
terms of the discriminator losses are then ``(M, B)``). For ``(B, K)`` inputs nothing changes.

Distillation losses (no discriminator involved, TPAMI Sec. 3):

* :func:`kl_loss` ``KL(p || q)`` between the softmax distributions of two logit tensors.
* :func:`kd_loss` Eq. 2, ``L_KD(p_t || p_s) = KL(p_t || p_s) + upsilon * KL(p_r || p_s)``, where ``p_r`` is the
  one-hot label (or a given distribution), so the second term is the cross-entropy of Eq. 1.
* :func:`l2_logit_loss` MIMIC (Ba and Caruana): the squared difference of logits.
* :func:`hinton_kd_loss` DISTN (Hinton et al.): the soft cross-entropy at temperature ``T`` times ``T**2`` plus
  the hard cross-entropy.
* :func:`noisy_teacher_logits` NOISY (Sau and Balasubramanian): teacher logits perturbed by Gaussian noise.

Adversarial losses (the discriminator's side; the generators' side goes through :mod:`advdist_lab.gumbel`):

* :func:`ngan_discriminator_loss` Eq. 3, ``-(E_{p_r} log D + E_{p_s} log(1 - D))``.
* :func:`adib_discriminator_loss` Eq. 4, ``-(E_{p_r} log D + omega_s E_{p_s} log(1 - D) + omega_t E_{p_t} log(1 - D))``.
* :func:`adim_discriminator_loss` Eq. 6 and Algorithm 1 line 5,
  ``-(omega_r E_{p_r} log D_r + omega_s E_{p_s} log D_s + omega_t E_{p_t} log D_t)``.

The discriminators themselves (:mod:`advdist_lab.models`) return logits and log-probabilities computed with
``logsigmoid``, so the losses here never take the log of a probability that has underflowed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .hparams import check_nonnegative, check_positive

__all__ = [
    "adib_discriminator_loss",
    "adim_discriminator_loss",
    "cross_entropy",
    "hinton_kd_loss",
    "kd_loss",
    "kl_loss",
    "l2_logit_loss",
    "ngan_discriminator_loss",
    "noisy_teacher_logits",
]


def _check_logits(name: str, logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() not in (2, 3) or logits.shape[-1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"{name} must be a (batch, labels) or (members, batch, labels) tensor with at least 2 labels (got {shape})"
        )
    if not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (got {logits.dtype})")


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    _check_logits(names[0], a)
    _check_logits(names[1], b)
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (got {tuple(a.shape)} and {tuple(b.shape)})"
        )


def _target_log_probs(target: torch.Tensor, num_classes: int) -> torch.Tensor | None:
    """``log p_r`` for a (B, K) distribution; None for int labels (handled by cross-entropy)."""
    if target.dtype in (torch.int64, torch.int32):
        return None
    if target.dim() not in (2, 3) or target.shape[-1] != num_classes:
        raise ValueError(
            f"p_r must be int labels (B,) or a (B, {num_classes}) distribution (got {tuple(target.shape)})"
        )
    return target


def kl_loss(target_logits: torch.Tensor, logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``KL(p || q)`` with ``p = softmax(target_logits / T)`` and ``q = softmax(logits / T)``, mean over the batch.

    Gradients flow into both arguments; detach ``target_logits`` for a fixed target (as the distillation losses
    of the papers do: the teacher is a constant when the student learns from it, Eq. 2, 4, 6).
    """
    _check_pair(target_logits, logits, ("target_logits", "logits"))
    temperature = check_positive("temperature", temperature)
    log_p = F.log_softmax(target_logits / temperature, dim=-1)
    log_q = F.log_softmax(logits / temperature, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1)


def cross_entropy(logits: torch.Tensor, p_r: torch.Tensor) -> torch.Tensor:
    """``KL(p_r || p) + H(p_r)``: Eq. 1's objective, for int labels or a (B, K) distribution ``p_r``."""
    _check_logits("logits", logits)
    soft = _target_log_probs(p_r, logits.shape[-1])
    if soft is None and logits.dim() == 2:
        return F.cross_entropy(logits, p_r.long())
    if soft is None:  # (M, B, K) logits, (M, B) labels: each member's loss as its solo run computes it, bit for bit
        return torch.stack([F.cross_entropy(part, labels.long()) for part, labels in zip(logits, p_r)])
    return -(soft * F.log_softmax(logits, dim=-1)).sum(-1).mean(-1)


def kd_loss(target_logits: torch.Tensor, logits: torch.Tensor, p_r: torch.Tensor, upsilon: float) -> torch.Tensor:
    """Eq. 2: ``L_KD(p_target || p) = KL(p_target || p) + upsilon * KL(p_r || p)``.

    ``target_logits`` is detached: the target is the other player's current distribution. With one-hot ``p_r``
    (int labels), ``KL(p_r || p)`` is the cross-entropy. For a soft ``p_r`` we add its entropy back so that the
    value is the KL itself (zero when ``p = p_r``); the gradient is the same either way.
    """
    upsilon = check_nonnegative("upsilon", upsilon)
    loss = kl_loss(target_logits.detach(), logits)
    if upsilon == 0:
        return loss
    ce = cross_entropy(logits, p_r)
    if p_r.is_floating_point():
        ce = ce + (p_r * torch.log(p_r.clamp_min(1e-30))).sum(-1).mean(-1)
    return loss + upsilon * ce


def l2_logit_loss(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """MIMIC (Ba and Caruana, 2014): ``0.5 * ||z_s - z_t||^2`` summed over labels, mean over the batch."""
    _check_pair(logits, target_logits, ("logits", "target_logits"))
    return 0.5 * (logits - target_logits.detach()).pow(2).sum(-1).mean(-1)


def hinton_kd_loss(
    logits: torch.Tensor,
    target_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 3.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """DISTN (Hinton et al., 2015): ``alpha * T^2 * CE(softmax(z_t / T), softmax(z_s / T)) + (1 - alpha) * CE(y, z_s)``.

    The ``T^2`` factor keeps the soft term's gradient on the scale of the hard term's as ``T`` grows. The soft
    cross-entropy differs from ``KL(p_t^T || p_s^T)`` by the teacher's entropy, a constant for the student.
    """
    temperature = check_positive("temperature", temperature)
    alpha = check_nonnegative("alpha", alpha)
    if alpha > 1:
        raise ValueError(f"alpha must be in [0, 1] (got {alpha!r})")
    soft = kl_loss(target_logits.detach(), logits, temperature) * temperature**2
    return alpha * soft + (1 - alpha) * cross_entropy(logits, labels)


def noisy_teacher_logits(
    target_logits: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """NOISY (Sau and Balasubramanian, 2016): ``z_t * (1 + sigma * xi)``, ``xi ~ N(0, 1)`` per logit.

    The multiplicative perturbation simulates learning from several teachers; the student then minimises the
    L2 loss against the perturbed logits. ``sigma = 0`` returns the logits unchanged (detached). ``generator`` may
    be a sequence of generators, one per member of ``(M, B, K)`` logits: member ``m``'s noise is then drawn from the
    ``m``-th, as the run of that member alone draws it.
    """
    _check_logits("target_logits", target_logits)
    sigma = check_nonnegative("sigma", sigma)
    target = target_logits.detach()
    if sigma == 0:
        return target
    if isinstance(generator, (tuple, list)):
        if target.dim() != 3 or len(generator) != target.shape[0]:
            raise ValueError(
                f"one generator per member needs (members, batch, labels) logits with {len(generator)} members "
                f"(got {tuple(target.shape)})"
            )
        noise = torch.stack(
            [
                torch.randn(part.shape, generator=g, device=part.device, dtype=part.dtype)
                for part, g in zip(target, generator)
            ]
        )
    else:
        noise = torch.randn(target.shape, generator=generator, device=target.device, dtype=target.dtype)
    return target * (1 + sigma * noise)


def _check_terms(**terms: torch.Tensor) -> None:
    for name, value in terms.items():
        if not isinstance(value, torch.Tensor) or value.dim() not in (1, 2):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"{name} must be a (batch,) or (members, batch) tensor of per-example values (got {shape})"
            )
    first, *rest = terms
    if any(terms[name].shape[:-1] != terms[first].shape[:-1] for name in rest):  # (batch,) or one member count
        shapes = ", ".join(f"{name} {tuple(value.shape)}" for name, value in terms.items())
        raise ValueError(
            f"{first} must be a tensor of per-example values with the members of {', '.join(rest)} (got {shapes})"
        )


def ngan_discriminator_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """Eq. 3 for the discriminator: ``-(E_{y~p_r} log D(x, y) + E_{y~p_s} log(1 - D(x, y)))``.

    Arguments are the discriminator's logits ``<y, g(x)>`` on real and on student labels, shape (B,).
    """
    _check_terms(real_logit=real_logit, fake_logit=fake_logit)
    return -(F.logsigmoid(real_logit).mean(-1) + F.logsigmoid(-fake_logit).mean(-1))


def adib_discriminator_loss(
    real_logit: torch.Tensor,
    student_logit: torch.Tensor,
    teacher_logit: torch.Tensor,
    omega_s: float,
    omega_t: float,
) -> torch.Tensor:
    """Eq. 4 for the discriminator: ``-(E_{p_r} log D + omega_s E_{p_s} log(1 - D) + omega_t E_{p_t} log(1 - D))``."""
    _check_terms(real_logit=real_logit, student_logit=student_logit, teacher_logit=teacher_logit)
    return -(
        F.logsigmoid(real_logit).mean(-1)
        + omega_s * F.logsigmoid(-student_logit).mean(-1)
        + omega_t * F.logsigmoid(-teacher_logit).mean(-1)
    )


def adim_discriminator_loss(
    real_log_probs: torch.Tensor,
    student_log_probs: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    omega: tuple[float, float, float],
) -> torch.Tensor:
    """Eq. 6 and Algorithm 1 (line 5) for the multi-class discriminator.

    ``-(omega_r E_{p_r} log D_r + omega_s E_{p_s} log D_s + omega_t E_{p_t} log D_t)``, where each argument is the
    ``(B, 3)`` output of ``MulticlassDiscriminator.log_probs`` (columns r, s, t) on the real labels, the student's
    labels and the teacher's labels.
    """
    for name, value in (("real", real_log_probs), ("student", student_log_probs), ("teacher", teacher_log_probs)):
        if not isinstance(value, torch.Tensor) or value.dim() not in (2, 3) or value.shape[-1] != 3:
            raise ValueError(
                f"{name}_log_probs must be a (batch, 3) or (members, batch, 3) tensor of log D_r, log D_s, log D_t"
            )
    omega_r, omega_s, omega_t = omega
    return -(
        omega_r * real_log_probs[..., 0].mean(-1)
        + omega_s * student_log_probs[..., 1].mean(-1)
        + omega_t * teacher_log_probs[..., 2].mean(-1)
    )
