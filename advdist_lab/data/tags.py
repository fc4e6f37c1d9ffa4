"""YFCC-like image tag recommendation data, and a loader for user-supplied features (TPAMI Sec. 5.2, KDGAN Sec. 4.2).

The second application of both papers (TPAMI ``000_...``, Sec. 5.2, Table 4; KDGAN ``003_...``, Sec. 4.2,
Table 2): recommend tags for an image right after it is uploaded. Titles and descriptions arrive later, so text is
a *privileged provision*: the teacher and the discriminator see image and text features, the student the image
features alone. The papers sample 20,000 training and 2,000 test images of YFCC100M with titles or descriptions and
build two datasets: one labelled with the 200 most popular tags, one with 200 randomly sampled tags. YFCC100M
cannot be downloaded here, so :func:`generate_tag_features` builds data of the same shape from latent topics.

Generator (:class:`TagGeneratorConfig` holds its parameters; every draw comes from ``seed``)
------------------------------------------------------------------------------------------------

* A vocabulary of ``vocab_size`` tags with Zipf popularity ``pi_v ~ (v + 1) ** -zipf_exponent`` and
  ``num_topics`` latent topics; topic ``k`` draws tag ``v`` with probability
  ``phi_k(v) ~ pi_v * exp(topic_affinity * G_kv)``, ``G_kv ~ N(0, 1)``: every topic favours its own tags, and the
  marginal tag popularity stays long-tailed.
* An item has a topic mixture ``theta ~ Dirichlet(topic_concentration)`` (small: one or two topics dominate) and
  ``1 + Poisson(mean_extra_tags)`` tag draws, each from a topic ``z ~ theta`` and then a tag ``v ~ phi_z``; the
  item's tag set is the set of distinct tags drawn.
* Image features (the student's view): ``image_topic_signal * theta A / ||theta|| + image_tag_signal * mean_v B_v
  + image_noise * eps`` (the mean over the item's tags ``v``), with ``A`` and ``B`` fixed Gaussian projections: a
  noisy look at the topics and a faint one at the tags themselves, like a visual embedding.
* Text features (titles and descriptions, privileged): the mean of the word embeddings ``E_w`` of the words of the
  text, ``text_noise * eps`` added. Each of the item's tags shows up in the text with probability
  ``text_tag_rate``, and ``Poisson(text_extra_words)`` more words are drawn from the item's topics (words of the
  vocabulary the user did not tag), so the text names some tags outright: clearly more informative than the image.
* Label sets (:data:`LABEL_SETS`): ``popular``, the ``num_labels`` tags of highest marginal probability
  ``mean_k phi_k(v)``; ``random``, ``num_labels`` tags sampled uniformly from the vocabulary. The columns of
  ``tags`` follow the label set in decreasing marginal probability. Items with no tag in the label set are dropped,
  and items are drawn until exactly ``num_train`` training and ``num_test`` test items remain.
* Both feature blocks are standardised with the mean and standard deviation of the training rows.

Training and test items come from two separate random streams, drawn in fixed chunks, so the test items do not
depend on ``num_train`` and the items of a smaller training set are the first of a larger one (standardised by
slightly different statistics). Results are cached in memory per
``(label_set, seed, sizes, config)``; the cached arrays are read-only.

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
``ValueError`` naming the field. For training (:func:`load_tags_task`), ``x = [image, text]`` is the privileged
view (teacher and discriminator), ``x_student = image``, and ``p_r(y|x)`` is uniform over the item's tags, as in
TPAMI Sec. 5.2.
"""

from __future__ import annotations

import functools
import os
import pathlib
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from advdist_lab.data.base import Split, TaskData
from advdist_lab.hparams import (
    check_choice,
    check_int_at_least,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)

LABEL_SETS = ("popular", "random")
"""The two label sets of TPAMI Sec. 5.2: the most popular tags and randomly sampled tags."""

TAG_LABEL_SETS: dict[str, str] = {"tags-popular": "popular", "tags-random": "random"}
"""Dataset names of :func:`advdist_lab.data.load_data` and their label set."""

NUM_LABELS = 200
NUM_TRAIN = 20000
NUM_TEST = 2000
"""Default sizes, as in TPAMI Sec. 5.2: 200 tags per label set, 20,000 training and 2,000 test images."""

TAGS_DATA_SEED = 0
"""The generator seed of the ``tags-*`` datasets of :func:`advdist_lab.data.load_data`: every run sees the same data."""

FILE_TEST_FRACTION = 0.1
"""The test fraction of the split drawn for a file without ``split``."""

FILE_FIELDS = ("image", "text", "tags", "split", "tag_names")
"""The arrays an ``.npz`` tag file may hold; the first three are required."""

_CHUNK = 4096
"""Items drawn per chunk: fixed, so that the items do not depend on the requested sizes."""

_STREAM_WORLD, _STREAM_LABELS, _STREAM_TRAIN, _STREAM_TEST = 0, 1, 2, 3


@dataclass(frozen=True)
class TagGeneratorConfig:
    """The parameters of the YFCC-like generator (see the module docstring for the model).

    The defaults make the task learnable but not trivial. P@3 on the test rows of the default data (seed 0) of
    popularity ranking / ridge probes (:func:`probe_report`) on image, text, image + text: ``popular`` 0.111 /
    0.292 / 0.388 / 0.424, ``random`` 0.168 / 0.222 / 0.261 / 0.286 (seeds 1 and 2 alike), so the image beats
    popularity, and the text, privileged, says clearly more than the image. ``topic_affinity = 3`` makes topics
    favour their own tags enough for the image to tell rare tags apart (at 2 the image barely beats popularity on
    the random tags); ``image_noise = 1`` and ``text_tag_rate = 0.7`` set the gaps between the views.
    """

    vocab_size: int = 1000
    num_topics: int = 50
    topic_concentration: float = 0.1
    zipf_exponent: float = 1.0
    topic_affinity: float = 3.0
    mean_extra_tags: float = 3.0
    image_dim: int = 128
    text_dim: int = 128
    image_topic_signal: float = 1.0
    image_tag_signal: float = 0.3
    image_noise: float = 1.0
    text_tag_rate: float = 0.7
    text_extra_words: float = 3.0
    text_noise: float = 0.5

    def __post_init__(self) -> None:
        check_int_at_least("vocab_size", self.vocab_size, 2)
        check_positive_int("num_topics", self.num_topics)
        for name in ("topic_concentration", "zipf_exponent"):
            object.__setattr__(self, name, check_positive(name, getattr(self, name)))
        for name in (
            "topic_affinity",
            "mean_extra_tags",
            "image_topic_signal",
            "image_tag_signal",
            "image_noise",
            "text_extra_words",
            "text_noise",
        ):
            object.__setattr__(self, name, check_nonnegative(name, getattr(self, name)))
        check_positive_int("image_dim", self.image_dim)
        check_positive_int("text_dim", self.text_dim)
        rate = check_nonnegative("text_tag_rate", self.text_tag_rate)
        if rate > 1:
            raise ValueError(f"text_tag_rate must be a probability in [0, 1] (got {rate!r})")
        object.__setattr__(self, "text_tag_rate", rate)


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


def random_split(rows: int, seed: int = 0, test_fraction: float = FILE_TEST_FRACTION) -> np.ndarray:
    """A deterministic random split of ``rows`` items: ``(rows,)`` int8, 1 for ``round(test_fraction * rows)`` test
    items (at least one, and at least one training item), 0 elsewhere."""
    rows = check_int_at_least("rows", rows, 2)
    seed = check_nonnegative_int("seed", seed)
    test_fraction = check_positive("test_fraction", test_fraction)
    if test_fraction >= 1:
        raise ValueError(f"test_fraction must be < 1 (got {test_fraction!r})")
    n_test = min(max(1, round(test_fraction * rows)), rows - 1)
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
    """Write tag data in the ``.npz`` format of the module docstring, atomically (temp file + rename).

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
    path = pathlib.Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:  # a file object: numpy.savez would append ".npz" to a name
            np.savez(handle, **out)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- generator ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _World:
    """The fixed parts of the generator: topics, tag popularity, projections and embeddings."""

    topic_cdf: np.ndarray  # (K, V) cumulative phi_k, last column 1
    marginal: np.ndarray  # (V,) mean_k phi_k(v)
    image_topics: np.ndarray  # (K, d_image)
    image_tags: np.ndarray  # (V, d_image)
    text_words: np.ndarray  # (V, d_text)


@functools.lru_cache(maxsize=4)
def _world(seed: int, config: TagGeneratorConfig) -> _World:
    rng = np.random.default_rng([seed, _STREAM_WORLD])
    vocab, topics = config.vocab_size, config.num_topics
    log_popularity = -config.zipf_exponent * np.log(np.arange(1, vocab + 1, dtype=np.float64))
    logits = log_popularity[None, :] + config.topic_affinity * rng.standard_normal((topics, vocab))
    phi = np.exp(logits - logits.max(1, keepdims=True))
    phi /= phi.sum(1, keepdims=True)
    cdf = np.cumsum(phi, 1)
    cdf[:, -1] = 1.0
    return _World(
        topic_cdf=cdf,
        marginal=phi.mean(0),
        image_topics=rng.standard_normal((topics, config.image_dim)),
        image_tags=rng.standard_normal((vocab, config.image_dim)),
        text_words=rng.standard_normal((vocab, config.text_dim)),
    )


def _label_vocabulary(label_set: str, num_labels: int, seed: int, world: _World) -> np.ndarray:
    """Vocabulary ids of the label columns, in decreasing marginal probability (ties to the lower id)."""
    order = np.argsort(-world.marginal, kind="stable")
    if label_set == "popular":
        return order[:num_labels]
    chosen = np.zeros(len(order), dtype=bool)
    chosen[np.random.default_rng([seed, _STREAM_LABELS]).choice(len(order), num_labels, replace=False)] = True
    return order[chosen[order]]


def _draw_words(
    rng: np.random.Generator, theta: np.ndarray, counts: np.ndarray, cdf: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``counts[i]`` words of item ``i``: a topic ``z ~ theta_i`` per word, then the word ``v ~ phi_z``."""
    item = np.repeat(np.arange(len(counts)), counts)
    topic_cdf = np.cumsum(theta, 1)[item]
    topic = np.minimum((topic_cdf < rng.random(len(item))[:, None]).sum(1), theta.shape[1] - 1)
    vocab = cdf.shape[1]
    flat = (cdf + np.arange(cdf.shape[0])[:, None]).ravel()  # the cdf of topic k shifted into [k, k + 1]
    word = np.searchsorted(flat, rng.random(len(item)) + topic, side="right") - topic * vocab
    return item, np.clip(word, 0, vocab - 1)


def _mean_embedding(item: np.ndarray, word: np.ndarray, table: np.ndarray, n_items: int) -> np.ndarray:
    """Per item, the mean of ``table[word]`` over its words (zeros for an item without words)."""
    total = np.zeros((n_items, table.shape[1]))
    np.add.at(total, item, table[word])
    count = np.bincount(item, minlength=n_items)
    return total / np.maximum(count, 1)[:, None]


def _draw_items(
    stream: int, n: int, seed: int, label_vocab: np.ndarray, world: _World, config: TagGeneratorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` kept items (at least one tag in the label set): raw image, raw text and multi-hot label tags."""
    rng = np.random.default_rng([seed, stream])
    column = np.full(config.vocab_size, -1, dtype=np.int64)
    column[label_vocab] = np.arange(len(label_vocab))
    images, texts, tag_rows, kept = [], [], [], 0
    while kept < n:
        theta = rng.dirichlet(np.full(config.num_topics, config.topic_concentration), _CHUNK)
        # float64 Dirichlet draws with tiny concentration can underflow to an all-zero row
        theta = np.where(theta.sum(1, keepdims=True) > 0, theta, 1.0 / config.num_topics)
        n_tags = 1 + rng.poisson(config.mean_extra_tags, _CHUNK)
        item, tag = _draw_words(rng, theta, n_tags, world.topic_cdf)
        pairs = np.unique(item * config.vocab_size + tag)  # the distinct tags of each item
        item, tag = pairs // config.vocab_size, pairs % config.vocab_size
        labelled = column[tag] >= 0
        keep = np.zeros(_CHUNK, dtype=bool)
        keep[item[labelled]] = True
        multi_hot = np.zeros((_CHUNK, len(label_vocab)), dtype=np.uint8)
        multi_hot[item[labelled], column[tag[labelled]]] = 1
        image = config.image_topic_signal * (theta @ world.image_topics) / np.sqrt(
            (theta**2).sum(1, keepdims=True)
        ) + config.image_tag_signal * _mean_embedding(item, tag, world.image_tags, _CHUNK)
        image += config.image_noise * rng.standard_normal(image.shape)
        in_text = rng.random(len(item)) < config.text_tag_rate
        extra_item, extra_word = _draw_words(rng, theta, rng.poisson(config.text_extra_words, _CHUNK), world.topic_cdf)
        words_item = np.concatenate([item[in_text], extra_item])
        words = np.concatenate([tag[in_text], extra_word])
        text = _mean_embedding(words_item, words, world.text_words, _CHUNK)
        text += config.text_noise * rng.standard_normal(text.shape)
        take = np.flatnonzero(keep)[: n - kept]
        images.append(image[take])
        texts.append(text[take])
        tag_rows.append(multi_hot[take])
        kept += len(take)
    return np.concatenate(images), np.concatenate(texts), np.concatenate(tag_rows)


@functools.lru_cache(maxsize=8)
def _generate(
    label_set: str, seed: int, num_train: int, num_test: int, num_labels: int, config: TagGeneratorConfig
) -> TagFeatures:
    world = _world(seed, config)
    label_vocab = _label_vocabulary(label_set, num_labels, seed, world)
    train = _draw_items(_STREAM_TRAIN, num_train, seed, label_vocab, world, config)
    test = _draw_items(_STREAM_TEST, num_test, seed, label_vocab, world, config)
    blocks = []
    for part in (0, 1):  # image, text: standardised with the training rows' statistics
        mean, std = train[part].mean(0), train[part].std(0)
        std = np.where(std > 0, std, 1.0)
        blocks.append(np.concatenate([(train[part] - mean) / std, (test[part] - mean) / std]).astype(np.float32))
    features = TagFeatures(
        image=blocks[0],
        text=blocks[1],
        tags=np.concatenate([train[2], test[2]]),
        split=np.repeat(np.array([0, 1], dtype=np.int8), [num_train, num_test]),
        tag_names=tuple(f"tag{v:04d}" for v in label_vocab),
    )
    for array in (features.image, features.text, features.tags, features.split):
        array.setflags(write=False)
    return features


def generate_tag_features(
    label_set: str = "popular",
    *,
    seed: int = 0,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    num_labels: int = NUM_LABELS,
    config: TagGeneratorConfig | None = None,
) -> TagFeatures:
    """YFCC-like tag data (module docstring): ``num_train`` training rows, then ``num_test`` test rows.

    Deterministic in ``(label_set, seed, num_train, num_test, num_labels, config)`` and cached in memory for those
    arguments: the arrays are read-only and shared between calls (copy before changing them). Tag names are
    ``tagNNNN`` with ``NNNN`` the tag's rank of popularity in the vocabulary of the generator.
    """
    label_set = check_choice("label_set", label_set, LABEL_SETS)
    seed = check_nonnegative_int("seed", seed)
    num_train = check_positive_int("num_train", num_train)
    num_test = check_positive_int("num_test", num_test)
    num_labels = check_positive_int("num_labels", num_labels)
    config = TagGeneratorConfig() if config is None else config
    if not isinstance(config, TagGeneratorConfig):
        raise ValueError(f"config must be a TagGeneratorConfig (got {type(config).__name__})")
    if num_labels > config.vocab_size:
        raise ValueError(f"num_labels must be <= vocab_size = {config.vocab_size} (got {num_labels})")
    return _generate(label_set, seed, num_train, num_test, num_labels, config)


# --- baselines that measure the data ----------------------------------------------------------------------------


def popularity_scores(train_tags: np.ndarray, n_items: int) -> np.ndarray:
    """Scores that rank every item's tags by training popularity (the same ranking for all): ``(n_items, L)``."""
    frequency = np.asarray(train_tags, dtype=np.float64).sum(0)
    return np.broadcast_to(frequency, (check_positive_int("n_items", n_items), len(frequency))).copy()


def ridge_probe_scores(
    train_x: np.ndarray, train_targets: np.ndarray, test_x: np.ndarray, l2: float = 1.0
) -> np.ndarray:
    """A linear least-squares probe: ridge regression (with a bias, ``l2`` on the weights) of ``train_targets``
    on ``train_x``, evaluated on ``test_x``; returns ``(len(test_x), L)`` scores."""
    l2 = check_nonnegative("l2", l2)
    x = np.asarray(train_x, dtype=np.float64)
    mean = x.mean(0)
    x = x - mean
    targets = np.asarray(train_targets, dtype=np.float64)
    bias = targets.mean(0)
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T @ (targets - bias))
    return (np.asarray(test_x, dtype=np.float64) - mean) @ weights + bias


def item_preview(features: TagFeatures, items: int = 5, k: int = 3, l2: float = 1.0) -> list[dict[str, object]]:
    """A look at the first ``items`` test items: their tags, and the top ``k`` tags that ridge probes
    (:func:`ridge_probe_scores`) read off the image alone (what the student sees) and off the text (the privileged
    view), with how many of those are right."""
    items = check_positive_int("items", items)
    k = check_positive_int("k", k)
    train, test = features.train_index, features.test_index[:items]
    names = features.tag_names or tuple(f"tag{j}" for j in range(features.num_labels))
    rows = []
    guesses = {
        view: ridge_probe_scores(x[train], features.tags[train], x[test], l2)
        for view, x in (("image", features.image), ("text", features.text))
    }
    for row, item in enumerate(test):
        truth = set(np.flatnonzero(features.tags[item]).tolist())
        entry: dict[str, object] = {"item": int(item), "tags": [names[j] for j in sorted(truth)]}
        for view, scores in guesses.items():
            top = np.argsort(-scores[row], kind="stable")[:k].tolist()
            entry[f"{view}_top{k}"] = [names[j] for j in top]
            entry[f"{view}_hits"] = len(truth.intersection(top))
        rows.append(entry)
    return rows


def probe_report(features: TagFeatures, k: int = 3, l2: float = 1.0) -> dict[str, dict[str, float]]:
    """Ranking metrics (:func:`advdist_lab.metrics.ranking_metrics`) on the test rows of four quick baselines:
    ``popularity`` ranking, and ridge probes (:func:`ridge_probe_scores`) on ``image``, ``text`` and
    ``image+text``. A measure of how informative each view is, not a method of the papers."""
    from advdist_lab.metrics import ranking_metrics

    train, test = features.train_index, features.test_index
    targets = torch.from_numpy(features.tags[test].astype(np.float64))
    views = {
        "image": features.image,
        "text": features.text,
        "image+text": np.concatenate([features.image, features.text], 1),
    }
    scores = {"popularity": popularity_scores(features.tags[train], len(test))}
    for name, x in views.items():
        scores[name] = ridge_probe_scores(x[train], features.tags[train], x[test], l2)
    return {name: ranking_metrics(torch.from_numpy(s), targets, k=k) for name, s in scores.items()}


# --- the training task ------------------------------------------------------------------------------------------


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
