"""The hyperparameters of a robust teacher's training: :class:`RobustTeacherConfig` and its per-dataset defaults.

DFARD (``001_...``, "Dataset and Model") distils "the same pre-trained WideResNet (WRN) teacher models" as RSLAD
(Zi et al. 2021), whose CIFAR-10 teacher is a WRN-34-10 adversarially trained by TRADES (Zhang et al. 2019); DERD
(``002_...``) also needs a *natural* teacher. :data:`DATASET_DEFAULTS` holds our recipe for each dataset (the
choices where the papers are silent, and our measurements behind them, are in
:mod:`advdist_lab.robust.teacher.training`); every field is validated when the config is made, before any work,
with one ``ValueError`` naming the constraint: the epochs are bounded (:func:`~advdist_lab.hparams.check_epochs`),
a batch cannot be larger than the training images, the per-epoch evaluation cannot exceed the test images.
:func:`protocol_for` gives the attack protocol of DFARD Table 1 for a dataset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from advdist_lab.environment import DEVICE_PATTERN
from advdist_lab.hparams import (
    check_choice,
    check_epochs,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)
from advdist_lab.robust.attacks import auto as auto_attack
from advdist_lab.robust.attacks.protocol import ATTACKS, AttackProtocol, check_attack_names
from advdist_lab.robust.data import ROBUST_DATASETS, TEST_SPLIT_SIZES, TRAIN_SPLIT_SIZES
from advdist_lab.robust.models import DEFAULT_TEACHERS, check_architecture

__all__ = [
    "AUGMENTATIONS",
    "DATASET_DEFAULTS",
    "OPTIMIZERS",
    "PRECISIONS",
    "TEACHER_METHODS",
    "TEST_SPLIT",
    "TRAINING_IMAGES",
    "RobustTeacherConfig",
    "check_autoattack_available",
    "check_test_size",
    "defaults_for",
    "protocol_for",
]

TEACHER_METHODS = ("pgd-at", "trades", "natural")
OPTIMIZERS = ("sgd", "adam")
AUGMENTATIONS = ("none", "crop-flip")
PRECISIONS = ("auto", "fp32", "bf16")

_CIFAR_ATTACKS = tuple(a for a in ATTACKS if a != "autoattack")
TRAINING_IMAGES = TRAIN_SPLIT_SIZES
"""The training images of each dataset when ``n_train`` is not given (the noise has as many as ``n_train`` asks)."""
_TRAIN_POOL = {k: v for k, v in TRAINING_IMAGES.items() if k != "cifar10-random"}
TEST_SPLIT = TEST_SPLIT_SIZES
"""The test images of each dataset (``test_size`` takes a prefix)."""

DATASET_DEFAULTS: dict[str, dict[str, object]] = {
    "digits": {
        "method": "pgd-at",
        "epochs": 20,
        "batch_size": 64,
        "lr": 0.1,
        "optimizer": "sgd",
        "eps": 0.15,
        "steps": 10,
        "step_size": 0.0375,
        "augment": "none",
        "eval_size": 200,
        "final_attacks": ATTACKS,
    },
    "cifar10": {
        "method": "trades",
        "epochs": 100,
        "batch_size": 128,
        "lr": 0.1,
        "optimizer": "sgd",
        "eps": 8 / 255,
        "steps": 10,
        "step_size": 2 / 255,
        "augment": "crop-flip",
        "eval_size": 1000,
        "final_attacks": _CIFAR_ATTACKS,
    },
}
"""Per-dataset defaults of :class:`RobustTeacherConfig` (``arch`` from ``models.DEFAULT_TEACHERS``)."""
DATASET_DEFAULTS["cifar10-random"] = {**DATASET_DEFAULTS["cifar10"], "epochs": 2, "eval_size": 200}
# CIFAR-10-shaped noise (throughput checks): CIFAR-10's recipe, two epochs, a smaller per-epoch evaluation.


def defaults_for(dataset: str) -> dict[str, object]:
    """The defaults that :class:`RobustTeacherConfig` fills in for ``dataset`` (a copy, with ``arch``)."""
    check_choice("dataset", dataset, ROBUST_DATASETS)
    return {"arch": DEFAULT_TEACHERS[dataset], **DATASET_DEFAULTS[dataset]}


def protocol_for(dataset: str, attacks: Sequence[str] | None = None) -> AttackProtocol:
    """The attack protocol of ``dataset``: :meth:`AttackProtocol.digits` or :meth:`AttackProtocol.cifar`.

    ``attacks`` defaults to the dataset's final attacks (all five on the digits, all but AutoAttack on CIFAR).
    """
    check_choice("dataset", dataset, ROBUST_DATASETS)
    attacks = DATASET_DEFAULTS[dataset]["final_attacks"] if attacks is None else attacks
    return AttackProtocol.for_dataset(dataset, check_attack_names("attacks", attacks, allow_empty=False))


def check_autoattack_available(attacks: Sequence[str], option: str) -> None:
    """``ValueError`` naming ``option`` and torchattacks' install command when ``attacks`` holds AutoAttack and
    torchattacks cannot be imported (checked before any work, not after hours of training)."""
    if "autoattack" in attacks:
        try:
            auto_attack.import_torchattacks()
        except ImportError as error:
            raise ValueError(f"{error}; or leave autoattack out of {option}") from None


def check_test_size(dataset: str, test_size: object) -> int | None:
    """``test_size`` (``None``: the whole test split of ``dataset``) or ``ValueError`` naming the split."""
    if test_size is None:
        return None
    test_size = check_positive_int("test_size", test_size)
    if test_size > TEST_SPLIT[dataset]:
        raise ValueError(f"test_size must be <= {TEST_SPLIT[dataset]}, the test split of {dataset} (got {test_size})")
    return test_size


@dataclass(frozen=True)
class RobustTeacherConfig:
    """Every hyperparameter of a teacher's training; ``None`` fields take :func:`defaults_for` ``(dataset)``.

    ``dataset``: one of :data:`~advdist_lab.robust.data.ROBUST_DATASETS`. ``arch``: a
    :func:`~advdist_lab.robust.models.build_robust_model` name. ``method``: ``pgd-at``, ``trades`` or ``natural``.
    ``epochs``, ``batch_size`` >= 1; ``lr`` > 0; ``optimizer`` ``sgd`` or ``adam`` (cosine schedule either way);
    ``momentum`` in [0, 1) (SGD only); ``weight_decay`` >= 0. ``eps`` in (0, 1], ``steps`` >= 1 and
    ``step_size`` > 0: the training attack. ``trades_beta`` >= 0. ``augment``: ``none`` or ``crop-flip``.
    ``n_train``: a stratified subset of the training pool (``None``: all), drawn with ``subset_seed``.
    ``test_size``: test images of the final evaluation (``None``: the whole split); ``eval_size`` the first that
    many of them evaluated after every epoch under ``eval_attacks`` (may be empty: clean accuracy only);
    ``final_attacks`` (non-empty) at the end. ``seed``: initialisation, shuffling, attack starts and evaluation.
    ``device``: auto, cpu, cuda, cuda:N or mps; ``precision``: auto (bf16 autocast on CUDA), fp32 or bf16.
    """

    dataset: str = "digits"
    method: str | None = None
    arch: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eps: float | None = None
    steps: int | None = None
    step_size: float | None = None
    trades_beta: float = 6.0
    augment: str | None = None
    n_train: int | None = None
    subset_seed: int = 0
    test_size: int | None = None
    eval_size: int | None = None
    eval_attacks: tuple[str, ...] = ("pgd_s",)
    final_attacks: tuple[str, ...] | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        dataset = check_choice("dataset", self.dataset, ROBUST_DATASETS)
        for name, value in defaults_for(dataset).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        put = object.__setattr__
        check_choice("method", self.method, TEACHER_METHODS)
        put(self, "arch", check_architecture(self.arch))
        put(self, "epochs", check_epochs("epochs", self.epochs))
        put(self, "batch_size", check_positive_int("batch_size", self.batch_size))
        put(self, "lr", check_positive("lr", self.lr))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        momentum = check_nonnegative("momentum", self.momentum)
        if momentum >= 1:
            raise ValueError(f"momentum must be >= 0 and < 1 (got {self.momentum!r})")
        put(self, "momentum", momentum)
        put(self, "weight_decay", check_nonnegative("weight_decay", self.weight_decay))
        eps = check_positive("eps", self.eps)
        if eps > 1:
            raise ValueError(f"eps must be > 0 and <= 1 for images in [0, 1] (got {self.eps!r})")
        put(self, "eps", eps)
        put(self, "steps", check_positive_int("steps", self.steps))
        put(self, "step_size", check_positive("step_size", self.step_size))
        put(self, "trades_beta", check_nonnegative("trades_beta", self.trades_beta))
        check_choice("augment", self.augment, AUGMENTATIONS)
        put(self, "subset_seed", check_nonnegative_int("subset_seed", self.subset_seed))
        if self.n_train is not None:
            check_positive_int("n_train", self.n_train)
            pool = _TRAIN_POOL.get(dataset)
            if pool is not None and self.n_train > pool:
                raise ValueError(f"n_train must be <= {pool}, the training pool of {dataset} (got {self.n_train})")
        if self.n_train is not None and self.batch_size > self.n_train:
            raise ValueError(
                f"batch_size must be <= n_train, the {self.n_train} training images (got {self.batch_size})"
            )
        if self.batch_size > TRAINING_IMAGES[dataset]:
            raise ValueError(
                f"batch_size must be <= {TRAINING_IMAGES[dataset]}, the training images of {dataset} (got "
                f"{self.batch_size})"
            )
        check_test_size(dataset, self.test_size)
        tested = TEST_SPLIT[dataset] if self.test_size is None else self.test_size
        check_positive_int("eval_size", self.eval_size)
        if self.eval_size > tested:
            raise ValueError(
                f"eval_size must be <= the {tested} test images evaluated (test_size) (got {self.eval_size})"
            )
        put(self, "eval_attacks", check_attack_names("eval_attacks", self.eval_attacks, allow_empty=True))
        put(self, "final_attacks", check_attack_names("final_attacks", self.final_attacks, allow_empty=False))
        put(self, "seed", check_nonnegative_int("seed", self.seed))
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (got {self.device!r})")
        check_choice("precision", self.precision, PRECISIONS)

    def to_dict(self) -> dict[str, object]:
        """Every field, resolved, JSON-ready (tuples as lists)."""
        data = dataclasses.asdict(self)
        data["eval_attacks"] = list(self.eval_attacks)
        data["final_attacks"] = list(self.final_attacks)  # type: ignore[arg-type]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RobustTeacherConfig:
        """A config from :meth:`to_dict` output (unknown keys raise ``ValueError`` naming them)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown RobustTeacherConfig field(s): {', '.join(unknown)}")
        values = dict(data)
        for key in ("eval_attacks", "final_attacks"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> RobustTeacherConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
