"""Adversarial robustness: the attack suite of DFARD (``001_...``, "Attack Evaluation", Table 1).

* :mod:`advdist_lab.robust.attacks`: FGSM, PGD_S, PGD_T, CW_inf and AutoAttack on ``[0, 1]`` inputs, the
  :class:`AttackProtocol` value object (:meth:`AttackProtocol.cifar`, :meth:`AttackProtocol.digits`),
  :func:`robust_accuracy` and the Table 1 formatters. torchattacks (for AutoAttack only) is imported lazily, so
  this package imports without it.
* :mod:`advdist_lab.robust.generators`: :class:`ConditionalGenerator`, the DAFL-style conditional generator
  ``g(z, y)`` of DFARD's data-free stage, images in ``[0, 1]``.
* :mod:`advdist_lab.robust.dfard`: :func:`interactive_temperature` (ITA, DFARD Eq. 4) and
  :func:`adaptive_generator_balance` (AGB, DFARD Eq. 7).
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
from advdist_lab.robust.dfard import adaptive_generator_balance, interactive_temperature
from advdist_lab.robust.generators import ConditionalGenerator

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "TORCHATTACKS_INSTALL",
    "AttackProtocol",
    "ConditionalGenerator",
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
    "run_attack",
    "table1_row",
]
