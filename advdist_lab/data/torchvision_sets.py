"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, preprocessed as in TPAMI (``000_...``) Sec. 5.1.

* MNIST: the training pool is the official 60,000 training images (the paper's Table 1 uses at most 50,000 of
  them), the test split the official 10,000. "We do not preprocess the images on MNIST": ``x`` is the image in
  [0, 1], shape ``(1, 28, 28)``.
* Fashion-MNIST (not in the papers): a drop-in replacement of MNIST, 60,000 / 10,000 greyscale 28x28 images of 10
  kinds of clothing, preprocessed as MNIST (none: ``x`` in [0, 1]).
* CIFAR-10: pool of 50,000 training images, 10,000 test images, ``x`` of shape ``(3, 32, 32)``. "We preprocess
  the images by subtracting per-pixel mean and augment the training dataset by mirrored images": the per-pixel
  mean image of the selected training subset is subtracted from train and test, and ``augment = "mirror"``.

In the ``lowres`` view the student sees the 2x2 average pooling of ``x`` (28 -> 14, 32 -> 16 pixels).

MNIST and Fashion-MNIST can be had offline with ``advdist-lab data fetch`` (:mod:`advdist_lab.data.fetch`). When
their files are present, each split is checked against its record before torchvision reads it (size, header, class
counts, SHA-256; :func:`advdist_lab.data.idx_files.check_split`): a missing or damaged file raises
:class:`~advdist_lab.data.idx_files.DataFileError`, one line naming the file, what is wrong and the command that
fixes it. When none is present, torchvision downloads them if ``download`` allows it.

torchvision is imported only when one of these datasets is loaded. Offline, or when ``download=False`` and no
copy is present, loading raises :class:`DatasetUnavailableError` naming ``advdist-lab data fetch`` (MNIST,
Fashion-MNIST) and the digits fallback, with no urllib traceback attached. The raw uint8 arrays are cached per
process, so loading several sizes ``n`` is cheap.
"""

from __future__ import annotations

import functools
import pickle
import tarfile

import numpy as np
import torch

from advdist_lab.data.base import DatasetUnavailableError, Split, TaskData, stratified_subset
from advdist_lab.data.idx_files import FETCHABLE, IDX_SIZES, check_split, fetch_command, raw_folder
from advdist_lab.data.views import image_student_view

_DISPLAY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
"""The torchvision dataset class of each name."""
_LOAD_ERRORS = (RuntimeError, OSError, EOFError, ValueError, tarfile.TarError, pickle.UnpicklingError)
"""What torchvision raises when a download fails (urllib's errors are ``OSError``) or a file is missing or broken."""


def _unavailable(name: str, root: str, download: bool, reason: str) -> DatasetUnavailableError:
    display = _DISPLAY[name]
    fetch = f"Fetch it without the internet with `{fetch_command(name, root)}`, or use" if name in FETCHABLE else "Use"
    fallback = (
        f"{fetch} --dataset digits (the offline default, bundled with scikit-learn), "
        f"or place the torchvision {display} files under {root}"
    )
    if download:
        return DatasetUnavailableError(
            f"{display} is not available: it could not be downloaded to {root} (no network?) and no copy was found "
            f"there. {fallback}. ({reason})"
        )
    return DatasetUnavailableError(
        f"{display} is not available: no copy was found under {root} and download=False. "
        f"{fallback}, or allow the download. ({reason})"
    )


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


@functools.lru_cache(maxsize=4)
def torchvision_raw(name: str, root: str, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """The raw ``(uint8 images, int64 labels)`` of one official split: (Fashion-)MNIST ``(N, 28, 28)``, CIFAR-10
    NHWC.

    ``name`` is ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``, ``root`` the data folder, ``train`` the split,
    ``download`` whether torchvision may fetch a missing copy (never over a copy that is there: a damaged MNIST or
    Fashion-MNIST file raises :class:`~advdist_lab.data.idx_files.DataFileError`). Cached per process (the arrays
    must not be modified); raises :class:`DatasetUnavailableError` naming ``advdist-lab data fetch`` and the digits
    fallback when torchvision or the files cannot be had. Read by :func:`load_torchvision_task` and by the robust
    pipeline's CIFAR-10 (:mod:`advdist_lab.robust.data`).
    """
    try:
        from torchvision import datasets
    except (ImportError, RuntimeError) as exc:  # CUDA torchvision wheels fail to import with a CPU-only torch
        raise DatasetUnavailableError(
            f"{_DISPLAY[name]} needs torchvision, which could not be imported ({_reason(exc)}). "
            "Use --dataset digits (the offline default, bundled with scikit-learn)."
        ) from None
    cls = getattr(datasets, _CLASSES[name])
    if name in FETCHABLE and any((raw_folder(name, root) / f).exists() for f in IDX_SIZES):
        check_split(name, root, train)  # a copy is there: it must be whole, never downloaded over (one line if not)
    try:
        dataset = cls(root, train=train, download=download)
    except _LOAD_ERRORS as exc:
        raise _unavailable(name, root, download, _reason(exc)) from None
    images = dataset.data.numpy() if isinstance(dataset.data, torch.Tensor) else np.asarray(dataset.data)
    labels = np.asarray(dataset.targets, dtype=np.int64)
    return images, labels


def _uint8(images: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, as torchvision stores them (got {images.dtype})")
    return images.to(device)


def prepare_mnist(images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """MNIST uint8 images ``(N, 28, 28)`` as float32 ``(N, 1, 28, 28)`` in [0, 1] on ``device``, in one go."""
    images = _uint8(images, device)
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def cifar_to_float(images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """CIFAR uint8 NHWC images as float32 NCHW in [0, 1] on ``device`` (converted on the device)."""
    images = _uint8(images, device)
    return images.permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()


def prepare_cifar(
    train_images: np.ndarray | torch.Tensor, test_images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pixel mean subtraction (TPAMI Sec. 5.1): ``(x_train, x_test, mean)``, float32 NCHW on ``device``.

    ``mean`` (shape ``(1, 3, 32, 32)``) is the per-pixel mean of ``train_images``, the selected training subset
    (uint8 NHWC); it is subtracted from both splits.
    """
    x_train = cifar_to_float(train_images, device)
    x_test = cifar_to_float(test_images, device)
    mean = x_train.mean(dim=0, keepdim=True)
    return x_train.sub_(mean), x_test.sub_(mean), mean


def load_torchvision_task(
    name: str,
    n_train: int,
    *,
    view: str,
    device: torch.device,
    subset_seed: int,
    test_size: int | None,
    root: str,
    download: bool,
) -> TaskData:
    """The MNIST, Fashion-MNIST or CIFAR-10 task; arguments are validated by :func:`advdist_lab.data.load_data`."""
    pool_images, pool_labels = torchvision_raw(name, root, True, download)
    test_images, test_labels = torchvision_raw(name, root, False, download)
    train_index = stratified_subset(torch.from_numpy(pool_labels), n_train, subset_seed).numpy()
    if test_size is not None:
        test_images, test_labels = test_images[:test_size], test_labels[:test_size]
    train_images = pool_images[train_index]
    if name in FETCHABLE:  # MNIST and Fashion-MNIST: no preprocessing
        x_train, x_test = prepare_mnist(train_images, device), prepare_mnist(test_images, device)
    else:
        x_train, x_test, _ = prepare_cifar(train_images, test_images, device)

    def split(x: torch.Tensor, y: np.ndarray) -> Split:
        return Split(x=x, x_student=image_student_view(x, view), y=torch.from_numpy(y.copy()).to(device))

    train, test = split(x_train, pool_labels[train_index]), split(x_test, test_labels)
    return TaskData(
        name=name,
        view=view,
        num_classes=10,
        train=train,
        test=test,
        augment="mirror" if name == "cifar10" else None,
    )
