"""The generator losses of DFARD's baselines (``001_...``, Table 1 and Table 4): DAFL, ZSKT, DFQ, DeepInversion.

DFARD says of its baselines only that "the difference only lies in the generator loss function of these
methods": all of them go through the same distillation stage (the ARD loss, PGD-10). This module holds what each
baseline's generator loss adds to DFARD's terms (:mod:`advdist_lab.robust.generation.dfard_loss`: ``cls``, Eq. 1,
and the adversarial KL, Eq. 3), and the weights of each, :data:`BASELINE_WEIGHTS`;
:func:`advdist_lab.robust.generation.losses.generator_loss` assembles them. The batch-norm statistics and the
penultimate features that DFQ, DeepInversion and DAFL read from the teacher are
:mod:`advdist_lab.robust.generation.teacher_statistics`.

**The terms** (``p_t = softmax(teacher_logits)``, ``B`` the batch size; each minimised by the generator):

``activation``
    ``-(1/B) sum_i mean_k |f_i,k|`` over the teacher's penultimate features ``f`` (the input of its last
    ``nn.Linear``): DAFL's activation loss, :func:`activation_loss`.
``entropy``
    ``-H(mean_i p_t,i) = sum_c pbar_c log pbar_c``: the information-entropy loss of DAFL and DFQ's batch
    categorical entropy term (minimising it spreads the batch over the classes), :func:`batch_entropy`.
``bn``
    The batch-norm statistics loss
    (:meth:`advdist_lab.robust.generation.teacher_statistics.BatchNormStatistics.loss`) over the teacher's
    ``BatchNorm2d`` layers, in the form :data:`BN_STATISTIC_OF` names.
``tv``, ``l2``
    DeepInversion's image priors: :func:`total_variation` and :func:`image_l2`.
``adv`` of "deepinv"
    ``-JS_tau(f_t, f_s)`` (:func:`js_divergence`), the Jensen-Shannon divergence of the two softened
    distributions (mean over the batch, natural log, no ``tau^2``): Adaptive DeepInversion's competition term.

**The methods and their weights** (:data:`BASELINE_WEIGHTS`):

``"dafl"``
    DAFL (Chen et al. 2019): ``cls + 0.1 * activation + 5 * entropy``, DAFL's weights (alpha = 0.1, beta = 5).
    No adversarial term, so ``tau`` is unused and ``student_logits`` may be ``None``. Two notes against DAFL's
    code: its activation loss is ``-features.abs().mean()`` (mean over the feature dimension, which we follow;
    the paper writes the L1 norm, which would multiply the term by the feature width), and its entropy uses
    ``log10``; we use the natural log, so our ``entropy`` term is ``ln 10 = 2.3`` times DAFL's at the same
    weight. ``features=`` takes the teacher's penultimate features; if ``None`` they come from ``bn`` (which
    captures the input of the teacher's last ``nn.Linear``, see
    :class:`~advdist_lab.robust.generation.teacher_statistics.PenultimateFeatures`).
``"zskt"``
    ZSKT (Micaelli and Storkey 2019): the generator maximises the teacher-student KL, ``adv`` alone (weight 1).
    ZSKT's attention-transfer term trains the student, not the generator, so it has no place here; its
    temperature is the caller's ``tau`` (ITA's for Table 4's "ZSKT+ITA").
``"dfq"``
    DFQ (Choi et al. 2020): ``bn + cls + 20 * entropy + adv``. Choi et al. constrain the adversarial generator
    with three auxiliary terms (batch-norm statistics, instance categorical entropy, batch categorical
    entropy); the instance term is our ``cls`` (the conditional generator's label instead of the pseudo-label).
    The weights are those of the DFQ recipe in the CMI toolbox of Fang et al. (``--adv 1 --bn 1 --oh 1
    --balance 20``), the code base whose list of data-free baselines DFARD's Table 1 and 2 follow; DFARD gives
    none. The BN statistic is the L2 distance of means and of **standard deviations**
    (``statistic="std"``). Choi et al. measure the mismatch by a KL divergence between per-channel Gaussians
    instead; that form is :meth:`~advdist_lab.robust.generation.teacher_statistics.BatchNormStatistics.loss` with
    ``statistic="gaussian-kl"``, not the default because its scale (a sum over all channels) would need a weight
    that no source gives.
``"deepinv"``
    DeepInversion (Yin et al. 2020), with its adaptive competition term (ADI):
    ``cls + 10 * bn + 2.5e-5 * tv + 3e-8 * l2 + 1 * adv``. ``bn`` is DeepInversion's ``||mu - mu_run||_2 +
    ||var - var_run||_2`` per layer (``statistic="variance"``); ``10`` and ``2.5e-5`` are the CIFAR-10 "paper
    parameters" of DeepInversion's code (``--r_feature_weight=10``, ``--di_var_scale=2.5e-5``), ``3e-8`` is the
    order of its image-L2 weight (the released CIFAR script sets it to 0; at this weight the term is negligible
    and kept for completeness), and the competition weight ``1`` with ``-JS`` at ``tau`` follows the CMI toolbox
    (``--adv 1``, JS at ``T = 3``, which is the vanilla ``tau``). DeepInversion's code computes ``1 - JS`` on
    probabilities clipped to ``[0.01, 0.99]``; we use ``-JS`` unclipped (the same gradient where the clip is
    inactive). Our images are in ``[0, 1]`` while DeepInversion's priors act on normalised images, so the same
    ``tv`` and ``l2`` weights are somewhat weaker here. DeepInversion's random jitter and flips of the input are
    an image-optimisation device and are not applied.

The BN-based methods ("dfq", "deepinv") need a teacher with ``BatchNorm2d`` layers (every
:func:`~advdist_lab.robust.models.build_robust_model` architecture has them) and raise ``ValueError`` otherwise.

**Numerics.** Every term is computed in float32 (or float64 when the inputs are float64); JS in log space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from advdist_lab.robust.generation.dfard_loss import check_tau

__all__ = [
    "BASELINE_WEIGHTS",
    "BN_STATISTIC_OF",
    "activation_loss",
    "batch_entropy",
    "image_l2",
    "js_divergence",
    "total_variation",
]

BASELINE_WEIGHTS: dict[str, dict[str, float]] = {
    "dafl": {"cls": 1.0, "activation": 0.1, "entropy": 5.0},
    "zskt": {"adv": 1.0},
    "dfq": {"cls": 1.0, "bn": 1.0, "entropy": 20.0, "adv": 1.0},
    "deepinv": {"cls": 1.0, "bn": 10.0, "tv": 2.5e-5, "l2": 3e-8, "adv": 1.0},
}
"""The weights of each baseline's terms (the module docstring says where each comes from)."""

BN_STATISTIC_OF = {"dfq": "std", "deepinv": "variance"}
"""The form of the batch-norm statistics loss each BN-based baseline uses (DFQ's standard deviations,
DeepInversion's variances)."""


def _compute_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def js_divergence(teacher_logits: Tensor, student_logits: Tensor, tau: float = 1.0) -> Tensor:
    """``(1/B) sum_i JS(softmax(t_i / tau), softmax(s_i / tau))``, natural log, in ``[0, ln 2]`` (no ``tau^2``).

    ``JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2`` with ``M = (P + Q) / 2``: Adaptive DeepInversion's competition
    measure, computed in log space.
    """
    tau = check_tau(tau)
    dtype = _compute_dtype(teacher_logits)
    log_p = F.log_softmax(teacher_logits.to(dtype) / tau, dim=1)
    log_q = F.log_softmax(student_logits.to(dtype) / tau, dim=1)
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(dim=1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(dim=1)
    return (0.5 * (kl_pm + kl_qm)).mean()


def batch_entropy(logits: Tensor) -> Tensor:
    """``H(mean_i softmax(logits_i))`` in nats: the entropy of the batch's mean prediction (DAFL, DFQ).

    The loss terms use its negative (``entropy`` = ``-H``), which is lowest for a batch spread evenly over the
    classes.
    """
    p = F.softmax(logits.to(_compute_dtype(logits)), dim=1).mean(dim=0)
    return -(torch.special.xlogy(p, p)).sum()


def total_variation(x: Tensor) -> Tensor:
    """DeepInversion's total variation (its "TV L2"): ``sum_d ||x - shift_d(x)||_2`` over the whole batch.

    The four differences ``d`` are horizontal, vertical and the two diagonals between neighbouring pixels, each
    the Frobenius norm of the difference tensor over ``(B, C, H, W)`` (not squared, not averaged), as in
    DeepInversion's code.
    """
    x = x.to(_compute_dtype(x))
    diffs = (
        x[:, :, :, :-1] - x[:, :, :, 1:],
        x[:, :, :-1, :] - x[:, :, 1:, :],
        x[:, :, 1:, :-1] - x[:, :, :-1, 1:],
        x[:, :, :-1, :-1] - x[:, :, 1:, 1:],
    )
    return sum((torch.linalg.vector_norm(d) for d in diffs), x.new_zeros(()))


def image_l2(x: Tensor) -> Tensor:
    """DeepInversion's image prior ``||x||_2``: the Frobenius norm of the whole batch (not squared)."""
    return torch.linalg.vector_norm(x.to(_compute_dtype(x)))


def activation_loss(features: Tensor) -> Tensor:
    """DAFL's activation loss ``-(1/B) sum_i mean_k |f_i,k|`` of the teacher's penultimate features ``(B, ...)``.

    DAFL's code takes the mean over the feature dimension (which we follow); its paper writes the L1 norm, which
    would multiply the term by the feature width.
    """
    return -features.to(_compute_dtype(features)).abs().flatten(1).mean(dim=1).mean()
