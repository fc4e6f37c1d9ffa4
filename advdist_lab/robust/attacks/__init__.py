"""DFARD's attack suite (``001_...``, Table 1): the five L_inf attacks and the protocol that runs them.

* :mod:`advdist_lab.robust.attacks.gradient`: FGSM, PGD_S, PGD_T and CW_inf on ``[0, 1]`` inputs,
  :class:`Normalized` (the normalisation inside the model), :func:`attack_mode` and the ball's helpers.
* :mod:`advdist_lab.robust.attacks.auto`: AutoAttack (standard version) from torchattacks' components;
  torchattacks is imported lazily, so this package imports without it.
* :mod:`advdist_lab.robust.attacks.protocol`: the :class:`AttackProtocol` value object
  (:meth:`AttackProtocol.cifar`, :meth:`AttackProtocol.digits`), :func:`run_attack`, :func:`robust_accuracy`
  and the Table 1 formatters.
"""

from advdist_lab.robust.attacks.auto import (
    AUTOATTACK_TARGET_CLASSES,
    TORCHATTACKS_INSTALL,
    autoattack,
    build_autoattack,
    check_n_classes,
    import_torchattacks,
)
from advdist_lab.robust.attacks.gradient import (
    Normalized,
    attack_mode,
    check_budget,
    check_inputs,
    cw_inf,
    fgsm,
    pgd_s,
    pgd_t,
    project_linf,
    signed_ascent,
    uniform_start,
)
from advdist_lab.robust.attacks.protocol import (
    ATTACK_LABELS,
    ATTACKS,
    AttackProtocol,
    check_attack_names,
    format_table1,
    robust_accuracy,
    run_attack,
    table1_row,
)

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "AUTOATTACK_TARGET_CLASSES",
    "TORCHATTACKS_INSTALL",
    "AttackProtocol",
    "Normalized",
    "attack_mode",
    "autoattack",
    "build_autoattack",
    "check_attack_names",
    "check_budget",
    "check_inputs",
    "check_n_classes",
    "cw_inf",
    "fgsm",
    "format_table1",
    "import_torchattacks",
    "pgd_s",
    "pgd_t",
    "project_linf",
    "robust_accuracy",
    "run_attack",
    "signed_ascent",
    "table1_row",
    "uniform_start",
]
