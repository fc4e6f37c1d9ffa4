"""DFARD's two adaptive quantities (``001_...``, "Out of Thin Air", AAAI 2024): ITA (Eq. 4) and AGB (Eq. 7).

Pure functions of the teacher's and the student's probabilities on a generated batch; Algorithm 1
(:mod:`advdist_lab.robust.dfard`) calls them at every generator step.

* :func:`interactive_temperature`: "Interactive Temperature Adjustment" (ITA), **Eq. 4**. With
  ``Con_t, c = max f_t(x_hat)`` per sample (the teacher's largest probability and its class) and ``Con_s`` the
  student's probability of that class ``c``::

      tau~ = max{ (1/bs) * sum_{i=1}^{bs} |Con_t - Con_s| * C , 1 }

  where ``C`` is the number of classes and ``bs`` the batch size. Since ``|Con_t - Con_s| <= 1``, ``tau~`` lies
  in ``[1, C]``. DFARD uses it as the KL temperature in ``L_adv`` (Eq. 3) and ``L_KD`` (Eq. 5).
* :func:`adaptive_generator_balance`: "Adaptive Generator Balance" (AGB), the weight ``lambda`` of
  ``L_gen = lambda * L_cls + (1 - lambda) * L_adv`` (Eq. 6), given right below it as **Eq. 7**::

      lambda = 1 / ( C * (1/bs) * sum_{i=1}^{bs} Con_t )

  The mean of the largest probability is at least ``1/C``, so ``lambda`` lies in ``[1/C, 1]`` (the paper states
  ``0 < lambda <= 1``): ``1`` for a uniform teacher, ``1/C`` for a one-hot (fully confident) one.

**Where the paper is silent, and what we chose.**

* Which probabilities: the paper writes ``f_t(x_hat)`` without a temperature; we take the callers' probabilities
  as given (Algorithm 1 passes plain softmax outputs, temperature 1, of the current batch).
* Ties in the teacher's maximum: ``c`` is the first maximal class (``torch.argmax``).
* Both functions return Python floats computed without autograd (in float64), so no gradient flows through
  ``tau~`` or ``lambda``; the paper treats them as per-step constants.
* Inputs are validated: ``(batch >= 1, C >= 2)`` tensors of finite, non-negative entries whose rows sum to 1
  within ``atol`` (default ``1e-4``, loose enough for float16/float32 softmax outputs).
"""

from __future__ import annotations

import torch

__all__ = ["adaptive_generator_balance", "interactive_temperature"]


def _check_probabilities(p: torch.Tensor, name: str, atol: float) -> torch.Tensor:
    """Validate a ``(batch, C)`` probability tensor and return it detached, as float64."""
    if not isinstance(p, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (batch, C) (got {type(p).__name__})")
    if p.dim() != 2:
        raise ValueError(f"{name} must be 2-D of shape (batch, C) (got shape {tuple(p.shape)})")
    if p.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sample: batch >= 1 (got shape {tuple(p.shape)})")
    if p.shape[1] < 2:
        raise ValueError(f"{name} must have C >= 2 classes (got shape {tuple(p.shape)})")
    if not (p.dtype.is_floating_point):
        raise ValueError(f"{name} must be a floating-point tensor of probabilities (got dtype {p.dtype})")
    q = p.detach().to(torch.float64)
    if not bool(torch.isfinite(q).all()):
        raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    if bool((q < 0).any()):
        raise ValueError(f"{name} must be non-negative: probabilities (min entry {float(q.min()):.3g})")
    sums = q.sum(dim=1)
    worst = float((sums - 1).abs().max())
    if worst > atol:
        raise ValueError(f"{name} rows must sum to 1 within atol={atol:g} (worst row is off by {worst:.3g})")
    return q


def _check_atol(atol: float) -> None:
    if not isinstance(atol, (int, float)) or isinstance(atol, bool) or not atol >= 0 or atol != atol:
        raise ValueError(f"atol must be a non-negative number (got {atol!r})")


@torch.no_grad()
def interactive_temperature(p_teacher: torch.Tensor, p_student: torch.Tensor, atol: float = 1e-4) -> float:
    """DFARD Eq. 4 (ITA): ``max(C * mean_i |Con_t,i - Con_s,i|, 1)``.

    Args:
        p_teacher: ``(batch, C)`` teacher probabilities ``f_t(x_hat)``; ``Con_t, c = max`` over classes per row.
        p_student: ``(batch, C)`` student probabilities; ``Con_s`` is its probability of the teacher's class ``c``.
        atol: tolerance on each row's sum being 1.

    Returns:
        The interactive temperature ``tau~`` in ``[1, C]`` as a float.

    Raises:
        ValueError: if either input is not a ``(batch >= 1, C >= 2)`` tensor of probabilities or their shapes
            differ.
    """
    _check_atol(atol)
    teacher = _check_probabilities(p_teacher, "p_teacher", atol)
    student = _check_probabilities(p_student, "p_student", atol)
    if teacher.shape != student.shape:
        raise ValueError(
            f"p_teacher and p_student must have the same shape (got {tuple(teacher.shape)} and {tuple(student.shape)})"
        )
    c = teacher.argmax(dim=1, keepdim=True)
    con_t = teacher.gather(1, c).squeeze(1)
    con_s = student.gather(1, c).squeeze(1)
    num_classes = teacher.shape[1]
    return max(float(num_classes * (con_t - con_s).abs().mean()), 1.0)


@torch.no_grad()
def adaptive_generator_balance(p_teacher: torch.Tensor, atol: float = 1e-4) -> float:
    """DFARD Eq. 7 (AGB): ``lambda = 1 / (C * mean_i Con_t,i)``, the weight of ``L_cls`` in ``L_gen`` (Eq. 6).

    Args:
        p_teacher: ``(batch, C)`` teacher probabilities ``f_t(x_hat)``; ``Con_t`` is each row's maximum.
        atol: tolerance on each row's sum being 1.

    Returns:
        ``lambda`` in ``[1/C, 1]`` as a float (``1`` for a uniform teacher, ``1/C`` for a one-hot one).

    Raises:
        ValueError: if ``p_teacher`` is not a ``(batch >= 1, C >= 2)`` tensor of probabilities.
    """
    _check_atol(atol)
    teacher = _check_probabilities(p_teacher, "p_teacher", atol)
    num_classes = teacher.shape[1]
    mean_con_t = float(teacher.max(dim=1).values.mean())
    # mean Con_t >= 1/C up to the row-sum tolerance; clamp so that lambda never exceeds 1 by rounding.
    return min(1.0 / (num_classes * mean_con_t), 1.0)
