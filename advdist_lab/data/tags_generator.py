"""YFCC-like image tag recommendation data, generated from latent topics (TPAMI Sec. 5.2, KDGAN Sec. 4.2).

The papers sample 20,000 training and 2,000 test images of YFCC100M with titles or descriptions and build two
datasets: one labelled with the 200 most popular tags, one with 200 randomly sampled tags. YFCC100M cannot be
downloaded here, so :func:`generate_tag_features` builds data of the same shape from latent topics, as a
:class:`~advdist_lab.data.tags_features.TagFeatures`.

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
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from advdist_lab.data.tags_features import TagFeatures
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

NUM_LABELS = 200
NUM_TRAIN = 20000
NUM_TEST = 2000
"""Default sizes, as in TPAMI Sec. 5.2: 200 tags per label set, 20,000 training and 2,000 test images."""

_CHUNK = 4096
"""Items drawn per chunk: fixed, so that the items do not depend on the requested sizes."""

_STREAM_WORLD, _STREAM_LABELS, _STREAM_TRAIN, _STREAM_TEST = 0, 1, 2, 3


@dataclass(frozen=True)
class TagGeneratorConfig:
    """The parameters of the YFCC-like generator (see the module docstring for the model).

    The defaults make the task learnable but not trivial. P@3 on the test rows of the default data (seed 0) of
    popularity ranking / ridge probes (:func:`advdist_lab.data.tags_baselines.probe_report`) on image, text,
    image + text: ``popular`` 0.111 / 0.292 / 0.388 / 0.424, ``random`` 0.168 / 0.222 / 0.261 / 0.286 (seeds 1 and
    2 alike), so the image beats popularity, and the text, privileged, says clearly more than the image.
    ``topic_affinity = 3`` makes topics favour their own tags enough for the image to tell rare tags apart (at 2
    the image barely beats popularity on the random tags); ``image_noise = 1`` and ``text_tag_rate = 0.7`` set the
    gaps between the views.
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
class TagWorld:
    """The fixed parts of the generator, drawn from ``seed`` alone: topics, tag popularity, projections and
    embeddings (the ``phi_k``, ``A``, ``B`` and ``E`` of the module docstring)."""

    topic_cdf: np.ndarray  # (K, V) cumulative phi_k, last column 1
    marginal: np.ndarray  # (V,) mean_k phi_k(v)
    image_topics: np.ndarray  # (K, d_image)
    image_tags: np.ndarray  # (V, d_image)
    text_words: np.ndarray  # (V, d_text)


@functools.lru_cache(maxsize=4)
def tag_world(seed: int, config: TagGeneratorConfig) -> TagWorld:
    """The generator's :class:`TagWorld` for ``seed`` and ``config`` (cached; :func:`clear_generator_cache`)."""
    rng = np.random.default_rng([seed, _STREAM_WORLD])
    vocab, topics = config.vocab_size, config.num_topics
    log_popularity = -config.zipf_exponent * np.log(np.arange(1, vocab + 1, dtype=np.float64))
    logits = log_popularity[None, :] + config.topic_affinity * rng.standard_normal((topics, vocab))
    phi = np.exp(logits - logits.max(1, keepdims=True))
    phi /= phi.sum(1, keepdims=True)
    cdf = np.cumsum(phi, 1)
    cdf[:, -1] = 1.0
    return TagWorld(
        topic_cdf=cdf,
        marginal=phi.mean(0),
        image_topics=rng.standard_normal((topics, config.image_dim)),
        image_tags=rng.standard_normal((vocab, config.image_dim)),
        text_words=rng.standard_normal((vocab, config.text_dim)),
    )


def _label_vocabulary(label_set: str, num_labels: int, seed: int, world: TagWorld) -> np.ndarray:
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
    stream: int, n: int, seed: int, label_vocab: np.ndarray, world: TagWorld, config: TagGeneratorConfig
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
    world = tag_world(seed, config)
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


def clear_generator_cache() -> None:
    """Forget the cached worlds and datasets, so that the next :func:`generate_tag_features` draws them again."""
    _generate.cache_clear()
    tag_world.cache_clear()
