"""Every hyperparameter of a training run, validated in one place before any training starts.

:class:`TrainConfig` holds what ``advdist-lab train`` accepts. ``None`` means "the method's default", filled in by
:meth:`TrainConfig.resolved`; the resolved config is what a run records in ``result.json``.

Defaults come from the original KDGAN code (``shared/papers/README.md``) and the papers:

* Adam with learning rate ``1e-3`` for the discriminator and ``5e-4`` for the student and the teacher on MNIST
  and CIFAR-10; on the small datasets (digits, synthetic) ``2e-3`` for the student and the teacher.
* Batch size by training-set size as the original code: ``n <= 100 -> 10``, ``<= 1,000 -> 50``, otherwise 100.
* Per epoch ``k_d`` discriminator, ``k_t`` teacher and ``k_s`` student passes (Algorithm 1's inner loops). One
  pass is a shuffled sweep over the ``n`` training examples in minibatches. The original code used 20/10/10
  passes on MNIST; our CPU default is 1/1/1, which keeps an epoch of every method comparable to one epoch of
  supervised training.
* Gumbel-Softmax temperature annealed exponentially from 10 to 0.1 over the run (TPAMI Sec. 5).
* ADIM's weights on the simplex, ``omega = (1/3, 1/3, 1/3)``; ADIB's ``omega_s = omega_t = 1/2`` (Eq. 4);
  ``nu = 1``, ``mu = 0.01``, ``upsilon = 1`` (Eq. 2, 4, 6). TPAMI searches ``0.001 < nu < 1000`` and
  ``0.0001 < mu < 100`` and finds a large ``mu`` hurts (Fig. 6); the teacher's best is near ``mu = 0.001``.
* The players that a method trains adversarially (NGAN, ADIB, ADIM) start pretrained (KDGAN Algorithm 1,
  line 1): the teacher for ``teacher_pretrain_epochs`` and the student for ``student_pretrain_epochs`` epochs of
  supervised training, then the discriminator for ``discriminator_pretrain_epochs`` epochs of its own loss (0 by
  default: measure what it changes). The KD baselines MIMIC, DISTN and NOISY distil from the same pretrained
  teacher; CODIS trains both from scratch, online.
* Image tag recommendation (``tags-popular``, ``tags-random``; TPAMI Sec. 5.2, KDGAN Sec. 4.2): batch size
  :data:`TAG_BATCH_SIZE` and learning rate :data:`TAG_LR` for the student and the teacher, whatever ``n``; the
  epochs that ``advdist-lab tags`` and ``table4`` use are :data:`TAG_RUN_DEFAULTS`. ``data_file`` (tag datasets
  only) names a user's ``.npz`` of features to train on instead of the generated data.
* Bounds checked before any work: epoch counts at most :data:`~advdist_lab.hparams.MAX_EPOCHS`, passes per epoch
  (``k_d``, ``k_t``, ``k_s``) at most :data:`~advdist_lab.hparams.MAX_ITERATIONS`, ``n_train`` at most the training
  pool (or a ``data_file``'s training rows), and, in :meth:`TrainConfig.resolved`, a batch that fits in the memory
  of the device (:func:`batch_memory_bytes`, a lower bound: a batch refused would not fit).
* ``probe_gradients`` (off) records the variance and the cosine of the adversarial and the distillation gradients
  in every history entry (:mod:`advdist_lab.probes`); it changes no bit of training.
* ``eval_every`` (1) evaluates the players on the test split after every ``eval_every``-th epoch and after the last
  one; the other history entries hold the epoch, ``tau`` and the losses only. Training is the same bit for bit, and
  so is ``test_accuracy`` (always the last epoch's). On MNIST an evaluation (the teacher and the student on 10,000
  test images) costs more than an epoch of training at n = 100.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from ..data import DATASETS, INPUT_SIZES, NUM_CLASSES, VIEWS, max_train_size
from ..data.tags_features import tag_file_sizes
from ..data.views import check_view
from ..environment import DEVICE_PATTERN, check_fits_in_memory, resolve_device
from ..gumbel import BASELINES, ESTIMATORS
from ..hparams import (
    SCHEDULE_KINDS,
    TemperatureSchedule,
    check_choice,
    check_epochs,
    check_iterations,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_real,
    complete_omega,
)
from ..models.presets import ACTIVATION_FACTORS, TAG_DATASETS

METHODS = ("mimic", "distn", "noisy", "codis", "ngan", "adib", "adim", "adim-ngs", "student")
"""The methods of TPAMI Table 1, plus ADIM without the Gumbel-Softmax trick (ADIM-NGS, Fig. 4) and the student
trained alone on its view (``student``: Eq. 1, no teacher, the reference of the privileged setting)."""

KD_BASELINES = ("mimic", "distn", "noisy", "codis")
ADVERSARIAL = ("ngan", "adib", "adim", "adim-ngs")
WITH_TEACHER = ("mimic", "distn", "noisy", "codis", "adib", "adim", "adim-ngs")
PRECISIONS = ("auto", "fp32", "bf16")


PAPER_LR = 5e-4
"""The original code's Adam learning rate for the student and the teacher (MNIST, CIFAR-10)."""
SMALL_DATA_LR = 2e-3
"""Our default on digits and synthetic data, where an epoch is only 10-20 steps: measured on digits n = 100 over
50 epochs, 5e-4 leaves MIMIC at 63% and the teacher at 87%, 2e-3 brings them to 85% and 90%."""
SMALL_DATASETS = ("digits", "synthetic")

TAG_BATCH_SIZE = 100
"""Batch size on the tag datasets, whatever ``n`` (the original code's size for ``n >= 10k``): 200 steps per pass
over the default 20,000 items. (200 makes an ADIM epoch about 25% faster but learns less per epoch.)"""
TAG_LR = 1e-3
"""Adam learning rate of the student and the teacher on the tag datasets (the discriminator's is 1e-3 everywhere).
Measured on tags-popular: the teacher alone reaches its best test P@3 (0.38) after 4-5 epochs at 1e-3; at 1e-4 it
learns several times more slowly (P@3 0.21 after 4 epochs where 1e-3 had 0.29, on an earlier version of the data)."""
TAG_RUN_DEFAULTS = {"epochs": 6, "teacher_pretrain_epochs": 4, "student_pretrain_epochs": 3, "mu": 0.1}
"""What ``advdist-lab tags`` and ``table4`` train unless told otherwise (``student_pretrain_epochs`` for the
adversarial methods only; ``resolved`` gives them the same on the tag datasets). Measured on the generated
tags-popular data (20,000 items, 200 tags), one CPU thread, on a machine shared with other jobs (load 3 on 2 cores):

* epochs: the students plateau after 2-4 epochs (ADIM's at P@3 0.28-0.29, from 0.28 after pretraining), and an
  epoch of all eight methods takes 20 s (ADIM 4.8 s, ADIB 3.7 s, MIMIC 0.9 s), so ``table4 --seeds 3`` (6 label-set
  x seed blocks) needs about 6 x 6 x 20 s = 12 min plus 1 min of pretraining; one ADIM run with its pretraining
  39 s (an ADIM epoch took 4.3 s on two threads of a quiet machine).
* teacher and student pretraining: the supervised teacher peaks at 4-5 epochs (then overfits), the student at 3-4.
* ``mu = 0.1`` instead of Table 1's 0.01: with 0.01 the teacher of ADIM and of ADIB, pulled by the adversarial term
  over 200 tags with almost no distillation to hold it, collapses within 3 epochs (test P@3 from 0.31 to
  0.07-0.13, n = 5,000) and drags the student down (0.27 to 0.15-0.18); with 0.1 it stays at 0.33 and the
  student at 0.27. TPAMI Fig. 11 reports the teacher best at ``mu = 0.001`` over 400 epochs: our game at this scale
  does not bear it."""


ONLY_FOR = {
    "k_d": ADVERSARIAL,
    "discriminator_pretrain_epochs": ADVERSARIAL,
    "estimator": ("ngan", "adib", "adim"),
    "k_t": ("codis", "adib", "adim", "adim-ngs"),
    "omega_r": ("adim", "adim-ngs"),
    "omega_s": ("adib", "adim", "adim-ngs"),
    "omega_t": ("adib", "adim", "adim-ngs"),
}
"""Hyperparameters that only some methods accept (``resolved`` refuses them elsewhere)."""


def applicable(method: str, values: dict) -> dict:
    """``values`` without the hyperparameters that ``method`` does not take (see :data:`ONLY_FOR`).

    A table of several methods applies one set of options to all of them: ``--k-d 20`` sets the discriminator
    passes of the adversarial methods and leaves the KD baselines alone.
    """
    return {k: v for k, v in values.items() if k not in ONLY_FOR or method in ONLY_FOR[k]}


def bf16_autocast(precision: str, device: torch.device) -> bool:
    """Whether a run of ``precision`` trains under bf16 autocast on ``device``: ``bf16``, or ``auto`` on CUDA."""
    return precision == "bf16" or (precision == "auto" and torch.device(device).type == "cuda")


BYTES_PER_INPUT_NUMBER = 4
"""Inputs are fp32 tensors."""


def batch_memory_bytes(dataset: str, batch_size: int, input_size: int, autocast: bool = False) -> int:
    """A lower bound on the memory that one training step on a batch takes: ``batch_size x input_size x 4`` bytes
    of fp32 input times :data:`~advdist_lab.models.presets.ACTIVATION_FACTORS` of ``dataset`` (the bytes the
    teacher's forward pass keeps for its backward pass, per input byte), halved under bf16 autocast (activations of
    2 bytes). ``input_size``: numbers per example of ``x`` (:data:`advdist_lab.data.base.INPUT_SIZES`)."""
    check_choice("dataset", dataset, DATASETS)
    batch_size = check_positive_int("batch_size", batch_size)
    input_size = check_positive_int("input_size", input_size)
    nbytes = batch_size * input_size * BYTES_PER_INPUT_NUMBER * ACTIVATION_FACTORS[dataset]
    return nbytes // 2 if autocast else nbytes


def default_batch_size(n_train: int) -> int:
    """The original code's batch size for ``n`` training examples: 10, 50 or 100 (never more than ``n``)."""
    size = 10 if n_train <= 100 else 50 if n_train <= 1000 else 100
    return min(size, n_train)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: data, method, players' optimisation and the method's weights.

    Construction validates everything that does not depend on the method; :meth:`resolved` fills the method's
    defaults and checks what does (for example ``omega`` on the simplex for ADIM, ``omega_r`` refused for ADIB).
    """

    method: str = "adim"
    dataset: str = "digits"
    view: str = "full"
    n_train: int = 100
    subset_seed: int = 0
    epochs: int = 50
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    lr_student: float | None = None
    lr_teacher: float | None = None
    lr_discriminator: float = 1e-3
    k_d: int | None = None
    k_t: int | None = None
    k_s: int | None = None
    teacher_pretrain_epochs: int = 30
    student_pretrain_epochs: int | None = None
    discriminator_pretrain_epochs: int = 0
    omega_r: float | None = None
    omega_s: float | None = None
    omega_t: float | None = None
    nu: float = 1.0
    mu: float = 0.01
    upsilon: float = 1.0
    tau_schedule: str = "exponential"
    tau_start: float = 10.0
    tau_end: float = 0.1
    tau_factor: float = 0.88
    tau_every: int = 1
    estimator: str | None = None
    baseline: str = "mean"
    distn_temperature: float = 3.0
    distn_alpha: float = 0.5
    noisy_sigma: float = 0.1
    codis_weight: float = 1.0
    probe_gradients: bool = False
    data_file: str | None = None
    eval_every: int = 1
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.extra:
            raise ValueError(f"unknown hyperparameters: {', '.join(sorted(self.extra))}")
        check_choice("method", self.method, METHODS)
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("view", self.view, VIEWS)
        check_view(self.dataset, self.view)
        check_positive_int("n_train", self.n_train)
        self._check_data_file()
        if self.data_file is None:  # a user's file has its own size: load_data checks n_train against it
            limit = max_train_size(self.dataset)
            if self.n_train > limit:
                raise ValueError(
                    f"n_train must be <= {limit}, the size of the {self.dataset} training pool (got {self.n_train})"
                )
        classes = NUM_CLASSES[self.dataset]
        if self.n_train < classes and not self.multilabel:  # a tag set per item: no class needs its own item
            raise ValueError(
                f"n_train must be >= {classes}, the number of {self.dataset} classes, so that every class is seen "
                f"(got {self.n_train})"
            )
        check_nonnegative_int("subset_seed", self.subset_seed)
        check_epochs("epochs", self.epochs)
        check_nonnegative_int("seed", self.seed)
        check_epochs("eval_every", self.eval_every)
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (got {self.device!r})")
        check_choice("precision", self.precision, PRECISIONS)
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size)
            if self.batch_size > self.n_train:
                raise ValueError(f"batch_size must be <= n_train = {self.n_train} (got {self.batch_size})")
        for name in ("lr_student", "lr_teacher", "lr_discriminator", "distn_temperature"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_positive(name, getattr(self, name)))
        for name in ("k_d", "k_t", "k_s"):  # passes per epoch
            if getattr(self, name) is not None:
                check_iterations(name, getattr(self, name), minimum=0)
        if self.student_pretrain_epochs is not None:
            check_epochs("student_pretrain_epochs", self.student_pretrain_epochs, minimum=0)
        check_epochs("teacher_pretrain_epochs", self.teacher_pretrain_epochs, minimum=0)
        check_epochs("discriminator_pretrain_epochs", self.discriminator_pretrain_epochs, minimum=0)
        for name in ("nu", "mu", "upsilon", "noisy_sigma", "codis_weight"):
            object.__setattr__(self, name, check_nonnegative(name, getattr(self, name)))
        alpha = check_real("distn_alpha", self.distn_alpha)
        if not 0 <= alpha <= 1:
            raise ValueError(f"distn_alpha must be in [0, 1] (got {alpha!r})")
        object.__setattr__(self, "distn_alpha", alpha)
        for name in ("omega_r", "omega_s", "omega_t"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_real(name, getattr(self, name)))
        check_choice("tau_schedule", self.tau_schedule, SCHEDULE_KINDS)
        self.schedule  # validates start, end, factor, every  # noqa: B018
        if self.estimator is not None:
            check_choice("estimator", self.estimator, ESTIMATORS)
        check_choice("baseline", self.baseline, BASELINES)
        if not isinstance(self.probe_gradients, bool):
            raise ValueError(f"probe_gradients must be True or False (got {self.probe_gradients!r})")

    def _check_data_file(self) -> None:
        if self.data_file is None:
            return
        if not isinstance(self.data_file, (str, os.PathLike)):
            raise ValueError(f"data_file must be a path to an .npz file (got {self.data_file!r})")
        object.__setattr__(self, "data_file", os.fspath(self.data_file))
        if not self.multilabel:
            raise ValueError(
                f"data_file is only for the tag datasets {', '.join(TAG_DATASETS)} (got dataset {self.dataset!r})"
            )
        if not Path(self.data_file).is_file():
            raise ValueError(f"data_file must be an existing .npz file ({self.data_file!r} does not exist)")

    @property
    def multilabel(self) -> bool:
        """Image tag recommendation (TPAMI Sec. 5.2): several tags per item, ``p_r`` uniform over them."""
        return self.dataset in TAG_DATASETS

    @property
    def schedule(self) -> TemperatureSchedule:
        """The Gumbel-Softmax temperature schedule (TPAMI Eq. 10, Sec. 5), by epoch."""
        end = self.tau_start if self.tau_schedule == "constant" else self.tau_end
        return TemperatureSchedule(
            start=self.tau_start, end=end, kind=self.tau_schedule, factor=self.tau_factor, every=self.tau_every
        )

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict (a CLI namespace or a ``result.json`` config); unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        unknown = {k: v for k, v in values.items() if k not in names}
        return cls(**known, extra=unknown)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def resolved(self) -> TrainConfig:
        """The config with every ``None`` replaced by the method's default, and method-specific checks done; then
        ``n_train`` against a ``data_file`` and the batch against the device's memory (raises ``ValueError``)."""
        method = self.method
        changes: dict = {}
        if self.batch_size is None:
            changes["batch_size"] = (
                min(TAG_BATCH_SIZE, self.n_train) if self.multilabel else default_batch_size(self.n_train)
            )
        small = self.dataset in SMALL_DATASETS
        for name in ("lr_student", "lr_teacher"):
            if getattr(self, name) is None:
                changes[name] = TAG_LR if self.multilabel else SMALL_DATA_LR if small else PAPER_LR
        adversarial = method in ADVERSARIAL
        changes["k_d"] = self.k_d if self.k_d is not None else (1 if adversarial else 0)
        changes["k_t"] = (
            self.k_t if self.k_t is not None else (1 if method in ("codis", "adib", "adim", "adim-ngs") else 0)
        )
        changes["k_s"] = self.k_s if self.k_s is not None else 1
        if changes["k_s"] < 1:
            raise ValueError(f"k_s must be >= 1: every method trains the student (got {changes['k_s']})")
        if adversarial and changes["k_d"] < 1:
            raise ValueError(f"{method} trains a discriminator: k_d must be >= 1 (got {changes['k_d']})")
        if method in ("mimic", "distn", "noisy", "ngan") and changes["k_t"] > 0:
            raise ValueError(
                f"{method} does not train a teacher in its main loop: k_t must be 0 (got {changes['k_t']})"
            )
        if not adversarial and changes["k_d"] > 0:
            raise ValueError(f"{method} has no discriminator: k_d must be 0 (got {changes['k_d']})")
        if not adversarial and self.discriminator_pretrain_epochs:
            raise ValueError(
                f"{method} has no discriminator: discriminator_pretrain_epochs must be 0 "
                f"(got {self.discriminator_pretrain_epochs})"
            )
        if self.student_pretrain_epochs is None:
            pretrain = TAG_RUN_DEFAULTS["student_pretrain_epochs"] if self.multilabel else 10
            changes["student_pretrain_epochs"] = pretrain if adversarial else 0
        if method == "adim-ngs":
            if self.estimator not in (None, "score"):
                raise ValueError(
                    "adim-ngs is ADIM without the Gumbel-Softmax trick: estimator must be 'score' "
                    f"(got {self.estimator!r})"
                )
            changes["estimator"] = "score"
        elif self.estimator is None:
            changes["estimator"] = "straight_through" if adversarial else None
        if method == "adib" and self.omega_r is not None:
            raise ValueError(f"ADIB has no real-data weight: omega_r must not be set (got {self.omega_r!r})")
        kind = {"adim": "adim", "adim-ngs": "adim", "adib": "adib"}.get(method)
        values = complete_omega(kind, self.omega_r, self.omega_s, self.omega_t, method)
        changes.update(omega_r=values[0], omega_s=values[1], omega_t=values[2])
        config = dataclasses.replace(self, **changes)
        config._input_size()
        return config

    def _input_size(self) -> int:
        """Numbers per example of ``x``; with a ``data_file``, read off its headers, refusing an ``n_train`` beyond
        its training rows."""
        input_size = INPUT_SIZES[self.dataset]
        if self.data_file is not None:
            sizes = tag_file_sizes(self.data_file)
            if sizes is not None:  # None: the file is refused naming the field when it is loaded
                if self.n_train > sizes.train:
                    raise ValueError(
                        f"n_train must be <= {sizes.train}, the size of the training rows of data_file "
                        f"{self.data_file!r} (got {self.n_train})"
                    )
                input_size = sizes.d_image + sizes.d_text
        return input_size

    def check_memory(self) -> TrainConfig:
        """Refuse a batch larger than the memory of the device (:func:`batch_memory_bytes`), before any work; a
        device this machine does not have is skipped (the run refuses it). It depends on the machine, so it is
        not part of :meth:`resolved` (a config can be planned anywhere): :func:`advdist_lab.runs.training.train`
        calls it. Returns the config."""
        input_size = self._input_size()
        try:
            device = resolve_device(self.device)
        except ValueError:
            return
        autocast = bf16_autocast(self.precision, device)
        check_fits_in_memory(
            "--batch-size", batch_memory_bytes(self.dataset, self.batch_size, input_size, autocast), device
        )
        return self

    @property
    def has_teacher(self) -> bool:
        return self.method in WITH_TEACHER

    @property
    def has_discriminator(self) -> bool:
        return self.method in ADVERSARIAL
