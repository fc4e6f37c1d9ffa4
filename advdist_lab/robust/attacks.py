"""The attack suite of DFARD Table 1 under its first name.

Old import path, kept until every caller has moved to advdist_lab.robust.gradient_attacks (FGSM, PGD_S, PGD_T,
CW_inf, :class:`Normalized`, :func:`attack_mode`), advdist_lab.robust.auto_attack (AutoAttack) and
advdist_lab.robust.protocol (:class:`AttackProtocol`, :func:`robust_accuracy`, the Table 1 formatters).
"""

from advdist_lab.robust.auto_attack import (  # noqa: F401
    AUTOATTACK_TARGET_CLASSES,
    TORCHATTACKS_INSTALL,
    autoattack,
    build_autoattack,
)
from advdist_lab.robust.gradient_attacks import (  # noqa: F401
    Normalized,
    attack_mode,
    cw_inf,
    fgsm,
    pgd_s,
    pgd_t,
)
from advdist_lab.robust.protocol import (  # noqa: F401
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
    "cw_inf",
    "fgsm",
    "format_table1",
    "pgd_s",
    "pgd_t",
    "robust_accuracy",
    "run_attack",
    "table1_row",
]
