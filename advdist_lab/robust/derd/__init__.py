"""DERD, data-free experts-guided robustness distillation (``002_...``, the supplementary material only).

* :mod:`advdist_lab.robust.derd.run`: :func:`run_derd`, one variant into a run folder; its docstring says what
  the supplement gives.
* :mod:`advdist_lab.robust.derd.config`: :class:`DerdConfig`, the hyperparameters, the variants of
  :data:`DERD_VARIANTS` and the stage split (:func:`stage_of`).
* :mod:`advdist_lab.robust.derd.stages`: :class:`DerdDistiller`, the two stages with a natural and a robust
  expert and the ``no-natural`` stand-in; its docstring lists every loss term the supplement leaves open and
  what we chose.
* :mod:`advdist_lab.robust.derd.inversion`: model inversion (Sec. 3.1, Eq. 7-8): :func:`invert_batch`,
  :func:`inverted_sample`.
"""

from advdist_lab.robust.derd.config import DERD_VARIANTS, INVERSION_STEPS, DerdConfig, stage_of
from advdist_lab.robust.derd.inversion import INVERSION_BETAS, SAMPLE_IMAGES, invert_batch, inverted_sample
from advdist_lab.robust.derd.run import run_derd
from advdist_lab.robust.derd.stages import DerdDistiller

__all__ = [
    "DERD_VARIANTS",
    "INVERSION_BETAS",
    "INVERSION_STEPS",
    "SAMPLE_IMAGES",
    "DerdConfig",
    "DerdDistiller",
    "invert_batch",
    "inverted_sample",
    "run_derd",
    "stage_of",
]
