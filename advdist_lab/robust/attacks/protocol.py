"""The attack protocol of DFARD Table 1 (``001_...``, "Attack Evaluation"): robust accuracy and its table.

DFARD reports the clean accuracy beside five L_inf attacks at ``eps = 8/255`` (Table 1: Clean, FGSM, PGD_S,
PGD_T, CW_inf, AA). :class:`AttackProtocol` is one evaluation's budget, steps and attacks
(:meth:`AttackProtocol.cifar`, the paper's; :meth:`AttackProtocol.digits`, ours for the 8x8 digits);
:func:`run_attack` runs one attack by name (:mod:`advdist_lab.robust.attacks.gradient`,
:mod:`advdist_lab.robust.attacks.auto`); :func:`robust_accuracy` measures a model under all of them; and
:func:`table1_row` and :func:`format_table1` lay the accuracies out as Table 1.

**The average.** DFARD's Table 1 has no average column; its text ("our method improves the average adversarial
robustness by 1.98%, 0.55%, 1.69%, and 1.03%") averages the **five attacks without Clean**: the means of FGSM,
PGD_S, PGD_T, CW_inf and AA of Table 1 reproduce those four numbers (1.99, 0.54, 1.69, 1.03 after rounding),
while means that include Clean do not (e.g. 1.43 instead of 1.69 for RN-18 on CIFAR-100). :func:`robust_accuracy`
therefore returns ``average`` = the mean over the protocol's attacks, Clean excluded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from advdist_lab.hparams import check_nonnegative_int, check_positive, check_positive_int, check_real
from advdist_lab.robust.attacks.auto import autoattack, check_n_classes
from advdist_lab.robust.attacks.gradient import attack_mode, check_budget, check_inputs, cw_inf, fgsm, pgd_s, pgd_t

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "AttackProtocol",
    "check_attack_names",
    "format_table1",
    "robust_accuracy",
    "run_attack",
    "table1_row",
]

ATTACKS = ("fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack")
"""The attacks of DFARD Table 1, in its column order."""

ATTACK_LABELS = {
    "clean": "Clean",
    "fgsm": "FGSM",
    "pgd_s": "PGD_S",
    "pgd_t": "PGD_T",
    "cw_inf": "CW_inf",
    "autoattack": "AA",
    "average": "Avg",
}
"""Column headers of DFARD Table 1 (``Avg``, the mean over the attacks, is ours: see the module docstring)."""


def check_attack_names(name: str, value: object, *, allow_empty: bool) -> tuple[str, ...]:
    """``value`` as a tuple of distinct names from :data:`ATTACKS` (empty only when ``allow_empty``); else a
    ``ValueError`` that starts with ``name``. Shared by the configs of the robust teacher and of distillation."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of names from {', '.join(ATTACKS)} (got {value!r})")
    unknown = [a for a in value if a not in ATTACKS]
    if unknown:
        raise ValueError(f"{name}: unknown attack(s) {unknown!r}; names must come from {', '.join(ATTACKS)}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} must be distinct attack names (got {list(value)!r})")
    if not value and not allow_empty:
        raise ValueError(f"{name} must name at least one attack from {', '.join(ATTACKS)}")
    return tuple(value)


# ----------------------------------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttackProtocol:
    """The attack protocol of an evaluation: budget, steps and the attacks of DFARD Table 1.

    ``eps``: L_inf radius in pixel units of ``[0, 1]`` inputs (> 0, <= 1). ``steps``: iterations of PGD_S, PGD_T
    and CW_inf (>= 1). ``step_size``: their step (> 0). ``attacks``: a non-empty tuple of distinct names from
    :data:`ATTACKS` (evaluated in that order). ``pgd_t_start_std``: the Gaussian start of PGD_T (> 0).
    ``autoattack_steps`` and ``autoattack_queries``: APGD/FAB iterations and Square queries of AutoAttack.

    :meth:`cifar` is DFARD's protocol; :meth:`digits` our scaled one for the 8x8 digits.
    """

    eps: float = 8 / 255
    steps: int = 20
    step_size: float = 2 / 255
    attacks: tuple[str, ...] = ATTACKS
    pgd_t_start_std: float = 0.001
    autoattack_steps: int = 100
    autoattack_queries: int = 5000
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        eps, steps, step_size = check_budget(self.eps, self.steps, self.step_size)
        attacks = self.attacks
        if isinstance(attacks, str) or not isinstance(attacks, Sequence) or len(attacks) == 0:
            raise ValueError(
                f"attacks must be a non-empty sequence of names from {', '.join(ATTACKS)} (got {attacks!r})"
            )
        unknown = [a for a in attacks if a not in ATTACKS]
        if unknown:
            raise ValueError(f"unknown attack(s) {unknown!r}: attacks must be names from {', '.join(ATTACKS)}")
        if len(set(attacks)) != len(attacks):
            raise ValueError(f"attacks must be distinct (got {attacks!r})")
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "step_size", step_size)
        object.__setattr__(self, "attacks", tuple(attacks))
        object.__setattr__(self, "pgd_t_start_std", check_positive("pgd_t_start_std", self.pgd_t_start_std))
        object.__setattr__(self, "autoattack_steps", check_positive_int("autoattack_steps", self.autoattack_steps))
        object.__setattr__(
            self, "autoattack_queries", check_positive_int("autoattack_queries", self.autoattack_queries)
        )
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string (got {self.name!r})")

    @classmethod
    def for_dataset(cls, dataset: str, attacks: Sequence[str] = ATTACKS) -> AttackProtocol:
        """:meth:`digits` for ``"digits"``, :meth:`cifar` for the CIFAR-10 datasets (``cifar10``,
        ``cifar10-random``): the protocol that the robust teacher, DFARD and DERD evaluate under."""
        return cls.digits(attacks) if dataset == "digits" else cls.cifar(attacks)

    @classmethod
    def cifar(cls, attacks: Sequence[str] = ATTACKS) -> AttackProtocol:
        """DFARD "Attack Evaluation": ``eps = 8/255``, 20 steps for PGD_S, PGD_T and CW_inf, step ``2/255``.

        The step size is not stated for evaluation; ``2/255`` is the paper's training-PGD step and RSLAD's
        evaluation step. AutoAttack at its standard counts (100 steps, 5,000 Square queries).
        """
        return cls(eps=8 / 255, steps=20, step_size=2 / 255, attacks=tuple(attacks), name="cifar")

    @classmethod
    def digits(cls, attacks: Sequence[str] = ATTACKS) -> AttackProtocol:
        """Our scaled protocol for scikit-learn's 8x8 digits in ``[0, 1]`` (not in the paper).

        ``eps = 0.15``, 20 steps of ``0.0375``: the step is ``eps / 4``, the paper's ratio 2/255 : 8/255, and the
        20 steps are its own, so a PGD walk can cross the ball five times as in DFARD. The budget is ours. Digits
        have 64 pixels on 17 grey levels (0..16)/16, against CIFAR's 3,072 values per image, so 8/255 barely
        moves a digits model; we chose the budget at which an undefended model falls as far as an undefended
        CIFAR model does (most of the way) while a PGD-trained one keeps well over half of its accuracy.
        Measured on the 500 test digits (LeNet ``(16, 32)``, hidden 128, and an MLP ``64-128-10``, Adam 1e-3,
        30 epochs on the 1,297 training digits; PGD-AT = PGD-10 at the same eps; seed 0), in %:

        ========================  =====  ====  =====  =====  ======  ====
        model                     Clean  FGSM  PGD_S  PGD_T  CW_inf  AA
        ========================  =====  ====  =====  =====  ======  ====
        MLP, undefended           96.2   21.8  15.0   41.4   19.0    13.2
        LeNet, undefended         98.0   24.4  13.2   41.8   15.6    9.8
        LeNet, PGD-AT eps 0.15    96.4   67.8  59.2   72.6   60.0    54.2
        ========================  =====  ====  =====  =====  ======  ====

        PGD_S at other budgets (undefended LeNet / PGD-AT LeNet at the same eps, 20 steps of eps/4): 0.1: 49.6 /
        78.2; 0.2: 1.6 / 41.4. The whole protocol on 500 digits took 35 s (undefended) and 67 s (robust) on
        one CPU thread, AutoAttack most of it.
        """
        return cls(eps=0.15, steps=20, step_size=0.0375, attacks=tuple(attacks), name="digits")

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (for ``result.json``)."""
        data = asdict(self)
        data["attacks"] = list(self.attacks)
        return data

    def describe(self) -> str:
        """One line, e.g. ``eps 0.0314 (8.0/255), 20 steps of 0.00784 (2.0/255); attacks: FGSM, PGD_S, ...``."""
        labels = ", ".join(ATTACK_LABELS[a] for a in self.attacks)
        return (
            f"eps {self.eps:.4g} ({self.eps * 255:.1f}/255), {self.steps} steps of {self.step_size:.3g} "
            f"({self.step_size * 255:.1f}/255); AutoAttack {self.autoattack_steps} steps, "
            f"{self.autoattack_queries} Square queries; attacks: {labels}"
        )


def run_attack(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    protocol: AttackProtocol,
    *,
    n_classes: int | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> Tensor:
    """One attack of ``protocol`` by name. ``generator`` drives the random starts of PGD_S, PGD_T and CW_inf;
    ``seed`` seeds AutoAttack; ``n_classes`` defaults to the width of the model's logits on ``x``."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}: attacks must be names from {', '.join(ATTACKS)}")
    p = protocol
    if name == "fgsm":
        return fgsm(model, x, y, p.eps)
    if name == "pgd_s":
        return pgd_s(model, x, y, p.eps, p.steps, p.step_size, generator=generator)
    if name == "pgd_t":
        return pgd_t(model, x, y, p.eps, p.steps, p.step_size, start_std=p.pgd_t_start_std, generator=generator)
    if name == "cw_inf":
        return cw_inf(model, x, y, p.eps, p.steps, p.step_size, generator=generator)
    if n_classes is None:
        n_classes = _logit_width(model, x[:1])
    return autoattack(
        model, x, y, p.eps, n_classes=n_classes, steps=p.autoattack_steps, n_queries=p.autoattack_queries, seed=seed
    )


def _logit_width(model: nn.Module, x: Tensor) -> int:
    with attack_mode(model), torch.no_grad():
        logits = model(x)
    if logits.dim() != 2:
        raise ValueError(f"the model must return logits of shape (batch, classes) (got {tuple(logits.shape)})")
    return int(logits.shape[1])


def _model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _attack_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


# ----------------------------------------------------------------------------------------------------------------
# Robust accuracy and DFARD Table 1
# ----------------------------------------------------------------------------------------------------------------


def robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    protocol: AttackProtocol | None = None,
    *,
    n_classes: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Clean and robust accuracies under every attack of ``protocol`` (DFARD Table 1), as fractions in [0, 1].

    Returns ``{"clean": ..., <attack>: ... for each of protocol.attacks, "average": ...}`` where ``average`` is
    the mean of the attacks' accuracies **without Clean**, as DFARD's text averages Table 1 (module docstring).
    Each attack is run on every example (also those misclassified clean, which then count as errors), in
    batches of ``batch_size``.

    ``n_classes`` defaults to the width of the model's logits (read on the data), and must agree with it when
    given; labels must lie below it. ``device``: None evaluates where the model is; otherwise the model is moved
    there for the evaluation and back afterwards. Deterministic given ``seed`` (and ``batch_size``): each attack
    draws its random starts from its own generator seeded from ``(seed, attack index)``; the global random state
    is untouched. ``progress`` shows a tqdm bar over batches x (1 + attacks). The model's train/eval flags and
    parameter gradients are as before.
    """
    protocol = AttackProtocol.cifar() if protocol is None else protocol
    if not isinstance(protocol, AttackProtocol):
        raise ValueError(f"protocol must be an AttackProtocol (got {type(protocol).__name__})")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
    check_inputs(x, y)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_nonnegative_int("seed", seed)
    original_device = _model_device(model)
    if device is None:
        target_device = original_device
    else:
        from advdist_lab.environment import resolve_device

        target_device = resolve_device(device)
    model.to(target_device)
    try:
        return _robust_accuracy(model, x, y, protocol, n_classes, batch_size, target_device, seed, progress)
    finally:
        if target_device != original_device:
            model.to(original_device)


def _robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    protocol: AttackProtocol,
    n_classes: int | None,
    batch_size: int,
    device: torch.device,
    seed: int,
    progress: bool,
) -> dict[str, float]:
    width = _logit_width(model, x[:1].to(device))
    if n_classes is None:
        n_classes = width
    elif check_n_classes(n_classes) != width:
        raise ValueError(f"n_classes = {n_classes} does not match the model's {width} logits")
    if width < 2:
        raise ValueError(f"the model must have at least 2 logits (got {width})")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1} (got {int(y.min())}..{int(y.max())})")
    generators = {}
    for index, name in enumerate(protocol.attacks):
        generators[name] = torch.Generator(device=device).manual_seed(_attack_seed(seed, index))
    correct = dict.fromkeys(("clean", *protocol.attacks), 0)
    n = x.shape[0]
    starts = range(0, n, batch_size)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(starts) * (1 + len(protocol.attacks)),
        desc="robust accuracy",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    with attack_mode(model), bar:
        for start in starts:
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            with torch.no_grad():
                correct["clean"] += int((model(xb).argmax(1) == yb).sum())
            bar.update(1)
            for index, name in enumerate(protocol.attacks):
                bar.set_postfix_str(ATTACK_LABELS[name])
                x_adv = run_attack(
                    name,
                    model,
                    xb,
                    yb,
                    protocol,
                    n_classes=n_classes,
                    generator=generators[name],
                    seed=_attack_seed(seed, index),
                )
                with torch.no_grad():
                    correct[name] += int((model(x_adv).argmax(1) == yb).sum())
                bar.update(1)
    result = {key: value / n for key, value in correct.items()}
    result["average"] = float(np.mean([result[a] for a in protocol.attacks]))
    return result


def _cell(value: float | None, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = check_real("accuracy", value)
    return f"{100 * value:.2f}" if percent else f"{value:.4f}"


def _columns(attacks: Sequence[str], average: bool) -> list[str]:
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown!r}: attacks must be names from {', '.join(ATTACKS)}")
    return ["clean", *attacks] + (["average"] if average else [])


def table1_row(
    name: str,
    accuracies: Mapping[str, float],
    *,
    attacks: Sequence[str] = ATTACKS,
    average: bool = True,
    percent: bool = True,
) -> str:
    """One markdown row in the layout of DFARD Table 1: ``| name | Clean | FGSM | PGD_S | PGD_T | CW_inf | AA | Avg |``.

    ``accuracies`` is a :func:`robust_accuracy` result (fractions); cells are percentages with two decimals as
    in the paper (``percent=False``: fractions with four), ``-`` for an attack that was not run.
    """
    return "| " + " | ".join([name] + [_cell(accuracies.get(c), percent) for c in _columns(attacks, average)]) + " |"


def format_table1(
    rows: Mapping[str, Mapping[str, float]],
    *,
    attacks: Sequence[str] = ATTACKS,
    average: bool = True,
    percent: bool = True,
    first_column: str = "method",
) -> str:
    """A markdown table of :func:`table1_row` rows under DFARD Table 1's header (plus our ``Avg``, see above)."""
    columns = _columns(attacks, average)
    header = "| " + " | ".join([first_column] + [ATTACK_LABELS[c] for c in columns]) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    body = [table1_row(name, acc, attacks=attacks, average=average, percent=percent) for name, acc in rows.items()]
    return "\n".join([header, rule, *body])
