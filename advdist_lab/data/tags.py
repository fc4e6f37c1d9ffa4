"""Image tag recommendation as a training task (TPAMI Sec. 5.2, KDGAN Sec. 4.2): :func:`load_tags_task`.

The second application of both papers (TPAMI ``000_...``, Sec. 5.2, Table 4; KDGAN ``003_...``, Sec. 4.2,
Table 2): recommend tags for an image right after it is uploaded. Titles and descriptions arrive later, so text is
a *privileged provision*: the teacher and the discriminator see image and text features, the student the image
features alone. The data, by what it holds:

* :mod:`advdist_lab.data.tags_generator`: YFCC-like data generated from latent topics
  (:func:`~.tags_generator.generate_tag_features`, :class:`~.tags_generator.TagGeneratorConfig`), since
  YFCC100M cannot be downloaded here;
* :mod:`advdist_lab.data.tags_features`: the :class:`~.tags_features.TagFeatures` container, its checks and the
  ``.npz`` file of a user's own features (:func:`~.tags_features.load_tag_features`,
  :func:`~.tags_features.save_tag_features`), with the arrays ``image``, ``text``, ``tags``, ``split`` and
  ``tag_names``;
* :mod:`advdist_lab.data.tags_baselines`: popularity ranking and ridge probes that measure each view
  (:func:`~.tags_baselines.probe_report`, :func:`~.tags_baselines.item_preview`).

This module turns either kind of data into the :class:`~advdist_lab.data.base.TaskData` of
:func:`advdist_lab.data.load_data` (``tags-popular``, ``tags-random``): :func:`load_tags_task`,
:data:`TAG_LABEL_SETS` and :data:`TAGS_DATA_SEED` are its names; import the others from the modules above.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from advdist_lab.data.base import Split, TaskData
from advdist_lab.data.tags_features import TagFeatures, load_tag_features
from advdist_lab.data.tags_generator import generate_tag_features
from advdist_lab.hparams import check_choice, check_nonnegative_int, check_positive_int

__all__ = ["TAGS_DATA_SEED", "TAG_LABEL_SETS", "load_tags_task"]

TAG_LABEL_SETS: dict[str, str] = {"tags-popular": "popular", "tags-random": "random"}
"""Dataset names of :func:`advdist_lab.data.load_data` and their label set."""

TAGS_DATA_SEED = 0
"""The generator seed of the ``tags-*`` datasets of :func:`advdist_lab.data.load_data`: every run sees the same data."""


def _split(features: TagFeatures, index: np.ndarray, y: np.ndarray, device: torch.device) -> Split:
    image = torch.tensor(features.image[index], dtype=torch.float32)  # copies: the cache is never handed out
    text = torch.tensor(features.text[index], dtype=torch.float32)
    tags = torch.tensor(features.tags[index], dtype=torch.float32)
    x = torch.cat([image, text], 1)
    return Split(
        x=x.to(device),
        x_student=image.to(device),
        y=torch.tensor(y[index], dtype=torch.int64).to(device),
        p_r=(tags / tags.sum(1, keepdim=True)).to(device),
    )


def load_tags_task(
    name: str,
    n_train: int,
    *,
    view: str,
    device: torch.device,
    subset_seed: int,
    test_size: int | None,
    data_file: str | os.PathLike | None = None,
) -> TaskData:
    """A tag recommendation task (TPAMI Sec. 5.2) for :func:`advdist_lab.data.load_data`.

    The data: :func:`generate_tag_features` with seed :data:`TAGS_DATA_SEED` and the default sizes, or the file
    ``data_file`` (:func:`load_tag_features`). The training subset: ``n_train`` items of the training rows chosen
    at random by ``subset_seed`` (not stratified: items have several tags), in row order; the test split: the first
    ``test_size`` test rows (all when ``None``). ``x = [image, text]`` (privileged: teacher and discriminator),
    ``x_student = image``, ``p_r`` uniform over the item's tags, ``y`` the item's most popular tag (a placeholder
    where one label is needed, :meth:`TagFeatures.primary_label`). ``n_train`` and ``test_size`` are checked
    against the pool here, since a file's sizes are known only once it is read.
    """
    label_set = check_choice("dataset", name, tuple(TAG_LABEL_SETS))
    label_set = TAG_LABEL_SETS[label_set]
    if view != "full":
        raise ValueError(
            f"view must be 'full' for {name}: the student always sees the image features and the teacher image "
            f"and text (got {view!r})"
        )
    n_train = check_positive_int("n_train", n_train)
    subset_seed = check_nonnegative_int("subset_seed", subset_seed)
    if data_file is None:
        features = generate_tag_features(label_set, seed=TAGS_DATA_SEED)
        source = f"the {name} training pool"
    else:
        features = load_tag_features(data_file)
        source = f"the training rows of data_file {str(data_file)!r}"
    pool, test = features.train_index, features.test_index
    if n_train > len(pool):
        raise ValueError(f"n_train must be <= {len(pool)}, the size of {source} (got {n_train})")
    if test_size is not None:
        test_size = check_positive_int("test_size", test_size)
        if test_size > len(test):
            raise ValueError(f"test_size must be <= {len(test)}, the number of test items of {name} (got {test_size})")
        test = test[:test_size]
    generator = torch.Generator().manual_seed(subset_seed)
    chosen = torch.randperm(len(pool), generator=generator)[:n_train].numpy()
    train = pool[np.sort(chosen)]
    y = features.primary_label()
    return TaskData(
        name=name,
        view=view,
        num_classes=features.num_labels,
        train=_split(features, train, y, device),
        test=_split(features, test, y, device),
        multilabel=True,
        feature_dims=features.feature_dims,
    )
