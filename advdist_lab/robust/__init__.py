"""Adversarial robustness: DFARD's attack suite (``001_...``, Table 1), data-free robust distillation (DFARD, DERD).

* :mod:`advdist_lab.robust.attacks`: the attack suite. FGSM, PGD_S, PGD_T and CW_inf on ``[0, 1]`` inputs,
  :class:`Normalized` (the normalisation inside the model) and :func:`attack_mode` (:mod:`.attacks.gradient`);
  AutoAttack (standard version) from torchattacks' components, imported lazily so that this package imports
  without it (:mod:`.attacks.auto`); the :class:`AttackProtocol` value object (:meth:`AttackProtocol.cifar`,
  :meth:`AttackProtocol.digits`), :func:`robust_accuracy` and the Table 1 formatters (:mod:`.attacks.protocol`).
* :mod:`advdist_lab.robust.generation`: the data-free generation stage. :class:`ConditionalGenerator`, the
  DAFL-style conditional generator ``g(z, y)``, images in ``[0, 1]`` (:mod:`.generation.generators`);
  :func:`~advdist_lab.robust.generation.generator_loss` (:mod:`.generation.losses`), one call for the generator
  losses of DFARD (:mod:`.generation.dfard_loss`, Eq. 1, 3, 6) and of its baselines DAFL, ZSKT, DFQ and
  DeepInversion (:mod:`.generation.baselines`); the teacher's batch-norm statistics and penultimate features
  they read (:mod:`.generation.teacher_statistics`).
* :mod:`advdist_lab.robust.ita_agb`: :func:`interactive_temperature` (ITA, DFARD Eq. 4) and
  :func:`adaptive_generator_balance` (AGB, DFARD Eq. 7).
* :mod:`advdist_lab.robust.dfard`: DFARD's Algorithm 1: :class:`DfardConfig`, :func:`run_dfard`.
* :mod:`advdist_lab.robust.distillation`: the distillation stage shared by DFARD and DERD (PGD examples of
  generated data, the KD loss of Eq. 5), their frozen teachers and the check that stops a non-finite loss.
* :mod:`advdist_lab.robust.distill_limits`: what both refuse before any work (epochs and steps beyond sane
  bounds, evaluation sizes beyond the test split, a batch that cannot fit in memory).
* :mod:`advdist_lab.robust.derd`: DERD (:func:`~advdist_lab.robust.derd.run_derd`, :mod:`.derd.run`): its
  hyperparameters and variants (:mod:`.derd.config`), its two stages with a natural and a robust teacher
  (:mod:`.derd.stages`) and model inversion (:mod:`.derd.inversion`).
* :mod:`advdist_lab.robust.teacher`: robust (PGD-AT, TRADES) and natural teachers; importing a checkpoint;
  evaluating any model under the protocol.
* :mod:`advdist_lab.robust.runner`: run folders of data-free robust distillation (checkpoint, resume, best epoch).
* :mod:`advdist_lab.robust.experiments` and :mod:`advdist_lab.robust.paper_tables`: DFARD's tables at our scale
  beside the published numbers (``DFARD_TABLE1``..., ``DERD_TABLE1``...).
* :mod:`advdist_lab.robust.data` and :mod:`advdist_lab.robust.models`: images in ``[0, 1]`` and the networks
  (digits CNNs, ResNet-18, WideResNets) with their checkpoint format.
"""

from advdist_lab.robust.attacks import (
    ATTACK_LABELS,
    ATTACKS,
    TORCHATTACKS_INSTALL,
    AttackProtocol,
    Normalized,
    attack_mode,
    autoattack,
    build_autoattack,
    cw_inf,
    fgsm,
    format_table1,
    pgd_s,
    pgd_t,
    robust_accuracy,
    run_attack,
    table1_row,
)
from advdist_lab.robust.dfard import DfardConfig, run_dfard
from advdist_lab.robust.generation import ConditionalGenerator
from advdist_lab.robust.ita_agb import adaptive_generator_balance, interactive_temperature

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "TORCHATTACKS_INSTALL",
    "AttackProtocol",
    "ConditionalGenerator",
    "DfardConfig",
    "Normalized",
    "adaptive_generator_balance",
    "attack_mode",
    "autoattack",
    "build_autoattack",
    "cw_inf",
    "fgsm",
    "format_table1",
    "interactive_temperature",
    "pgd_s",
    "pgd_t",
    "robust_accuracy",
    "run_dfard",
    "run_attack",
    "table1_row",
]
