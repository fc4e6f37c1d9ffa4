"""Datasets for adversarial distillation, held as tensors on the training device.

:func:`load_data` returns a :class:`TaskData`: a stratified training subset of ``n`` examples (the sizes ``n`` of
TPAMI ``000_...``, Sec. 5.1, Table 1, are in :data:`TABLE1_SIZES`) and a fixed test split. Datasets:

* ``digits``: scikit-learn's 1,797 real 8x8 digits, bundled, the offline default (:mod:`.digits`);
* ``mnist``, ``fashion-mnist``, ``cifar10``: through torchvision, preprocessed as in TPAMI Sec. 5.1
  (:mod:`.torchvision_sets`; Fashion-MNIST, not in the papers, as MNIST). MNIST and Fashion-MNIST are fetched
  without the internet by ``advdist-lab data fetch`` (:func:`.fetch.fetch`) and checked against the sizes,
  SHA-256 checksums and class counts recorded in :mod:`.idx_files` every time a split is loaded;
* ``synthetic``: a Gaussian mixture whose true posterior ``p_r(y|x)`` is known (:mod:`.synthetic`);
* ``tags-popular``, ``tags-random``: image tag recommendation with privileged text (TPAMI Sec. 5.2, KDGAN Sec. 4.2),
  multi-label, YFCC-like generated data or a user's ``.npz`` file of features (:mod:`.tags`). The training subset
  is a random (not stratified) sample; ``x`` is ``[image, text]``, ``x_student`` the image features, ``p_r``
  uniform over each item's tags; only the ``full`` view exists.

Views (:data:`VIEWS`) say what the student sees, ``x_student``, while the teacher and the discriminator see ``x``:

* ``full``: ``x_student`` is ``x`` (the same tensor). Model compression: the privilege is the teacher's capacity.
* ``lowres``: learning with privileged information, the privilege is extra input. Images: the student sees the
  2x2 average pooling of ``x`` (8 -> 4, 28 -> 14, 32 -> 16 pixels). Synthetic: the first ``d // 2`` features.
* ``lowres4`` (images only): the 4x4 average pooling of ``x`` (8 -> 2, 28 -> 7, 32 -> 8 pixels).
* ``crop`` (images only): the top half of ``x``, the default of the privileged table (:mod:`.views` says why).

:func:`.views.check_view` refuses a view that the dataset lacks (``synthetic`` has ``full`` and ``lowres``, the tag
datasets ``full`` only).

Every argument is checked before anything is loaded or downloaded; a bad one raises ``ValueError`` naming the
constraint. torchvision and scikit-learn are imported only when a dataset needs them.
"""

from __future__ import annotations

import os

import torch

from advdist_lab.data.base import (
    DATA_ENV_VAR,
    DATASETS,
    INPUT_SIZES,
    NUM_CLASSES,
    TABLE1_SIZES,
    TAG_DATASETS,
    TEST_SIZES,
    TRAIN_POOL_SIZES,
    DatasetUnavailableError,
    Split,
    TaskData,
    check_device,
    data_root,
    stratified_subset,
)
from advdist_lab.data.digits import load_digits_task
from advdist_lab.data.fetch import FetchError
from advdist_lab.data.idx_files import FETCHABLE, DataFileError
from advdist_lab.data.synthetic import load_synthetic_task
from advdist_lab.data.tags import load_tags_task
from advdist_lab.data.torchvision_sets import load_torchvision_task
from advdist_lab.data.views import VIEWS, check_view
from advdist_lab.hparams import check_choice, check_nonnegative_int, check_positive_int

__all__ = [
    "DATASETS",
    "DATA_ENV_VAR",
    "FETCHABLE",
    "INPUT_SIZES",
    "NUM_CLASSES",
    "TABLE1_SIZES",
    "TAG_DATASETS",
    "TEST_SIZES",
    "VIEWS",
    "DataFileError",
    "DatasetUnavailableError",
    "FetchError",
    "Split",
    "TaskData",
    "data_root",
    "load_data",
    "max_train_size",
    "stratified_subset",
]


def max_train_size(name: str) -> int:
    """The size of ``name``'s training pool, the largest ``n_train``: digits 1,297 (1,797 minus the 500 test
    images), MNIST and Fashion-MNIST 60,000, CIFAR-10 50,000, synthetic 20,000, tags-popular and tags-random 20,000
    (the generated data; a ``data_file`` brings its own size, checked by :func:`load_data`)."""
    return TRAIN_POOL_SIZES[check_choice("dataset", name, DATASETS)]


def load_data(
    name: str,
    n_train: int,
    *,
    view: str = "full",
    device: str | torch.device = "cpu",
    subset_seed: int = 0,
    root: str | os.PathLike | None = None,
    download: bool = True,
    test_size: int | None = None,
    data_file: str | os.PathLike | None = None,
) -> TaskData:
    """Load dataset ``name`` with a stratified training subset of ``n_train`` examples, on ``device``.

    ``subset_seed`` picks the subset (the test split never changes); ``test_size`` keeps the first
    ``test_size`` test examples (all when ``None``); ``root`` and ``download`` concern MNIST, Fashion-MNIST and
    CIFAR-10 only (see :func:`data_root`). ``device`` must be concrete ("cpu", "cuda", "cuda:0"; resolve "auto" first).

    Tag datasets (``tags-popular``, ``tags-random``, :func:`advdist_lab.data.tags.load_tags_task`): the subset is
    random, not stratified, so ``n_train`` may be below the number of tags; ``view`` must be ``full``;
    ``data_file`` (an ``.npz`` in the format of :mod:`advdist_lab.data.tags`) replaces the generated data, and
    then ``n_train`` and ``test_size`` are checked against the file's training and test rows. ``data_file`` is
    refused for the other datasets.

    Raises ``ValueError`` for a bad argument, before anything is loaded, and :class:`DatasetUnavailableError`
    when MNIST, Fashion-MNIST or CIFAR-10 is neither present nor downloadable (its subclass
    :class:`DataFileError` when an MNIST or Fashion-MNIST file is there but missing a sibling or damaged).
    """
    name = check_choice("dataset", name, DATASETS)
    view = check_choice("view", view, VIEWS)
    n_train = check_positive_int("n_train", n_train)
    multilabel = name in TAG_DATASETS
    if data_file is not None and not multilabel:
        raise ValueError(
            f"data_file is accepted only for the datasets {', '.join(TAG_DATASETS)} (got dataset {name!r})"
        )
    if multilabel and view != "full":
        raise ValueError(
            f"view must be 'full' for {name}: the student sees the image features, the teacher image and text "
            f"(got {view!r})"
        )
    check_view(name, view)  # the synthetic task has 'full' and 'lowres' only
    pool, classes = TRAIN_POOL_SIZES[name], NUM_CLASSES[name]
    if n_train > pool and data_file is None:
        raise ValueError(f"n_train must be <= {pool}, the size of the {name} training pool (got {n_train})")
    if n_train < classes and not multilabel:
        raise ValueError(
            f"n_train must be >= {classes}, the number of {name} classes, so that every class is seen (got {n_train})"
        )
    subset_seed = check_nonnegative_int("subset_seed", subset_seed)
    if data_file is not None:
        if not isinstance(data_file, (str, os.PathLike)):
            raise ValueError(f"data_file must be a path to an .npz file (got {data_file!r})")
        if test_size is not None:
            test_size = check_positive_int("test_size", test_size)  # its upper bound is the file's test rows
    elif test_size is not None:
        test_size = check_positive_int("test_size", test_size)
        if test_size > TEST_SIZES[name]:
            raise ValueError(
                f"test_size must be <= {TEST_SIZES[name]}, the size of the {name} test split (got {test_size})"
            )
    device = check_device(device)
    common = {"view": view, "device": device, "subset_seed": subset_seed, "test_size": test_size}
    if name == "digits":
        return load_digits_task(n_train, **common)
    if name == "synthetic":
        return load_synthetic_task(n_train, **common)
    if multilabel:
        return load_tags_task(name, n_train, data_file=data_file, **common)
    return load_torchvision_task(name, n_train, root=str(data_root(root)), download=bool(download), **common)
