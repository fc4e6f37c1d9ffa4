"""DERD: data-free experts-guided robustness distillation (``002_...``, the supplementary material only).

We have DERD's supplement, not its main paper, and no code of DERD is public: this module is, as far as we know,
the first open implementation, and every loss the supplement does not spell out is our choice, listed below. What
the supplement gives:

* Two **experts**: a *natural* teacher (trained on clean data) and a *robust* teacher (adversarially trained);
  the student and a generator ``x_hat = g(z, y)`` are trained in **two stages**: stage I warms the generator up
  with natural knowledge (Sec. 3.1: "there is no need to warm up the generator with natural knowledge" once the
  generator is gone), stage II distils robustness. Fig. 1 motivates the order: students learn natural knowledge
  before robust knowledge.
* Sec. 1, hyperparameters (OCR-garbled in our copy): our reading is the defaults of
  :class:`~advdist_lab.robust.derd.config.DerdConfig` (:mod:`advdist_lab.robust.derd.config`, which lists every
  choice the supplement leaves open about them).
* Sec. 3.1, **Eq. 7-8**, DERD applied to model inversion: no generator; a batch ``x_inv`` is optimised from noise
  by ``argmin L_oh + L_a + L_BN + L_ie`` (Eq. 7, "the implicit generator"), then the student by
  ``argmin_theta_s D(S(x_inv), T(x_inv))`` (Eq. 8); "DERD degenerates into a single-stage model".
* Sec. 3.2, DERD **without a natural teacher**: "we use the student model as a substitute model for the natural
  teacher, forming a self-adversary mechanism with the robust teacher".
* Tables 1-3: :data:`advdist_lab.robust.paper_tables.DERD_TABLE1` (ImageNet-100), ``DERD_TABLE2`` (model
  inversion) and ``DERD_TABLE3`` (no natural teacher), CIFAR-10 with a ResNet-18 student, in percent.

The implementation: :mod:`advdist_lab.robust.derd.config` (:class:`~advdist_lab.robust.derd.config.DerdConfig`,
the variants of :data:`~advdist_lab.robust.derd.config.DERD_VARIANTS`, the stage split),
:mod:`advdist_lab.robust.derd.stages` (:class:`~advdist_lab.robust.derd.stages.DerdDistiller`: the two stages with
the natural and the robust expert, the ``no-natural`` stand-in) and :mod:`advdist_lab.robust.derd.inversion`
(Sec. 3.1, Eq. 7-8); :func:`run_derd`, this module's one name, runs one variant into a run folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from advdist_lab.robust.derd.config import DerdConfig
from advdist_lab.robust.derd.stages import DerdDistiller
from advdist_lab.robust.distill_limits import check_batch_fits
from advdist_lab.robust.runner import run_distillation

__all__ = ["run_derd"]


def run_derd(
    config: DerdConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Run DERD (``config.variant``) into the run folder ``out`` and return its result.

    The run folder, the per-epoch evaluation, the best-epoch selection and ``result.json`` are those of
    :func:`advdist_lab.robust.runner.run_distillation` (label ``derd-<variant>``); ``result.json`` adds the
    variant, both teachers' descriptions and the stage split, and the history entries hold the terms listed in
    the module docstring. The folder holds ``generator.pt`` (``derd``, ``no-natural``) or ``inverted.pt``
    (``inversion``) beside ``student.pt``.
    """
    if not isinstance(config, DerdConfig):
        raise ValueError(f"config must be a DerdConfig (got {type(config).__name__})")
    check_batch_fits(config.resolved(), teachers=2 if config.variant == "derd" else 1)
    return run_distillation(
        config,
        DerdDistiller,
        out,
        resume=resume,
        progress=progress,
        callback=callback,
        stop=stop,
        label=config.method,
        describe=lambda distiller: distiller.describe(),
    )
