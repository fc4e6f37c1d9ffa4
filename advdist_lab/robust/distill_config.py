"""The hyperparameters every data-free robust distillation shares: :class:`DistillConfig`.

DFARD (:class:`advdist_lab.robust.dfard.DfardConfig`) and DERD (:class:`advdist_lab.robust.derd.config.DerdConfig`)
add their own fields; :func:`advdist_lab.robust.runner.run_distillation` runs either. The evaluation fields:

* ``val_size``: the validation split, images held out from the **training** split
  (:mod:`advdist_lab.robust.validation`: why that is legitimate for a data-free method, and the defaults
  :data:`~advdist_lab.robust.validation.VAL_SIZES`). ``None``: ``eval_size`` when given, else the dataset's
  default. At most the training split (``ValueError`` naming it).
* ``eval_size``: the first that many validation images are evaluated after every epoch under ``eval_attacks``
  (``None``: all ``val_size``); at most ``val_size``. ``select`` (``clean`` or one of ``eval_attacks``) picks the
  best epoch on those validation accuracies.
* ``final_size``, ``final_attacks``: the one evaluation on the **test** split, of the chosen epoch's student.

A config stored before ``val_size`` existed (its epoch was picked on the test split) has no ``val_size`` and is
refused by a run folder holding it ("holds a run with a different config (val_size: None there, ... here)"):
no default can reproduce test-split selection, so such a run is never continued or read back as if it were one of
these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from advdist_lab.hparams import (
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)
from advdist_lab.robust.attacks.protocol import ATTACKS, AttackProtocol, check_attack_names
from advdist_lab.robust.data import ROBUST_DATASETS
from advdist_lab.robust.models import DEFAULT_STUDENTS, check_architecture
from advdist_lab.robust.validation import VAL_SIZES, check_val_size

__all__ = ["DistillConfig"]

_DATASET_DEFAULTS = {
    "digits": {
        "epochs": 20,
        "iterations": 10,
        "batch_size": 128,
        "z_dim": 64,
        "generator_width": 32,
        "lr_student": 0.05,
        "final_attacks": ATTACKS,
    },
    "cifar10": {
        "epochs": 200,
        "iterations": 50,
        "batch_size": 256,
        "z_dim": 100,
        "generator_width": 64,
        "lr_student": 0.05,
        "final_attacks": ATTACKS,
    },
}
_DATASET_DEFAULTS["cifar10-random"] = _DATASET_DEFAULTS["cifar10"]


def _attack_tuple(name: str, value: object, allow_empty: bool = False) -> tuple[str, ...]:
    """Attack names as a tuple (a comma-separated string or any iterable), checked by
    :func:`~advdist_lab.robust.attacks.protocol.check_attack_names`."""
    if isinstance(value, str):
        value = tuple(v for v in value.split(",") if v)
    try:
        names = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a sequence of attack names from {', '.join(ATTACKS)}") from None
    return check_attack_names(name, names, allow_empty=allow_empty)


@dataclass(frozen=True)
class DistillConfig:
    """Hyperparameters shared by data-free robust distillation methods (DFARD "Implementation details").

    ``None`` fields take the dataset's default in :meth:`resolved` (CIFAR-10: the paper's; digits: ours, sized so
    that a run takes minutes on a CPU). Optimisers: the student SGD (momentum 0.9, weight decay 1e-4) with cosine
    annealing from ``lr_student`` (0.05) over all steps, the generator Adam (``lr_generator`` 1e-3, betas 0.5 and
    0.999); batch size 256 for synthesis and distillation; PGD-10, random start 0.001, step 2/255 at eps 8/255.
    ``iterations``: how many times an epoch repeats Algorithm 1's block of ``tg`` generator and ``ts`` student
    steps (the paper's Algorithm 1 is ``iterations = 1`` with ``T = 200`` epochs, which is 1,200 student steps in
    all; it does not say how many steps an epoch holds, and DFAD-style code runs 50 blocks per epoch: our CIFAR
    default). ``train_eps`` / ``train_step_size`` ``None``: the evaluation protocol's budget and ``eps / 4``.
    Evaluation (``val_size``, ``eval_size``, ``eval_attacks``, ``select`` on the validation split; ``final_size``,
    ``final_attacks`` on the test split, once): the module docstring.
    """

    dataset: str = "digits"
    teacher: str | None = None
    student_arch: str | None = None
    epochs: int | None = None
    iterations: int | None = None
    tg: int = 1
    ts: int = 5
    batch_size: int | None = None
    lr_student: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_generator: float = 1e-3
    z_dim: int | None = None
    generator_width: int | None = None
    train_eps: float | None = None
    train_steps: int = 10
    train_step_size: float | None = None
    start_std: float = 0.001
    eval_size: int | None = None
    val_size: int | None = None
    eval_attacks: tuple[str, ...] = ("pgd_s", "pgd_t")
    final_size: int | None = None
    final_attacks: tuple[str, ...] | None = None
    select: str = "pgd_t"
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, ROBUST_DATASETS)
        if self.teacher is not None and not isinstance(self.teacher, str):
            raise ValueError(f"teacher must be a path (got {self.teacher!r})")
        if self.student_arch is not None:
            check_architecture(self.student_arch)
        for name in ("epochs", "iterations", "batch_size", "z_dim", "generator_width", "eval_size", "final_size"):
            value = getattr(self, name)
            if value is not None:
                check_positive_int(name, value)
        for name in ("tg", "ts", "train_steps"):
            check_positive_int(name, getattr(self, name))
        for name in ("lr_student", "train_eps", "train_step_size"):
            value = getattr(self, name)
            if value is not None:
                check_positive(name, value)
        self._check_validation()
        check_positive("lr_generator", self.lr_generator)
        check_positive("start_std", self.start_std)
        check_nonnegative("weight_decay", self.weight_decay)
        if not 0.0 <= check_nonnegative("momentum", self.momentum) < 1.0:
            raise ValueError(f"momentum must lie in [0, 1) (got {self.momentum})")
        if self.train_eps is not None and self.train_eps > 1:
            raise ValueError(f"train_eps must be <= 1, in pixel units of [0, 1] images (got {self.train_eps})")
        object.__setattr__(self, "eval_attacks", _attack_tuple("eval_attacks", self.eval_attacks, allow_empty=True))
        if self.final_attacks is not None:
            object.__setattr__(self, "final_attacks", _attack_tuple("final_attacks", self.final_attacks))
        if self.select != "clean" and self.select not in self.eval_attacks:
            raise ValueError(
                f"select must be 'clean' or one of eval_attacks ({', '.join(self.eval_attacks) or 'none'}), the "
                f"accuracy that picks the best epoch (got {self.select!r})"
            )
        check_nonnegative_int("seed", self.seed)
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string such as auto, cpu or cuda (got {self.device!r})")

    def _check_validation(self) -> None:
        """``val_size`` (and ``eval_size`` where it stands for it) within the training split; ``eval_size`` a prefix
        of the validation split."""
        if self.val_size is not None:
            check_val_size(self.dataset, self.val_size)
            if self.eval_size is not None and self.eval_size > self.val_size:
                raise ValueError(
                    f"eval_size must be <= val_size ({self.val_size}): the images evaluated after every epoch are the "
                    f"first eval_size of the validation split (got {self.eval_size})"
                )
        elif self.eval_size is not None:
            try:
                check_val_size(self.dataset, self.eval_size)
            except ValueError as error:
                raise ValueError(f"eval_size stands for val_size when val_size is not given: {error}") from None

    def resolved(self):
        """A copy with every ``None`` replaced by the dataset's default; the teacher must be set."""
        if self.teacher is None:
            raise ValueError("teacher must be given: a robust teacher's run folder or model file (robust-teacher)")
        defaults = _DATASET_DEFAULTS[self.dataset]
        changes = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if self.student_arch is None:
            changes["student_arch"] = DEFAULT_STUDENTS[self.dataset]
        protocol = AttackProtocol.for_dataset(self.dataset)
        eps = self.train_eps if self.train_eps is not None else protocol.eps
        if self.train_eps is None:
            changes["train_eps"] = eps
        if self.train_step_size is None:
            changes["train_step_size"] = eps / 4
        if self.val_size is None:
            changes["val_size"] = self.eval_size if self.eval_size is not None else VAL_SIZES[self.dataset]
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for key in ("eval_attacks", "final_attacks"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, values: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
