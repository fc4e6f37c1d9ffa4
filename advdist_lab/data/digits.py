"""scikit-learn's handwritten digits: 1,797 real 8x8 images of 10 classes, bundled, so they work offline.

The offline stand-in for MNIST (TPAMI ``000_...``, Sec. 5.1): pixel values 0..16 are scaled to [0, 1] and
``x`` has shape ``(1, 8, 8)``. A fixed stratified test split of 500 images (``train_test_split`` with
``random_state=0``, independent of the subset seed) leaves a training pool of 1,297 images, from which the
training subset is a stratified sample. In the ``lowres`` view the student sees the 2x2 average pooling of the
image, ``(1, 4, 4)``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from advdist_lab.data.base import TEST_SIZES, Split, TaskData, stratified_subset
from advdist_lab.data.views import image_student_view

DIGITS_TEST_SEED = 0
"""``random_state`` of the fixed train/test split."""


@functools.lru_cache(maxsize=1)
def digits_raw() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images in [0, 1] of shape (1797, 1, 8, 8), labels, pool indices (sorted), test indices)`` on the CPU.

    The whole dataset and its fixed split (:data:`DIGITS_TEST_SEED`), cached per process: the digits task of
    :func:`load_digits_task` and the robust pipeline (:func:`advdist_lab.robust.data.load_robust_data`) both read
    it. Callers index it (which copies) and never modify the cached tensors.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    pool, test = train_test_split(
        np.arange(len(labels)), test_size=TEST_SIZES["digits"], stratify=bunch.target, random_state=DIGITS_TEST_SEED
    )
    return images, labels, torch.from_numpy(np.sort(pool)), torch.from_numpy(test)


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
