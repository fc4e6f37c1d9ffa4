"""The validation split of data-free robust distillation (DFARD, DERD), and the one evaluation of a student.

DFARD "select[s] and report[s] the best checkpoint of all methods among all epochs ... based on the adversarial
robustness performance against PGD_T attack" (``001_...``, "Baselines"); the TPAMI paper and KDGAN tune "based on
validation performance". Picking the epoch on the test images and then reporting the test accuracy of that epoch
reports a selected number (the maximum of noisy estimates). Here the epoch is picked on a **validation split**
and the test split is read once, by the final evaluation of the chosen student:

* :func:`validation_indices`: ``val_size`` images **held out from the training split**, a stratified sample
  (:func:`advdist_lab.data.base.stratified_subset`) drawn from the run's ``seed`` through a stream of its own
  (:data:`VALIDATION_STREAM`), so the split is deterministic in ``(dataset, val_size, seed)`` and does not
  coincide with a teacher's ``n_train`` subset drawn with ``subset_seed = seed``. The training and test splits
  are disjoint (:func:`advdist_lab.robust.data.load_robust_data`), so the validation images are never test images.
  This is legitimate validation data because the method is **data-free**: the generator and the student never
  read a real image, only the teacher does. The teacher, trained beforehand on the training split
  (``robust-teacher`` uses all of it unless ``--n-train`` says otherwise), may well have seen these images: the
  student's validation accuracy is a yardstick for comparing its epochs, not an estimate of its test accuracy.
* :data:`VAL_SIZES`: the default ``val_size`` per dataset. Digits: 500 of the 1,297 training digits, as many as
  the 500 test images the per-epoch evaluation read before (the same cost per epoch; the standard error of an
  accuracy near 80% on 500 images is 1.8 points). CIFAR-10: 5,000 of the 50,000 training images (the usual
  45,000 / 5,000 split; 0.7 points at 50%), half the 10,000 test images evaluated each epoch before.
* :func:`check_val_size`: ``ValueError`` naming the bound when ``val_size`` exceeds the training split.
* :func:`evaluate_student`: a student's accuracies on given images under given attacks (the per-epoch one on the
  validation images, the final one on the test images); :func:`validation_keys` names the history's keys of the
  validation accuracies (``val_clean``, ``val_pgd_t``, ...: :data:`VALIDATION_PREFIX` + the attack).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from advdist_lab.data.base import stratified_subset
from advdist_lab.hparams import check_choice, check_nonnegative_int, check_positive_int
from advdist_lab.robust.attacks.protocol import AttackProtocol, robust_accuracy
from advdist_lab.robust.data import ROBUST_DATASETS, TRAIN_SPLIT_SIZES, RobustData

__all__ = [
    "VALIDATION_PREFIX",
    "VALIDATION_STREAM",
    "VAL_SIZES",
    "check_val_size",
    "evaluate_student",
    "validation_indices",
    "validation_keys",
    "validation_split",
]

VAL_SIZES = {"digits": 500, "cifar10": 5_000, "cifar10-random": 5_000}
"""The default ``val_size`` of each dataset (module docstring: why these)."""

VALIDATION_STREAM = 0x7A11D
"""The stream of :class:`numpy.random.SeedSequence` ``(seed, VALIDATION_STREAM)`` that draws the validation split."""

VALIDATION_PREFIX = "val_"
"""The prefix of the history's validation accuracies: ``val_clean``, ``val_pgd_t``..."""


def check_val_size(dataset: str, val_size: object) -> int:
    """``val_size`` as an int, or ``ValueError`` naming the constraint: at least 1 and at most the training split of
    ``dataset`` (:data:`advdist_lab.robust.data.TRAIN_SPLIT_SIZES`), from which it is held out."""
    check_choice("dataset", dataset, ROBUST_DATASETS)
    value = check_positive_int("val_size", val_size)
    split = TRAIN_SPLIT_SIZES[dataset]
    if value > split:
        raise ValueError(
            f"val_size must be <= {split:,}, the training split of {dataset} that the validation images are held out "
            f"from (got {value:,})"
        )
    return value


def validation_indices(labels: torch.Tensor, val_size: int, seed: int) -> torch.Tensor:
    """The indices (sorted, into ``labels``, the training split's labels) of the validation split: a stratified
    sample of ``val_size`` drawn from ``seed`` through :data:`VALIDATION_STREAM` (module docstring)."""
    seed = check_nonnegative_int("seed", seed)
    state = np.random.SeedSequence([seed, VALIDATION_STREAM]).generate_state(1)[0]
    return stratified_subset(labels, check_positive_int("val_size", val_size), int(state) % 2**31)


def validation_split(data: RobustData, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of the validation split of ``data``'s training split (:func:`validation_indices`)."""
    check_val_size(data.name, val_size)
    if val_size > len(data.y_train):
        raise ValueError(f"val_size must be <= {len(data.y_train)}, the training images loaded (got {val_size})")
    index = validation_indices(data.y_train, val_size, seed).to(data.y_train.device)
    return data.x_train[index], data.y_train[index]


def validation_keys(names: Iterable[str]) -> tuple[str, ...]:
    """The history keys of the validation accuracies ``names`` (``clean``, attacks, ``average``)."""
    return tuple(VALIDATION_PREFIX + name for name in names)


def evaluate_student(
    student: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    dataset: str,
    attacks: tuple[str, ...],
    size: int | None,
    seed: int,
    progress: bool,
) -> dict[str, float]:
    """The accuracies of ``student`` on the first ``size`` (``None``: all) of ``images``: ``clean`` alone when
    ``attacks`` is empty, else :func:`~advdist_lab.robust.attacks.protocol.robust_accuracy` under ``dataset``'s
    protocol (``clean``, each attack, ``average``). The student's train/eval mode is restored."""
    n = len(labels) if size is None else min(check_positive_int("size", size), len(labels))
    if attacks:
        protocol = AttackProtocol.for_dataset(dataset, attacks)
        result = robust_accuracy(
            student, images[:n], labels[:n], protocol, seed=seed, batch_size=512, progress=progress
        )
    else:
        with torch.no_grad():
            was = student.training
            student.eval()
            clean = float((student(images[:n]).argmax(1) == labels[:n]).float().mean())
            student.train(was)
        result = {"clean": clean}
    return {k: float(v) for k, v in result.items()}
