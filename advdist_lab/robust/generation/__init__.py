"""The data-free generation stage of DFARD (``001_...``) and DERD: the generator and the losses that train it.

* :mod:`advdist_lab.robust.generation.generators`: :class:`ConditionalGenerator`, the DAFL-style conditional
  generator ``g(z, y)``, images in ``[0, 1]``; its checkpoint and image grids.
* :mod:`advdist_lab.robust.generation.losses`: :func:`generator_loss`, one call for the generator losses of DFARD
  and of its baselines DAFL, ZSKT, DFQ and DeepInversion.
* :mod:`advdist_lab.robust.generation.dfard_loss`: DFARD's ``L_gen`` terms (Eq. 1, 3, 6): :func:`kl_divergence`,
  :func:`dfard_weights`.
* :mod:`advdist_lab.robust.generation.baselines`: the terms and weights the baselines add
  (:data:`BASELINE_WEIGHTS`).
* :mod:`advdist_lab.robust.generation.teacher_statistics`: the teacher's batch-norm statistics
  (:class:`BatchNormStatistics`) and penultimate features (:class:`PenultimateFeatures`) those losses read.
"""

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
from advdist_lab.robust.generation.generators import (
    GENERATOR_ACTIVATION_FACTOR,
    GENERATOR_FORMAT,
    ConditionalGenerator,
    generator_checkpoint,
    load_generator,
    sample_grid,
)
from advdist_lab.robust.generation.losses import DEFAULT_WEIGHTS, GENERATOR_LOSSES, generator_loss, loss_weights
from advdist_lab.robust.generation.teacher_statistics import BN_STATISTICS, BatchNormStatistics, PenultimateFeatures

__all__ = [
    "BASELINE_WEIGHTS",
    "BN_STATISTICS",
    "BN_STATISTIC_OF",
    "DEFAULT_WEIGHTS",
    "GENERATOR_ACTIVATION_FACTOR",
    "GENERATOR_FORMAT",
    "GENERATOR_LOSSES",
    "BatchNormStatistics",
    "ConditionalGenerator",
    "PenultimateFeatures",
    "activation_loss",
    "batch_entropy",
    "check_lam",
    "check_tau",
    "dfard_weights",
    "generator_checkpoint",
    "generator_loss",
    "image_l2",
    "js_divergence",
    "kl_divergence",
    "load_generator",
    "loss_weights",
    "sample_grid",
    "total_variation",
]
