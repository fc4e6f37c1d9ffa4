"""Tag recommendation data as arrays: the :class:`TagFeatures` container, its checks and its ``.npz`` file format.

The data of TPAMI Sec. 5.2 (KDGAN Sec. 4.2), one row per item, whether generated
(:mod:`advdist_lab.data.tags_generator`) or a user's own features read from a file.

File format (:func:`load_tag_features`, :func:`save_tag_features`)
------------------------------------------------------------------

An ``.npz`` archive (``numpy.savez``) with one row per item:

* ``image``: ``(N, d_image)`` real numbers, finite: the features the student sees (e.g. VGG features);
* ``text``: ``(N, d_text)`` real numbers, finite: the privileged text features (titles, descriptions);
* ``tags``: ``(N, L)`` multi-hot, values 0 or 1 only, every row with at least one 1: the item's tags among the
  ``L`` labels;
* ``split`` (optional): ``(N,)`` with 0 = training, 1 = test, at least one of each; when absent, a deterministic
  random 90/10 split drawn from ``split_seed``;
* ``tag_names`` (optional): ``(L,)`` strings, the names of the label columns.

No other array is allowed (a misspelt name would otherwise be ignored silently). Every malformed file raises one
``ValueError`` naming the field. For training (:func:`advdist_lab.data.tags.load_tags_task`), ``x = [image, text]``
is the privileged view (teacher and discriminator), ``x_student = image``, and ``p_r(y|x)`` is uniform over the
item's tags, as in TPAMI Sec. 5.2.
"""

from __future__ import annotations

import io
import os
import pathlib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from advdist_lab.files import atomic_write_bytes
from advdist_lab.hparams import check_int_at_least, check_nonnegative_int, check_positive

FILE_TEST_FRACTION = 0.1
"""The test fraction of the split drawn for a file without ``split``."""

FILE_FIELDS = ("image", "text", "tags", "split", "tag_names")
"""The arrays an ``.npz`` tag file may hold; the first three are required."""


@dataclass(frozen=True, eq=False)
class TagFeatures:
    """Tag recommendation data, one row per item (the file format of the module docstring).

    ``image`` float32 ``(N, d_image)``, ``text`` float32 ``(N, d_text)``, ``tags`` uint8 ``(N, L)`` multi-hot with
    at least one tag per row, ``split`` int8 ``(N,)`` (0 = training, 1 = test, at least one of each), ``tag_names``
    the ``L`` column names. Built through :func:`check_tag_arrays`, so a ``TagFeatures`` is always well formed.
    """

    image: np.ndarray
    text: np.ndarray
    tags: np.ndarray
    split: np.ndarray
    tag_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        checked = check_tag_arrays(
            {"image": self.image, "text": self.text, "tags": self.tags, "split": self.split}
            | ({"tag_names": np.asarray(self.tag_names, dtype=str)} if self.tag_names else {}),
            require_split=True,
        )
        for name in ("image", "text", "tags", "split"):
            object.__setattr__(self, name, checked[name])
        object.__setattr__(self, "tag_names", checked["tag_names"])

    @property
    def num_labels(self) -> int:
        return int(self.tags.shape[1])

    @property
    def feature_dims(self) -> tuple[int, int]:
        """``(d_image, d_text)``."""
        return int(self.image.shape[1]), int(self.text.shape[1])

    @property
    def train_index(self) -> np.ndarray:
        """Row indices of the training items, in file order."""
        return np.flatnonzero(self.split == 0)

    @property
    def test_index(self) -> np.ndarray:
        """Row indices of the test items, in file order."""
        return np.flatnonzero(self.split == 1)

    def tag_frequency(self) -> np.ndarray:
        """How many training items carry each label, ``(L,)`` int64 (the popularity that ranks the labels)."""
        return self.tags[self.train_index].sum(0, dtype=np.int64)

    def primary_label(self) -> np.ndarray:
        """Each item's most popular tag (by :meth:`tag_frequency`, ties to the lower column), ``(N,)`` int64."""
        frequency = self.tag_frequency().astype(np.float64)
        # rank 0 = most popular; among an item's tags take the one of lowest rank
        rank = np.empty(self.num_labels, dtype=np.int64)
        rank[np.argsort(-frequency, kind="stable")] = np.arange(self.num_labels)
        ranked = np.where(self.tags.astype(bool), rank[None, :], self.num_labels)
        return ranked.argmin(1).astype(np.int64)


# --- validation -------------------------------------------------------------------------------------------------


def _real_matrix(name: str, value: object, rows: int | None) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (items, features) (got shape {array.shape})")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers (got dtype {array.dtype})")
    if array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (got shape {array.shape})")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name} must have one row per item: {array.shape[0]} rows, but image has {rows}")
    with np.errstate(over="ignore"):  # values beyond float32's range become inf, reported below
        array = array.astype(np.float32)
    bad = ~np.isfinite(array).all(1)
    if bad.any():
        raise ValueError(
            f"{name} must be finite (in float32): {int(bad.sum())} row(s) hold NaN or inf (the first is row "
            f"{int(np.flatnonzero(bad)[0])})"
        )
    return array


def check_tag_arrays(arrays: Mapping[str, object], *, require_split: bool = False) -> dict[str, object]:
    """Check the arrays of a tag file (module docstring) and return them normalised.

    Returns ``image`` and ``text`` as float32, ``tags`` as uint8, ``split`` as int8 (or ``None`` when absent and
    not ``require_split``) and ``tag_names`` as a tuple of strings (empty when absent). Raises one ``ValueError``
    naming the field: an unknown or missing array, a wrong number of dimensions, row counts that differ, non-finite
    features, tags other than 0/1, an item with no tag, a split other than 0/1 or without training or test items.
    """
    unknown = sorted(set(arrays) - set(FILE_FIELDS))
    if unknown:
        raise ValueError(f"unknown array(s) {', '.join(unknown)}: a tag file holds only {', '.join(FILE_FIELDS)}")
    required = ("image", "text", "tags", "split") if require_split else ("image", "text", "tags")
    for name in required:
        if name not in arrays or arrays[name] is None:
            raise ValueError(f"{name} is missing: a tag file needs the arrays image, text and tags")
    image = _real_matrix("image", arrays["image"], None)
    rows = image.shape[0]
    if rows < 2:
        raise ValueError(f"image must have at least 2 rows, one training and one test item (got {rows})")
    text = _real_matrix("text", arrays["text"], rows)
    tags = np.asarray(arrays["tags"])
    if tags.ndim != 2:
        raise ValueError(f"tags must be a 2-D multi-hot array (items, labels) (got shape {tags.shape})")
    if tags.dtype.kind not in "biuf":
        raise ValueError(f"tags must hold 0 and 1 only (got dtype {tags.dtype})")
    if tags.shape[0] != rows:
        raise ValueError(f"tags must have one row per item: {tags.shape[0]} rows, but image has {rows}")
    if tags.shape[1] < 1:
        raise ValueError(f"tags must have at least one label column (got shape {tags.shape})")
    if not ((tags == 0) | (tags == 1)).all():
        raise ValueError("tags must hold 0 and 1 only (a multi-hot array: 1 where the item has the tag)")
    tags = tags.astype(np.uint8)
    empty = np.flatnonzero(tags.sum(1) == 0)
    if len(empty):
        raise ValueError(
            f"tags must give every item at least one tag: {len(empty)} row(s) have none (the first is row "
            f"{int(empty[0])})"
        )
    split = arrays.get("split")
    if split is not None:
        split = np.asarray(split)
        if split.ndim != 1 or split.shape[0] != rows:
            raise ValueError(f"split must be a 1-D array with one entry per item, ({rows},) (got shape {split.shape})")
        if split.dtype.kind not in "biuf" or not ((split == 0) | (split == 1)).all():
            raise ValueError("split must hold 0 (training) and 1 (test) only")
        split = split.astype(np.int8)
        if not (split == 0).any() or not (split == 1).any():
            raise ValueError("split must mark at least one training item (0) and one test item (1)")
    names: tuple[str, ...] = ()
    if arrays.get("tag_names") is not None:
        raw = np.asarray(arrays["tag_names"])
        if raw.ndim != 1 or raw.shape[0] != tags.shape[1] or raw.dtype.kind != "U":
            raise ValueError(
                f"tag_names must be a 1-D array of {tags.shape[1]} strings, one per tags column "
                f"(got shape {raw.shape}, dtype {raw.dtype})"
            )
        names = tuple(str(n) for n in raw)
    return {"image": image, "text": text, "tags": tags, "split": split, "tag_names": names}


def _test_count(rows: int, test_fraction: float) -> int:
    return min(max(1, round(test_fraction * rows)), rows - 1)


def random_split(rows: int, seed: int = 0, test_fraction: float = FILE_TEST_FRACTION) -> np.ndarray:
    """A deterministic random split of ``rows`` items: ``(rows,)`` int8, 1 for ``round(test_fraction * rows)`` test
    items (at least one, and at least one training item), 0 elsewhere."""
    rows = check_int_at_least("rows", rows, 2)
    seed = check_nonnegative_int("seed", seed)
    test_fraction = check_positive("test_fraction", test_fraction)
    if test_fraction >= 1:
        raise ValueError(f"test_fraction must be < 1 (got {test_fraction!r})")
    n_test = _test_count(rows, test_fraction)
    split = np.zeros(rows, dtype=np.int8)
    split[np.random.default_rng(seed).permutation(rows)[:n_test]] = 1
    return split


# --- file format --------------------------------------------------------------------------------------------------


def load_tag_features(path: str | os.PathLike, *, split_seed: int = 0) -> TagFeatures:
    """Read a tag file (the ``.npz`` format of the module docstring) and check it.

    Without a ``split`` array, the items are split 90/10 at random by ``split_seed`` (:func:`random_split`). Raises
    ``ValueError`` for a missing or unreadable file and for every malformed field (naming it).
    """
    split_seed = check_nonnegative_int("split_seed", split_seed)
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"data_file must be an existing .npz file (got {str(path)!r})")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"data_file must be an .npz archive written by numpy.savez ({path}: {error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"data_file must be an .npz archive of named arrays, not a single .npy array ({path})")
    arrays: dict[str, object] = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
                raise ValueError(f"{name} cannot be read from {path}: {error}") from None
    checked = check_tag_arrays(arrays)
    split = checked["split"]
    if split is None:
        split = random_split(checked["image"].shape[0], split_seed)  # type: ignore[union-attr]
    return TagFeatures(
        image=checked["image"],  # type: ignore[arg-type]
        text=checked["text"],  # type: ignore[arg-type]
        tags=checked["tags"],  # type: ignore[arg-type]
        split=split,  # type: ignore[arg-type]
        tag_names=checked["tag_names"],  # type: ignore[arg-type]
    )


def save_tag_features(
    path: str | os.PathLike,
    image: np.ndarray | TagFeatures,
    text: np.ndarray | None = None,
    tags: np.ndarray | None = None,
    split: np.ndarray | None = None,
    tag_names: tuple[str, ...] | list[str] | np.ndarray | None = None,
) -> pathlib.Path:
    """Write tag data in the ``.npz`` format of the module docstring, atomically
    (:func:`advdist_lab.files.atomic_write_bytes`: temp file + rename; a full disk keeps the previous file).

    Pass either a :class:`TagFeatures` (``save_tag_features(path, features)``) or the arrays. The arrays are checked
    as :func:`load_tag_features` checks them, before anything is written. Returns the path written.
    """
    if isinstance(image, TagFeatures):
        if any(value is not None for value in (text, tags, split, tag_names)):
            raise ValueError("save_tag_features takes either a TagFeatures or the arrays, not both")
        features = image
        arrays: dict[str, object] = {
            "image": features.image,
            "text": features.text,
            "tags": features.tags,
            "split": features.split,
        }
        if features.tag_names:
            arrays["tag_names"] = np.asarray(features.tag_names, dtype=str)
    else:
        arrays = {"image": image, "text": text, "tags": tags}
        if split is not None:
            arrays["split"] = split
        if tag_names is not None:
            arrays["tag_names"] = np.asarray(tag_names, dtype=str)
    checked = check_tag_arrays(arrays)
    out = {name: value for name, value in checked.items() if name in arrays}
    if "tag_names" in out:
        out["tag_names"] = np.asarray(out["tag_names"], dtype=str)
    buffer = io.BytesIO()  # a file object: numpy.savez would append ".npz" to a name
    np.savez(buffer, **out)
    path = pathlib.Path(path).expanduser()
    atomic_write_bytes(path, buffer.getvalue())
    return path


@dataclass(frozen=True)
class TagFileSizes:
    """What a tag file holds, read off its array headers: training and test items, and the feature widths."""

    train: int
    test: int
    d_image: int
    d_text: int


def tag_file_sizes(path: str | os.PathLike) -> TagFileSizes | None:
    """The sizes of the tag file ``path`` without loading its features: the shapes in the headers of ``image`` and
    ``text``, and the ``split`` array (small) or, without one, the 90/10 split of :func:`load_tag_features`.

    What a run's config checks ``n_train`` and a batch's memory against before any work. Returns ``None`` where
    the headers do not say (a missing array, a wrong number of dimensions, a bad split...): the file is checked in
    full when it is loaded, and :func:`load_tag_features` then refuses it naming the field. Raises ``ValueError``
    for a path that is not a file or not a zip archive.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"data_file must be an existing .npz file (got {str(path)!r})")
    shapes: dict[str, tuple[int, ...]] = {}
    split = None
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if name not in ("image", "text", "split"):
                    continue
                with archive.open(info) as handle:
                    if name == "split":
                        split = np.lib.format.read_array(handle, allow_pickle=False)
                        continue
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shapes[name] = np.lib.format.read_array_header_1_0(handle)[0]
                    elif version == (2, 0):
                        shapes[name] = np.lib.format.read_array_header_2_0(handle)[0]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"data_file must be an .npz archive written by numpy.savez ({path}: {error})") from None
    image, text = shapes.get("image"), shapes.get("text")
    if image is None or text is None or len(image) != 2 or len(text) != 2 or image[0] != text[0] or image[0] < 2:
        return None
    rows = image[0]
    if split is None:
        test = _test_count(rows, FILE_TEST_FRACTION)
    elif split.shape == (rows,) and split.dtype.kind in "biuf" and ((split == 0) | (split == 1)).all():
        test = int((split == 1).sum())
    else:
        return None
    return TagFileSizes(train=rows - test, test=test, d_image=int(image[1]), d_text=int(text[1]))
