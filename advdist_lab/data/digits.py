"""scikit-learn's handwritten digits: 1,797 real 8x8 images of 10 classes, shipped in the package, so they work offline.

The offline stand-in for MNIST (TPAMI ``000_...``, Sec. 5.1): pixel values 0..16 are scaled to [0, 1] and
``x`` has shape ``(1, 8, 8)``. A fixed stratified test split of 500 images (``train_test_split`` with
``random_state=0``, independent of the subset seed) leaves a training pool of 1,297 images, from which the
training subset is a stratified sample. In the ``lowres`` view the student sees the 2x2 average pooling of the
image, ``(1, 4, 4)``.

The images, labels and that split are shipped as ``digits.npz`` beside this module (48 KB; the UCI "Optical
Recognition of Handwritten Digits" test set as scikit-learn's ``load_digits`` gives it), written once by
:func:`write_digits_file` from :func:`digits_from_scikit_learn`: importing scikit-learn only to read them cost
about a second of every run's start-up. The file is checked against :data:`DIGITS_SHA256` whenever it is read,
and ``tests/test_overhead.py`` checks that its arrays equal what scikit-learn gives, bit for bit, wherever
scikit-learn is installed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from advdist_lab.data.base import TEST_SIZES, DatasetUnavailableError, Split, TaskData, stratified_subset
from advdist_lab.data.views import image_student_view

DIGITS_TEST_SEED = 0
"""``random_state`` of the fixed train/test split."""

DIGITS_FILE = Path(__file__).with_name("digits.npz")
"""The shipped arrays: ``images`` (uint8 0..16, ``(1797, 8, 8)``), ``labels`` (uint8), ``pool`` (the training pool's
indices, sorted) and ``test`` (the test split's indices in ``train_test_split``'s order), both uint16."""

DIGITS_SHA256 = "a12682bab868e8c26dae26ab57b26ab6e1206139c09e4a3ff09e544deb10aa6e"
"""SHA-256 of :data:`DIGITS_FILE` (:func:`write_digits_file` writes the same bytes every time)."""

DIGITS_ARRAYS = ("images", "labels", "pool", "test")


def digits_from_scikit_learn() -> dict[str, np.ndarray]:
    """The arrays of :data:`DIGITS_FILE`, computed from scikit-learn's ``load_digits`` and ``train_test_split``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    if not np.array_equal(images, bunch.images):
        raise ValueError("scikit-learn's digits are no longer integers in 0..16: they cannot be stored as uint8")
    pool, test = train_test_split(
        np.arange(len(bunch.target)),
        test_size=TEST_SIZES["digits"],
        stratify=bunch.target,
        random_state=DIGITS_TEST_SEED,
    )
    return {
        "images": images,
        "labels": bunch.target.astype(np.uint8),
        "pool": np.sort(pool).astype(np.uint16),
        "test": test.astype(np.uint16),
    }


def write_digits_file(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as an ``.npz`` whose bytes depend on the arrays only (fixed zip dates); its SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in DIGITS_ARRAYS:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, member.getvalue())
    raw = buffer.getvalue()
    Path(path).write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def read_digits_file(path: str | os.PathLike = DIGITS_FILE) -> dict[str, np.ndarray]:
    """The arrays of the shipped file, after checking its SHA-256 (:data:`DIGITS_SHA256`)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DatasetUnavailableError(
            f"the bundled digits file {path} cannot be read ({error}): reinstall advdist-lab"
        ) from error
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGITS_SHA256:
        raise DatasetUnavailableError(
            f"the bundled digits file {path} has SHA-256 {digest}, expected {DIGITS_SHA256}: reinstall advdist-lab"
        )
    with np.load(io.BytesIO(raw), allow_pickle=False) as stored:
        return {name: stored[name] for name in DIGITS_ARRAYS}


@functools.lru_cache(maxsize=1)
def digits_raw() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images in [0, 1] of shape (1797, 1, 8, 8), labels, pool indices (sorted), test indices)`` on the CPU.

    The whole dataset and its fixed split (:data:`DIGITS_TEST_SEED`), cached per process: the digits task of
    :func:`load_digits_task` and the robust pipeline (:func:`advdist_lab.robust.data.load_robust_data`) both read
    it. Callers index it (which copies) and never modify the cached tensors.
    """
    arrays = read_digits_file()
    images = torch.from_numpy(arrays["images"].astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(arrays["labels"].astype(np.int64))
    pool = torch.from_numpy(arrays["pool"].astype(np.int64))
    return images, labels, pool, torch.from_numpy(arrays["test"].astype(np.int64))


def load_digits_task(
    n_train: int, *, view: str, device: torch.device, subset_seed: int, test_size: int | None
) -> TaskData:
    """The digits task; arguments are validated by :func:`advdist_lab.data.load_data`."""
    images, labels, pool, test = digits_raw()
    train_index = pool[stratified_subset(labels[pool], n_train, subset_seed)]
    test_index = test if test_size is None else test[:test_size]

    def split(index: torch.Tensor) -> Split:
        x = images[index].to(device)  # indexing copies: the cached tensors are never handed out
        return Split(x=x, x_student=image_student_view(x, view), y=labels[index].to(device))

    train, test_split = split(train_index), split(test_index)
    return TaskData(
        name="digits",
        view=view,
        num_classes=10,
        train=train,
        test=test_split,
    )
