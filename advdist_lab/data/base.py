"""The containers, constants and checks shared by every dataset of :mod:`advdist_lab.data`.

A task is a :class:`TaskData`: a labelled training subset of ``n`` examples and a fixed test split, both held as
tensors on the training device (:class:`Split`). Each split carries two views of the same examples:

* ``x``: the privileged view, seen by the teacher and the discriminator;
* ``x_student``: the view the student sees at training and at inference time.

The sizes ``n`` of the TPAMI paper (``000_...``, Sec. 5.1, Table 1) are in :data:`TABLE1_SIZES`; the training
subset of size ``n`` is a stratified sample of the training pool (:func:`stratified_subset`).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from dataclasses import dataclass

import torch

from advdist_lab.hparams import check_nonnegative_int, check_positive_int

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "synthetic", "tags-popular", "tags-random")
"""Dataset names accepted by :func:`advdist_lab.data.load_data`."""

TABLE1_SIZES: dict[str, tuple[int, ...]] = {
    "mnist": (100, 1000, 10000, 50000),
    "fashion-mnist": (100, 1000, 10000, 50000),
    "cifar10": (500, 5000, 10000, 50000),
    "digits": (100, 300, 1000),
    "synthetic": (100, 300, 1000),
}
"""Training-set sizes ``n``: MNIST and CIFAR-10 as in TPAMI Table 1 (Fashion-MNIST, a drop-in replacement of MNIST
with the same sizes, gets MNIST's); digits and synthetic for the course."""

TAG_DATASETS = ("tags-popular", "tags-random")
"""The multi-label datasets of image tag recommendation (TPAMI Sec. 5.2, :mod:`advdist_lab.data.tags`)."""

NUM_CLASSES: dict[str, int] = {
    "digits": 10,
    "mnist": 10,
    "fashion-mnist": 10,
    "cifar10": 10,
    "synthetic": 10,
    "tags-popular": 200,
    "tags-random": 200,
}
"""Number of labels: classes, or tags of the label set (200 per label set, TPAMI Sec. 5.2)."""

TRAIN_POOL_SIZES: dict[str, int] = {
    "digits": 1797 - 500,
    "mnist": 60000,
    "fashion-mnist": 60000,
    "cifar10": 50000,
    "synthetic": 20000,
    "tags-popular": 20000,
    "tags-random": 20000,
}
"""Size of the pool each training subset is drawn from (see :func:`advdist_lab.data.max_train_size`); for the tag
datasets, of the generated data (a user's ``data_file`` brings its own)."""

TEST_SIZES: dict[str, int] = {
    "digits": 500,
    "mnist": 10000,
    "fashion-mnist": 10000,
    "cifar10": 10000,
    "synthetic": 2000,
    "tags-popular": 2000,
    "tags-random": 2000,
}
"""Size of each dataset's fixed test split."""

INPUT_SIZES: dict[str, int] = {
    "digits": 1 * 8 * 8,
    "mnist": 1 * 28 * 28,
    "fashion-mnist": 1 * 28 * 28,
    "cifar10": 3 * 32 * 32,
    "synthetic": 20,
    "tags-popular": 128 + 128,
    "tags-random": 128 + 128,
}
"""Numbers per example of the privileged view ``x`` (what the teacher and the discriminator read): the image size,
the synthetic dimension, and for the tag datasets ``d_image + d_text`` of the generated data (a ``data_file``
brings its own widths)."""

DATA_ENV_VAR = "ADVDIST_LAB_DATA"


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be loaded: no local copy and the download failed (offline?) or was not allowed."""


def data_root(root: str | os.PathLike | None = None) -> pathlib.Path:
    """Where torchvision datasets live: ``root``, else ``$ADVDIST_LAB_DATA``, else ``~/.cache/advdist-lab/data``."""
    if root is not None:
        return pathlib.Path(root).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".cache" / "advdist-lab" / "data"


def check_device(device: object) -> torch.device:
    """Return ``device`` as a ``torch.device``, or raise ``ValueError`` (``"auto"`` must be resolved by the caller)."""
    try:
        resolved = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:0' (got {device!r})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be available: CUDA was requested but none is present (got {device!r})")
    return resolved


def stratified_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a stratified random sample of ``n`` examples of ``labels`` (sorted ``int64``, on ``labels``'s device).

    Class ``c`` of ``N_c`` examples in a pool of ``N`` gets its largest-remainder share of ``n * N_c / N``
    (ties broken by class), so each count is within 1 of proportional; when ``n`` is at least the number of
    classes, a class whose share rounds to 0 gets one example, taken from the class that most exceeds its share.

    Within a class the examples follow one permutation of the pool drawn from ``seed``, so the sample is
    deterministic in ``seed`` and samples of growing ``n`` are nested whenever no class count shrinks (which
    largest-remainder rounding guarantees except in rare cases of the Alabama paradox).
    """
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor (got shape {tuple(labels.shape)})")
    pool = labels.shape[0]
    n = check_positive_int("n", n)
    if n > pool:
        raise ValueError(f"n must be <= {pool}, the size of the pool (got {n})")
    seed = check_nonnegative_int("seed", seed)
    cpu_labels = labels.detach().to("cpu", torch.int64)
    classes, counts = torch.unique(cpu_labels, return_counts=True)
    quotas = [n * int(c) / pool for c in counts]
    alloc = [int(q) for q in quotas]
    remainder = n - sum(alloc)
    by_fraction = sorted(range(len(classes)), key=lambda k: (-(quotas[k] - alloc[k]), k))
    for k in by_fraction[:remainder]:
        alloc[k] += 1
    if n >= len(classes):
        for k in range(len(classes)):
            if alloc[k] == 0:
                donor = max((j for j in range(len(classes)) if alloc[j] > 1), key=lambda j: (alloc[j] - quotas[j], -j))
                alloc[donor] -= 1
                alloc[k] = 1
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(pool, generator=generator)
    ordered_labels = cpu_labels[order]
    chosen = [order[ordered_labels == c][:a] for c, a in zip(classes, alloc)]
    index = torch.sort(torch.cat(chosen)).values
    return index.to(labels.device)


@dataclass
class Split:
    """One split of a task, on one device.

    ``x`` (float32, ``(N, *input_shape)``) is the privileged view seen by the teacher and the discriminator;
    ``x_student`` (float32, ``(N, *student_shape)``) the student's view, the very same tensor object as ``x`` in
    the ``full`` view; ``y`` (int64, ``(N,)``) the labels; ``p_r`` (``(N, K)``) the true posterior
    ``p_r(y|x)`` where it is known (synthetic data), else ``None``.
    """

    x: torch.Tensor
    x_student: torch.Tensor
    y: torch.Tensor
    p_r: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = self.y.shape[0]
        for name in ("x", "x_student", "p_r"):
            value = getattr(self, name)
            if value is not None and value.shape[0] != n:
                raise ValueError(f"{name} must have one row per label: {value.shape[0]} rows for {n} labels")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: str | torch.device) -> Split:
        """This split on ``device``; ``x_student`` stays the same object as ``x`` when it was."""
        x = self.x.to(device)
        x_student = x if self.x_student is self.x else self.x_student.to(device)
        p_r = None if self.p_r is None else self.p_r.to(device)
        return Split(x=x, x_student=x_student, y=self.y.to(device), p_r=p_r)

    def subset(self, index: torch.Tensor) -> Split:
        """The examples at ``index`` (integer indices or a boolean mask); aliasing of the views is kept."""
        index = index.to(self.y.device)
        x = self.x[index]
        x_student = x if self.x_student is self.x else self.x_student[index]
        p_r = None if self.p_r is None else self.p_r[index]
        return Split(x=x, x_student=x_student, y=self.y[index], p_r=p_r)


@dataclass
class TaskData:
    """A dataset ready for training: a labelled subset of the training pool and a fixed test split.

    ``augment`` names the training-time augmentation (``"mirror"``: random horizontal flips, CIFAR-10 in TPAMI
    Sec. 5.1; ``None``: none), applied to a batch by :meth:`augment_batch`. ``bayes_accuracy`` is known for
    synthetic data only: the mean over the test split of ``max_y p_r(y|x)``, the expected accuracy of the Bayes
    classifier that sees ``x``.

    ``multilabel`` marks a task whose items carry several labels (image tag recommendation, TPAMI Sec. 5.2): then
    ``p_r`` is uniform over an item's tags, ``y`` only a placeholder (its most popular tag), and the ranking metrics
    of :func:`advdist_lab.metrics.ranking_metrics` apply. ``feature_dims = (d_image, d_text)`` says how ``x`` splits
    into the student's image features (``x[:, :d_image]``, which is ``x_student``) and the privileged text features;
    ``None`` for tasks without that structure.
    """

    name: str
    view: str
    num_classes: int
    train: Split
    test: Split
    augment: str | None = None
    bayes_accuracy: float | None = None
    multilabel: bool = False
    feature_dims: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.multilabel, bool):
            raise ValueError(f"multilabel must be True or False (got {self.multilabel!r})")
        if self.feature_dims is not None:
            dims = tuple(self.feature_dims) if isinstance(self.feature_dims, (tuple, list)) else ()
            if len(dims) != 2 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
                raise ValueError(
                    f"feature_dims must be two integers >= 1, (d_image, d_text) (got {self.feature_dims!r})"
                )
            self.feature_dims = (int(dims[0]), int(dims[1]))

    @property
    def device(self) -> torch.device:
        return self.train.x.device

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The per-example shape of ``x``, the privileged view (teacher and discriminator)."""
        return tuple(self.train.x.shape[1:])

    @property
    def student_shape(self) -> tuple[int, ...]:
        """The per-example shape of ``x_student``, the student's view."""
        return tuple(self.train.x_student.shape[1:])

    def to(self, device: str | torch.device) -> TaskData:
        """This task with both splits on ``device``."""
        return dataclasses.replace(self, train=self.train.to(device), test=self.test.to(device))

    def augment_batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A training batch after this task's augmentation (either view); ``x`` itself when there is none.

        ``"mirror"`` flips each image horizontally with probability 1/2; the coin flips come from ``generator``
        (which must live on ``x``'s device) and are drawn on the device, so nothing waits for the host. The flip is
        applied to the mean-subtracted image, as is usual: ``flip(x - m)`` differs from ``flip(x) - m`` by
        ``flip(m) - m``, which is small for the per-pixel mean ``m`` of natural images.
        """
        if self.augment is None:
            return x
        if self.augment != "mirror":
            raise ValueError(f"augment must be 'mirror' or None (got {self.augment!r})")
        flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
        flip = flip.view(-1, *([1] * (x.dim() - 1)))
        return torch.where(flip, x.flip(-1), x)

    def describe(self) -> str:
        """One line: name, view, sizes, classes and shapes."""
        return (
            f"{self.name} ({self.view} view): n_train={len(self.train)}, n_test={len(self.test)}, "
            f"{self.num_classes} classes, x {self.input_shape}, x_student {self.student_shape}, "
            f"augment={self.augment}, device={self.device}"
            + ("" if self.bayes_accuracy is None else f", Bayes accuracy {self.bayes_accuracy:.4f}")
            + ("" if not self.multilabel else ", multi-label")
            + ("" if self.feature_dims is None else f", features (image, text) {self.feature_dims}")
        )
