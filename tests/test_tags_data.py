"""YFCC-like tag data and the .npz loader (TPAMI Sec. 5.2, KDGAN Sec. 4.2): :mod:`advdist_lab.data.tags` and the
modules it draws on (tags_generator, tags_features, tags_baselines)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from advdist_lab.data import NUM_CLASSES, TEST_SIZES, load_data, max_train_size, tags_features
from advdist_lab.data import tags as tags_module
from advdist_lab.data.tags_baselines import item_preview, popularity_scores, probe_report, ridge_probe_scores
from advdist_lab.data.tags_features import (
    FILE_FIELDS,
    TagFeatures,
    load_tag_features,
    random_split,
    save_tag_features,
)
from advdist_lab.data.tags_generator import (
    TagGeneratorConfig,
    clear_generator_cache,
    generate_tag_features,
    tag_world,
)
from advdist_lab.metrics import ranking_metrics

SMALL = {"num_train": 1500, "num_test": 500, "num_labels": 50}


def small(label_set: str = "popular", seed: int = 0, **overrides: int) -> TagFeatures:
    return generate_tag_features(label_set, seed=seed, **(SMALL | overrides))


# --- the generator --------------------------------------------------------------------------------------------------


def test_default_sizes_and_generation_time() -> None:
    clear_generator_cache()
    start = time.perf_counter()
    features = generate_tag_features("random")
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"generating the default random label set took {elapsed:.2f} s"
    assert features.image.shape == (22000, 128) and features.text.shape == (22000, 128)
    assert features.tags.shape == (22000, 200) and features.feature_dims == (128, 128)
    assert (features.split[:20000] == 0).all() and (features.split[20000:] == 1).all()
    assert features.image.dtype == np.float32 and features.tags.dtype == np.uint8
    start = time.perf_counter()
    assert generate_tag_features("random") is features  # cached: no regeneration
    assert time.perf_counter() - start < 0.05


def test_deterministic_by_seed_and_prefix_of_larger_sizes() -> None:
    a = small(seed=3)
    clear_generator_cache()
    again = small(seed=3)
    assert again is not a
    for name in ("image", "text", "tags", "split"):
        np.testing.assert_array_equal(getattr(again, name), getattr(a, name))
    assert again.tag_names == a.tag_names
    b = small(seed=3, num_train=1501)
    np.testing.assert_array_equal(a.tags[:1500], b.tags[:1500])
    np.testing.assert_array_equal(a.tags[1500:], b.tags[1501:])  # test items do not depend on num_train
    raw_a, raw_b = a.image[:1500], b.image[:1500]  # standardised by slightly different training statistics
    assert np.corrcoef(raw_a.ravel(), raw_b.ravel())[0, 1] > 0.999
    other = small(seed=4)
    assert not np.array_equal(a.tags, other.tags)
    assert not np.allclose(a.image, other.image)


def test_sizes_every_item_tagged_and_standardised() -> None:
    features = small("random")
    assert len(features.train_index) == 1500 and len(features.test_index) == 500
    assert features.tags.shape[1] == 50
    assert (features.tags.sum(1) >= 1).all()
    assert set(np.unique(features.tags)) <= {0, 1}
    train = features.image[features.train_index]
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-3)


def test_cached_arrays_are_read_only() -> None:
    features = small()
    with pytest.raises(ValueError, match="read-only"):
        features.tags[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        features.image[0, 0] = 0.0


def test_label_sets_popular_is_the_head_random_differs() -> None:
    world = tag_world(0, TagGeneratorConfig())
    popular, random = generate_tag_features("popular"), generate_tag_features("random")
    order = np.argsort(-world.marginal, kind="stable")
    assert popular.tag_names == tuple(f"tag{v:04d}" for v in order[:200])  # the 200 most probable tags
    assert set(popular.tag_names) != set(random.tag_names)
    assert len(set(popular.tag_names) & set(random.tag_names)) < 100
    # the most popular tags are also the most frequent ones in the generated items
    assert np.median(popular.tag_frequency()) > 2 * np.median(random.tag_frequency())
    frequency = popular.tag_frequency()
    assert np.corrcoef(np.arange(200), frequency)[0, 1] < -0.5  # columns in decreasing popularity


def test_long_tail() -> None:
    frequency = generate_tag_features("popular").tag_frequency()
    assert frequency.max() > 8 * np.median(frequency)
    top = np.sort(frequency)[::-1]
    assert top[:20].sum() > top[100:].sum()  # the 20 head tags outnumber the 100 tail tags


def test_text_is_more_informative_than_image_which_beats_popularity() -> None:
    for label_set in ("popular", "random"):
        report = probe_report(generate_tag_features(label_set, num_train=4000, num_test=1000))
        p3 = {name: metrics["p@3"] for name, metrics in report.items()}
        assert p3["image"] > p3["popularity"] + 0.03, (label_set, p3)
        assert p3["text"] > p3["image"] + 0.02, (label_set, p3)
        assert p3["image+text"] > p3["image"] + 0.04, (label_set, p3)


def test_probes_and_popularity_scores() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5))
    weights = rng.standard_normal((5, 3))
    targets = x @ weights + 2.0
    np.testing.assert_allclose(ridge_probe_scores(x, targets, x[:10], l2=0.0), targets[:10], atol=1e-8)
    tags = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0]])
    scores = popularity_scores(tags, 2)
    np.testing.assert_array_equal(scores, [[3, 2, 1], [3, 2, 1]])
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        ridge_probe_scores(x, targets, x, l2=-1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label_set": "rare"}, "label_set must be one of popular, random"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"num_train": 0}, "num_train must be an integer >= 1"),
        ({"num_test": 2.5}, "num_test must be an integer >= 1"),
        ({"num_labels": 5000}, "num_labels must be <= vocab_size = 1000"),
        ({"config": {"vocab_size": 10}}, "config must be a TagGeneratorConfig"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_tag_features(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vocab_size": 1}, "vocab_size must be an integer >= 2"),
        ({"num_topics": 0}, "num_topics must be an integer >= 1"),
        ({"topic_concentration": 0.0}, "topic_concentration must be > 0"),
        ({"image_noise": -0.1}, "image_noise must be >= 0"),
        ({"text_tag_rate": 1.5}, r"text_tag_rate must be a probability in \[0, 1\]"),
        ({"image_dim": 0}, "image_dim must be an integer >= 1"),
    ],
)
def test_generator_config_validates(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TagGeneratorConfig(**kwargs)


# --- the file format ------------------------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path) -> None:
    features = small("random", seed=1)
    path = save_tag_features(tmp_path / "sub" / "tags.npz", features)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    loaded = load_tag_features(path)
    for name in ("image", "text", "tags", "split"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(features, name))
    assert loaded.tag_names == features.tag_names
    np.testing.assert_array_equal(loaded.primary_label(), features.primary_label())


def test_without_split_a_deterministic_90_10_split(tmp_path) -> None:
    features = small()
    path = save_tag_features(tmp_path / "tags.npz", features.image, features.text, features.tags)
    with np.load(path) as archive:
        assert set(archive.files) == {"image", "text", "tags"}
    first, again = load_tag_features(path), load_tag_features(path)
    np.testing.assert_array_equal(first.split, again.split)
    assert len(first.test_index) == 200  # 10% of 2,000 rows
    other = load_tag_features(path, split_seed=1)
    assert not np.array_equal(first.split, other.split)
    np.testing.assert_array_equal(random_split(10, 0).sum(), 1)


def test_save_is_atomic_on_failure(tmp_path) -> None:
    features = small()
    path = save_tag_features(tmp_path / "tags.npz", features)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="tags must hold 0 and 1 only"):
        save_tag_features(path, features.image, features.text, 2 * features.tags)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def _valid(rows: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tags = np.zeros((rows, 4), dtype=np.uint8)
    tags[np.arange(rows), np.arange(rows) % 4] = 1
    return {
        "image": rng.standard_normal((rows, 3)),
        "text": rng.standard_normal((rows, 2)),
        "tags": tags,
        "split": np.array([0] * (rows - 2) + [1, 1]),
    }


def _nan_row(arrays: dict) -> dict:
    arrays["text"][2, 1] = np.nan
    return arrays


def _no_tag(arrays: dict) -> dict:
    arrays["tags"][3] = 0
    return arrays


MALFORMED = [
    (lambda a: {k: v for k, v in a.items() if k != "image"}, "image is missing"),
    (lambda a: {k: v for k, v in a.items() if k != "text"}, "text is missing"),
    (lambda a: {k: v for k, v in a.items() if k != "tags"}, "tags is missing"),
    (lambda a: a | {"image": a["image"][:, 0]}, "image must be a 2-D array"),
    (lambda a: a | {"text": a["text"][None]}, "text must be a 2-D array"),
    (lambda a: a | {"tags": a["tags"][:, :, None]}, "tags must be a 2-D multi-hot array"),
    (lambda a: a | {"text": a["text"][:5]}, "text must have one row per item: 5 rows, but image has 6"),
    (lambda a: a | {"tags": a["tags"][:4]}, "tags must have one row per item: 4 rows, but image has 6"),
    (_nan_row, "text must be finite"),
    (lambda a: a | {"image": np.full((6, 3), np.inf)}, "image must be finite"),
    (lambda a: a | {"image": np.full((6, 3), 1e300)}, r"image must be finite \(in float32\)"),
    (lambda a: a | {"image": a["image"].astype(str)}, "image must hold real numbers"),
    (lambda a: a | {"tags": a["tags"] * 2}, "tags must hold 0 and 1 only"),
    (lambda a: a | {"tags": a["tags"] * 0.5}, "tags must hold 0 and 1 only"),
    (_no_tag, "tags must give every item at least one tag: 1 row"),
    (lambda a: a | {"split": a["split"][:5]}, "split must be a 1-D array with one entry per item"),
    (lambda a: a | {"split": a["split"] * 2}, r"split must hold 0 \(training\) and 1 \(test\) only"),
    (lambda a: a | {"split": np.zeros(6, dtype=int)}, "split must mark at least one training item"),
    (lambda a: a | {"tag_names": np.array(["a", "b"])}, "tag_names must be a 1-D array of 4 strings"),
    (lambda a: a | {"labels": a["tags"]}, "unknown array"),
    (lambda a: {k: v[:1] for k, v in a.items()}, "image must have at least 2 rows"),
]


@pytest.mark.parametrize(("corrupt", "match"), MALFORMED)
def test_malformed_files_name_the_field(tmp_path, corrupt, match: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **corrupt(_valid()))
    with pytest.raises(ValueError, match=match):
        load_tag_features(path)


def test_valid_small_file_loads_and_fields_are_documented(tmp_path) -> None:
    path = tmp_path / "ok.npz"
    np.savez(path, **_valid())
    features = load_tag_features(path)
    assert features.feature_dims == (3, 2) and features.num_labels == 4
    assert list(features.test_index) == [4, 5]
    assert all(f"``{name}``" in tags_features.__doc__ for name in FILE_FIELDS)


def test_unreadable_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="data_file must be an existing .npz file"):
        load_tag_features(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="data_file must be an .npz archive"):
        load_tag_features(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="not a single .npy array"):
        load_tag_features(single)
    objects = tmp_path / "objects.npz"
    arrays = _valid()
    np.savez(objects, **(arrays | {"image": np.array([[1, "a"]] * 6, dtype=object)}))
    with pytest.raises(ValueError, match="image cannot be read"):
        load_tag_features(objects)


# --- load_data ------------------------------------------------------------------------------------------------------


def test_constants_for_the_tag_datasets() -> None:
    for name in ("tags-popular", "tags-random"):
        assert NUM_CLASSES[name] == 200 and max_train_size(name) == 20000 and TEST_SIZES[name] == 2000


@pytest.mark.parametrize("name", ["tags-popular", "tags-random"])
def test_load_data_shapes_flags_and_p_r(name: str) -> None:
    task = load_data(name, 150, subset_seed=2, test_size=300)  # n_train below the number of tags is allowed
    assert task.multilabel and task.feature_dims == (128, 128) and task.num_classes == 200
    assert task.train.x.shape == (150, 256) and task.train.x_student.shape == (150, 128)
    assert task.test.x.shape == (300, 256) and task.test.p_r.shape == (300, 200)
    for split in (task.train, task.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        torch.testing.assert_close(split.x[:, :128], split.x_student)
        torch.testing.assert_close(split.p_r.sum(1), torch.ones(len(split)))
        tagged = split.p_r > 0
        counts = tagged.sum(1, keepdim=True).float()
        torch.testing.assert_close(split.p_r[tagged], (1 / counts).expand_as(split.p_r)[tagged])
        assert tagged.gather(1, split.y[:, None]).all()  # the placeholder label is one of the item's tags
    assert "multi-label" in task.describe()
    features = generate_tag_features(name.split("-")[1])
    test_rows = features.test_index[:300]
    np.testing.assert_array_equal(task.test.x_student.numpy(), features.image[test_rows])
    primary = features.primary_label()
    frequency = features.tag_frequency()
    for row in test_rows[:20]:
        own = np.flatnonzero(features.tags[row])
        assert frequency[primary[row]] == frequency[own].max()


def test_subset_by_subset_seed_is_random_and_fixed_test() -> None:
    a = load_data("tags-popular", 400, subset_seed=0, test_size=50)
    b = load_data("tags-popular", 400, subset_seed=0, test_size=50)
    c = load_data("tags-popular", 400, subset_seed=1, test_size=50)
    torch.testing.assert_close(a.train.x, b.train.x)
    assert not torch.equal(a.train.x, c.train.x)
    torch.testing.assert_close(a.test.x, c.test.x)
    pool = generate_tag_features("popular").image[:20000]
    rows = [int(np.flatnonzero((pool == row).all(1))[0]) for row in a.train.x_student[:30].numpy()]
    assert rows == sorted(rows) and len(set(rows)) == 30  # distinct pool rows, in pool order
    a.train.x.add_(1.0)  # the loaded tensors are copies: the cache is untouched
    torch.testing.assert_close(b.train.x, load_data("tags-popular", 400, subset_seed=0, test_size=50).train.x)


def test_load_data_from_a_file(tmp_path) -> None:
    features = small()
    path = save_tag_features(tmp_path / "mine.npz", features)
    task = load_data("tags-random", 1500, data_file=path, test_size=500)  # the file's label set, whatever the name
    assert task.num_classes == 50 and task.feature_dims == (128, 128)
    np.testing.assert_array_equal(task.train.x_student.numpy(), features.image[:1500])
    np.testing.assert_array_equal(task.test.x[:, 128:].numpy(), features.text[1500:])
    with pytest.raises(ValueError, match="n_train must be <= 1500, the size of the training rows of data_file"):
        load_data("tags-popular", 1501, data_file=path)
    with pytest.raises(ValueError, match="test_size must be <= 500"):
        load_data("tags-popular", 100, data_file=path, test_size=501)
    np.savez(tmp_path / "bad.npz", image=features.image, text=features.text)
    with pytest.raises(ValueError, match="tags is missing"):
        load_data("tags-popular", 100, data_file=tmp_path / "bad.npz")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "tags-popular", "n_train": 100, "view": "lowres"}, "view must be 'full' for tags-popular"),
        ({"name": "tags-random", "n_train": 20001}, "n_train must be <= 20000"),
        ({"name": "tags-random", "n_train": 100, "test_size": 2001}, "test_size must be <= 2000"),
        ({"name": "digits", "n_train": 100, "data_file": "x.npz"}, "data_file is accepted only for the datasets"),
        ({"name": "tags-popular", "n_train": 100, "data_file": 3}, "data_file must be a path"),
        ({"name": "tags-popular", "n_train": 0}, "n_train must be an integer >= 1"),
    ],
)
def test_load_data_refusals(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_data(**kwargs)


def test_ranking_metrics_accept_the_test_split() -> None:
    task = load_data("tags-random", 100, test_size=200)
    scores = torch.randn(200, 200, generator=torch.Generator().manual_seed(0))
    metrics = ranking_metrics(scores, (task.test.p_r > 0).float())
    assert 0 <= metrics["p@3"] <= 1 and metrics["mrr"] > 0


def test_item_preview_shows_tags_and_probe_guesses():
    features = generate_tag_features("popular", num_train=2000, num_test=300)
    rows = item_preview(features, items=4, k=3)
    assert len(rows) == 4
    for row in rows:
        item = row["item"]
        truth = {features.tag_names[j] for j in np.flatnonzero(features.tags[item])}
        assert set(row["tags"]) == truth and len(row["image_top3"]) == 3 and len(row["text_top3"]) == 3
        assert row["text_hits"] == len(truth & set(row["text_top3"]))
    with pytest.raises(ValueError, match="items"):
        item_preview(features, items=0)


def test_the_task_module_lists_only_its_own_names() -> None:
    assert set(tags_module.__all__) == {"load_tags_task", "TAG_LABEL_SETS", "TAGS_DATA_SEED"}
    assert set(tags_module.__all__) <= set(vars(tags_module))


def test_file_sizes_are_read_off_the_headers(tmp_path) -> None:
    from advdist_lab.data.tags_features import TagFileSizes, tag_file_sizes

    path = tmp_path / "ok.npz"
    np.savez(path, **_valid(30))
    loaded = load_tag_features(path)
    assert tag_file_sizes(path) == TagFileSizes(train=len(loaded.train_index), test=2, d_image=3, d_text=2)
    no_split = {k: v for k, v in _valid(30).items() if k != "split"}
    np.savez(path, **no_split)
    assert tag_file_sizes(path).test == len(load_tag_features(path).test_index) == 3  # the 90/10 split
    save_tag_features(path, small())  # through save_tag_features (numpy's headers of version 1.0)
    assert tag_file_sizes(path) == TagFileSizes(train=1500, test=500, d_image=128, d_text=128)
    # what the headers cannot say is left to load_tag_features, which names the field
    np.savez(path, image=np.zeros(30), text=np.zeros((30, 2)), tags=_valid(30)["tags"])
    assert tag_file_sizes(path) is None
    np.savez(path, **(_valid(30) | {"split": np.full(30, 2)}))
    assert tag_file_sizes(path) is None
    np.savez(path, **{k: v for k, v in _valid(30).items() if k != "text"})
    assert tag_file_sizes(path) is None
    with pytest.raises(ValueError, match="data_file must be an existing .npz file"):
        tag_file_sizes(tmp_path / "missing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="data_file must be an .npz archive"):
        tag_file_sizes(tmp_path / "garbage.npz")
