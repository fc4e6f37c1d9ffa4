"""Images in ``[0, 1]`` for robust training and evaluation (DFARD ``001_...``, DERD ``002_...``).

The attacks of :mod:`advdist_lab.robust.attacks.gradient` work on inputs in ``[0, 1]`` with the normalisation inside the
model, so the robust pipeline reads its data raw, not through :func:`advdist_lab.data.load_data` (whose CIFAR-10
is mean-subtracted for TPAMI Sec. 5.1). :func:`load_robust_data` returns a :class:`RobustData`:

* ``digits``: scikit-learn's 1,797 8x8 digits (bundled, offline), the same fixed test split as the rest of the
  course (500 test images); the training pool is the other 1,297.
* ``cifar10``: torchvision's CIFAR-10 (50,000 / 10,000), downloaded once where a network exists; offline it fails
  with :class:`advdist_lab.data.DatasetUnavailableError` naming the digits fallback.
* ``cifar10-random``: CIFAR-10-shaped uniform noise with random labels (seeded): for throughput benchmarks and
  tests where the real data cannot be had. Nothing can be learnt from it.

Data-free distillation never reads ``x_train``: only the teacher's training (``advdist-lab robust-teacher``) and
the evaluation on ``x_test`` do. ``mean`` and ``std`` are the per-channel statistics that
:class:`advdist_lab.robust.attacks.gradient.Normalized` puts inside the models (CIFAR-10's usual ones; 0.5 / 0.5 for
digits and noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advdist_lab.data.base import TEST_SIZES, TRAIN_POOL_SIZES, check_device, data_root, stratified_subset
from advdist_lab.hparams import check_choice, check_nonnegative_int, check_positive_int

__all__ = [
    "ROBUST_DATASETS",
    "TEST_SPLIT_SIZES",
    "TRAIN_SPLIT_SIZES",
    "RobustData",
    "dataset_stats",
    "load_robust_data",
]

ROBUST_DATASETS = ("digits", "cifar10", "cifar10-random")

_STATS = {
    "digits": ((0.5,), (0.5,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar10-random": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
_RANDOM_SIZES = (50_000, 10_000)

TRAIN_SPLIT_SIZES = {
    "digits": TRAIN_POOL_SIZES["digits"],
    "cifar10": TRAIN_POOL_SIZES["cifar10"],
    "cifar10-random": _RANDOM_SIZES[0],
}
"""The training images :func:`load_robust_data` returns for each dataset when ``n_train`` is not given."""

TEST_SPLIT_SIZES = {
    "digits": TEST_SIZES["digits"],
    "cifar10": TEST_SIZES["cifar10"],
    "cifar10-random": _RANDOM_SIZES[1],
}
"""The test images :func:`load_robust_data` returns for each dataset (``test_size=None``), known without loading:
the bound of an evaluation size."""
_IMAGE_SHAPES = {"digits": (1, 8, 8), "cifar10": (3, 32, 32), "cifar10-random": (3, 32, 32)}
_NUM_CLASSES = 10


def dataset_stats(dataset: str) -> tuple[tuple[float, ...], tuple[float, ...], tuple[int, int, int], int]:
    """``(mean, std, image_shape, num_classes)`` of ``dataset`` without loading it (for a foreign checkpoint)."""
    check_choice("dataset", dataset, ROBUST_DATASETS)
    mean, std = _STATS[dataset]
    return mean, std, _IMAGE_SHAPES[dataset], _NUM_CLASSES


@dataclass
class RobustData:
    """Train and test images in ``[0, 1]`` (NCHW float32) with int64 labels, and the normalisation statistics."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_test.shape[1:])  # type: ignore[return-value]


def load_robust_data(
    dataset: str = "digits",
    *,
    n_train: int | None = None,
    test_size: int | None = None,
    device: str | torch.device = "cpu",
    subset_seed: int = 0,
    root: str | None = None,
    download: bool = True,
) -> RobustData:
    """Load ``dataset`` (one of :data:`ROBUST_DATASETS`) in ``[0, 1]`` on ``device``.

    ``n_train``: a stratified subset of that many training images (``None``: all); ``test_size``: the first that
    many test images of the fixed split (``None``: all). Bad arguments raise ``ValueError`` before loading.
    """
    check_choice("dataset", dataset, ROBUST_DATASETS)
    device = check_device(device)
    subset_seed = check_nonnegative_int("subset_seed", subset_seed)
    if n_train is not None:
        n_train = check_positive_int("n_train", n_train)
    if test_size is not None:
        test_size = check_positive_int("test_size", test_size)
    if dataset == "digits":
        from advdist_lab.data.digits import digits_raw

        images, labels, pool, test = digits_raw()
        x_train, y_train, x_test, y_test = images[pool], labels[pool], images[test], labels[test]
    elif dataset == "cifar10":
        x_train, y_train, x_test, y_test = _cifar10(root, download)
    else:
        # one generator per tensor: the test split does not depend on n_train, and test_size takes a prefix of it
        n_tr, n_te = _RANDOM_SIZES
        if n_train is not None:
            n_tr = n_train
        if test_size is not None:
            n_te = test_size
        x_train = torch.rand((n_tr, 3, 32, 32), generator=_random_stream(subset_seed, 0))
        y_train = torch.randint(0, 10, (n_tr,), generator=_random_stream(subset_seed, 1))
        x_test = torch.rand((n_te, 3, 32, 32), generator=_random_stream(subset_seed, 2))
        y_test = torch.randint(0, 10, (n_te,), generator=_random_stream(subset_seed, 3))
    if n_train is not None and dataset != "cifar10-random":
        if n_train > len(y_train):
            raise ValueError(f"n_train must be <= {len(y_train)} for {dataset} (got {n_train})")
        index = stratified_subset(y_train, n_train, subset_seed)
        x_train, y_train = x_train[index], y_train[index]
    if test_size is not None:
        if test_size > len(y_test):
            raise ValueError(f"test_size must be <= {len(y_test)} for {dataset} (got {test_size})")
        x_test, y_test = x_test[:test_size], y_test[:test_size]
    mean, std = _STATS[dataset]
    return RobustData(
        name=dataset,
        x_train=x_train.to(device),
        y_train=y_train.to(device),
        x_test=x_test.to(device),
        y_test=y_test.to(device),
        num_classes=_NUM_CLASSES,
        mean=mean,
        std=std,
    )


def _random_stream(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(4 * seed + stream)


def _cifar10(root: str | None, download: bool) -> tuple[torch.Tensor, ...]:
    from advdist_lab.data.torchvision_sets import cifar_to_float, torchvision_raw

    folder = str(data_root(root))
    train_images, train_labels = torchvision_raw("cifar10", folder, True, download)
    test_images, test_labels = torchvision_raw("cifar10", folder, False, download)
    return (
        cifar_to_float(train_images),
        torch.from_numpy(train_labels),
        cifar_to_float(test_images),
        torch.from_numpy(test_labels),
    )
