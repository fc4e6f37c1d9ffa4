"""The generator losses of DFARD (``001_...``, Eq. 1, 3, 6) and of its baselines (Table 1, Table 4), behind one call.

DFARD's generation stage trains a generator ``x_hat = g(z, y)`` against a frozen teacher ``f_t`` and the current
student ``f_s``; for its baselines it says only that "the difference only lies in the generator loss function of
these methods" and that all of them go through the same distillation stage (the ARD loss, PGD-10). This module
assembles those loss functions, one per name in :data:`GENERATOR_LOSSES`::

    bn = BatchNormStatistics(teacher)   # hooks on every nn.BatchNorm2d (and on the last nn.Linear) of the teacher
    x = generator(z, y)                 # (B, C, H, W) in [0, 1]
    terms = generator_loss(method, x=x, y=y, teacher_logits=teacher(x), student_logits=student(x),
                           tau=tau, lam=lam, bn=bn)
    terms["total"].backward()           # only the generator is stepped
    bn.close()                          # or ``with BatchNormStatistics(teacher) as bn: ...``

:func:`generator_loss` returns the **unweighted** terms under their names and the weighted sum under
``"total"``; :func:`loss_weights` returns the weights it used (plain floats, for logging). Every term is a loss
the generator **minimises**. The terms and their sources:

* DFARD's ``L_gen`` (:mod:`advdist_lab.robust.generation.dfard_loss`): ``cls`` = ``CE(f_t(x_hat), y)`` (Eq. 1;
  also DAFL's one-hot loss, DFQ's instance term and DeepInversion's main loss) and
  ``adv`` = ``-KL_tau(f_t || f_s)`` (Eq. 3; also ZSKT's and DFQ's adversarial term), weighted ``lam`` and
  ``1 - lam`` (Eq. 6). "dfard" takes no ``weights=``: its weights come from ``lam`` only (Eq. 7, AGB, or Table
  3's "Vanilla" ``0.3``), its ``tau`` from Eq. 4 (ITA) or the vanilla ``3``; the caller decides both.
* The baselines' terms and weights (:mod:`advdist_lab.robust.generation.baselines`, which says where each weight
  comes from): ``activation`` and ``entropy`` (DAFL), ``adv`` alone (ZSKT), ``bn`` and ``entropy`` (DFQ), ``bn``,
  ``tv``, ``l2`` and ``adv`` = ``-JS_tau`` (DeepInversion). ``weights=`` overrides any of their weights.
* The teacher's batch-norm statistics and penultimate features that ``bn`` and ``activation`` read
  (:mod:`advdist_lab.robust.generation.teacher_statistics`).

**Numerics.** Every term is computed in float32 (or float64 when the inputs are float64), from log-softmax, so
half-precision logits under autocast are safe; KL and JS are computed in log space.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from advdist_lab.hparams import check_choice, check_real
from advdist_lab.robust.generation.baselines import (
    BASELINE_WEIGHTS,
    BN_STATISTIC_OF,
    activation_loss,
    batch_entropy,
    image_l2,
    js_divergence,
    total_variation,
)
from advdist_lab.robust.generation.dfard_loss import check_lam, check_tau, dfard_weights, kl_divergence
from advdist_lab.robust.generation.teacher_statistics import BatchNormStatistics

__all__ = ["DEFAULT_WEIGHTS", "GENERATOR_LOSSES", "generator_loss", "loss_weights"]

GENERATOR_LOSSES = ("dfard", "dafl", "zskt", "dfq", "deepinv")
"""The generator losses: DFARD (Eq. 6; also "Vanilla" with fixed ``tau = 3``, ``lam = 0.3``) and the baselines
of DFARD's Table 1 that train a generator: DAFL, ZSKT, DFQ and DeepInversion (module docstring)."""

DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {"dfard": {}, **BASELINE_WEIGHTS}
"""The weights of each method's terms (:data:`~advdist_lab.robust.generation.baselines.BASELINE_WEIGHTS`). "dfard"
has none: its weights are ``lam`` and ``1 - lam`` (:func:`~advdist_lab.robust.generation.dfard_loss.dfard_weights`)."""


def _check_logits(name: str, logits: object, batch: int) -> Tensor:
    if not isinstance(logits, Tensor) or not logits.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point tensor of shape (batch, C) (got {type(logits).__name__})")
    if logits.dim() != 2 or logits.shape[1] < 2 or logits.shape[0] != batch:
        raise ValueError(
            f"{name} must have shape (batch, C) = ({batch}, C >= 2), one row per image of x (got {tuple(logits.shape)})"
        )
    return logits


def loss_weights(method: str, weights: Mapping[str, float] | None = None, *, lam: float | None = None) -> dict:
    """The weights :func:`generator_loss` applies for ``method``: :data:`DEFAULT_WEIGHTS` updated by ``weights``.

    For "dfard" the weights are ``{"cls": lam, "adv": 1 - lam}`` (``lam`` required, ``weights`` not accepted).

    Raises:
        ValueError: for an unknown method, a weight name the method does not have, a negative or non-finite
            weight, or a missing or out-of-range ``lam`` for "dfard".
    """
    check_choice("method", method, GENERATOR_LOSSES)
    if method == "dfard":
        if weights:
            raise ValueError(
                f"dfard's weights are lam and 1 - lam (DFARD Eq. 6, lam from Eq. 7 or fixed): pass lam, not "
                f"weights (got weights for {', '.join(map(str, weights))})"
            )
        if lam is None:
            raise ValueError("dfard needs lam in [0, 1], the weight of L_cls in DFARD Eq. 6")
        return dfard_weights(lam)
    result = dict(DEFAULT_WEIGHTS[method])
    if weights is None:
        return result
    if not isinstance(weights, Mapping):
        raise ValueError(f"weights must be a mapping of term name to weight (got {type(weights).__name__})")
    unknown = sorted(str(k) for k in weights if k not in result)
    if unknown:
        raise ValueError(f"unknown weight names for {method}: {', '.join(unknown)} (its terms are {', '.join(result)})")
    bad = []
    for name, value in weights.items():
        try:
            value = check_real(f"weight {name}", value)
        except ValueError:
            bad.append(f"{name}={value!r}")
            continue
        if value < 0:
            bad.append(f"{name}={value!r}")
            continue
        result[name] = value
    if bad:
        raise ValueError(f"weights must be finite and >= 0: {', '.join(bad)}")
    return result


# ---------------------------------------------------------------------------------------------------------- loss


def generator_loss(
    method: str,
    *,
    x: Tensor,
    y: Tensor,
    teacher_logits: Tensor,
    student_logits: Tensor | None,
    tau: float,
    lam: float,
    bn: BatchNormStatistics | None = None,
    features: Tensor | None = None,
    weights: Mapping[str, float] | None = None,
) -> dict[str, Tensor]:
    """The generator loss of ``method`` (module docstring): ``{term: unweighted value, ..., "total": weighted sum}``.

    Args:
        method: one of :data:`GENERATOR_LOSSES`.
        x: the generated images ``(B, C, H, W)`` (used by DeepInversion's image priors).
        y: the ``(B,)`` integer labels the images were generated for, in ``[0, C)`` (checked for CPU tensors;
            on an accelerator the check would synchronise with the host each step, so it is skipped there).
        teacher_logits: ``f_t(x)``, ``(B, C)``; gradients flow through it to ``x``.
        student_logits: ``f_s(x)``, ``(B, C)``; may be ``None`` for "dafl" only (it has no adversarial term).
        tau: the temperature ``> 0`` of the adversarial KL (or JS for "deepinv"): 3 for vanilla, Eq. 4 under ITA.
            Unused by "dafl".
        lam: the weight ``lambda`` in ``[0, 1]`` of DFARD Eq. 6 (0.3 for vanilla, Eq. 7 under AGB). Only "dfard"
            uses it; it is validated for every method.
        bn: the :class:`BatchNormStatistics` of the teacher, already run on ``x`` (required by "dfq" and
            "deepinv"; "dafl" reads the penultimate features from it when ``features`` is ``None``).
        features: the teacher's penultimate features ``(B, ...)`` for "dafl".
        weights: overrides of :data:`DEFAULT_WEIGHTS` (not for "dfard", whose weights are ``lam`` and
            ``1 - lam``). :func:`loss_weights` gives the weights used.

    Returns:
        A dict of 0-dim tensors: the method's terms under their names (``cls``, ``adv``, ``activation``,
        ``entropy``, ``bn``, ``tv``, ``l2``) and ``total``.

    Raises:
        ValueError: for an unknown method, bad shapes or labels, ``tau <= 0``, ``lam`` outside ``[0, 1]``, bad
            weights, a BN-based method without a batch-norm teacher, or "dafl" without penultimate features.
    """
    check_choice("method", method, GENERATOR_LOSSES)
    tau = check_tau(tau)
    lam = check_lam(lam)
    w = loss_weights(method, weights, lam=lam)
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[0] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a 4-D tensor of images (batch >= 1, channels, H, W) (got {shape})")
    batch = x.shape[0]
    teacher_logits = _check_logits("teacher_logits", teacher_logits, batch)
    num_classes = teacher_logits.shape[1]
    if student_logits is None:
        if method != "dafl":
            raise ValueError(f"{method} needs student_logits (its generator loss has an adversarial term)")
    else:
        student_logits = _check_logits("student_logits", student_logits, batch)
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                "teacher_logits and student_logits must have the same shape "
                f"(got {tuple(teacher_logits.shape)} and {tuple(student_logits.shape)})"
            )
    if not isinstance(y, Tensor) or y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must be an integer tensor of labels of shape ({batch},) (got {type(y).__name__})")
    if tuple(y.shape) != (batch,):
        raise ValueError(f"y must have shape (batch,) = ({batch},) (got {tuple(y.shape)})")
    # Reading the labels' range synchronises an accelerator with the host, so it is checked on the CPU only (on a
    # GPU the labels come from ConditionalGenerator.sample, which draws them in range).
    if y.device.type == "cpu" and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"y must lie in [0, C) = [0, {num_classes}) for the logits' C classes (got min {int(y.min())}, "
            f"max {int(y.max())})"
        )
    if bn is not None and not isinstance(bn, BatchNormStatistics):
        raise ValueError(f"bn must be a BatchNormStatistics of the teacher or None (got {type(bn).__name__})")
    if method in BN_STATISTIC_OF and (bn is None or bn.layers == 0):
        raise ValueError(
            f"{method} needs the teacher's batch norm statistics, but the teacher has no batch norm "
            "(pass bn=BatchNormStatistics(teacher) for a teacher with nn.BatchNorm2d layers)"
        )

    dtype = torch.promote_types(teacher_logits.dtype, torch.float32)
    labels = y.to(teacher_logits.device)
    terms: dict[str, Tensor] = {}
    if "cls" in w:
        terms["cls"] = F.cross_entropy(teacher_logits.to(dtype), labels)
    if "adv" in w:
        assert student_logits is not None
        if method == "deepinv":
            terms["adv"] = -js_divergence(teacher_logits, student_logits, tau)
        else:
            terms["adv"] = -kl_divergence(teacher_logits, student_logits, tau)
    if "activation" in w:
        if features is None:
            if bn is None or bn.penultimate is None:
                raise ValueError(
                    "dafl needs the teacher's penultimate features: pass features= or bn=BatchNormStatistics(teacher) "
                    "for a teacher with an nn.Linear classifier"
                )
            features = bn.features
        if not isinstance(features, Tensor) or features.dim() < 2 or features.shape[0] != batch:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"features must be a tensor of shape (batch, ...) = ({batch}, ...) (got {shape})")
        terms["activation"] = activation_loss(features.to(dtype))
    if "entropy" in w:
        terms["entropy"] = -batch_entropy(teacher_logits)
    if "bn" in w:
        assert bn is not None
        terms["bn"] = bn.loss(BN_STATISTIC_OF[method]).to(dtype)
    if "tv" in w:
        terms["tv"] = total_variation(x).to(dtype)
    if "l2" in w:
        terms["l2"] = image_l2(x).to(dtype)
    terms["total"] = sum((w[name] * value for name, value in terms.items()), teacher_logits.new_zeros((), dtype=dtype))
    return terms
