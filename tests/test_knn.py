"""Tests of advdist_lab.methods.knn (KNN tag voting, the KVOTE baseline of TPAMI Table 4) and advdist_lab.runs.knn (its
run in a run folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advdist_lab.data import Split, TaskData
from advdist_lab.methods.knn import DEFAULT_K, KNN_METHOD, KnnConfig, evaluate_knn, knn_scores
from advdist_lab.metrics import ranking_metrics
from advdist_lab.runs.folder import RESULT, RunExistsError
from advdist_lab.runs.knn import run_knn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def brute_force(train: np.ndarray, tags: np.ndarray, test: np.ndarray, k: int, weighted: bool) -> np.ndarray:
    """Loop over the test items in float64: cosine similarity to every training item, the top k, their votes."""
    train_unit = train / np.linalg.norm(train, axis=1, keepdims=True)
    scores = np.zeros((len(test), tags.shape[1]))
    for i, row in enumerate(test):
        similarity = train_unit @ (row / np.linalg.norm(row))
        nearest = np.argsort(-similarity, kind="stable")[:k]
        votes = np.clip(similarity[nearest], 0, None) if weighted else np.ones(k)
        scores[i] = votes @ tags[nearest]
    return scores


def random_problem(seed: int = 0, n: int = 300, m: int = 41, d: int = 16, labels: int = 12):
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((n, d))
    test = rng.standard_normal((m, d))
    tags = (rng.random((n, labels)) < 0.2).astype(np.float64)
    return train, tags, test


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("k", [1, 5, 37])
def test_knn_scores_match_a_brute_force_reference(k: int, weighted: bool):
    train, tags, test = random_problem()
    expected = brute_force(train, tags, test, k, weighted)
    for chunk_size in (None, 1, 7, 1000):
        got = knn_scores(
            torch.tensor(train, dtype=torch.float32),
            torch.tensor(tags),
            torch.tensor(test, dtype=torch.float32),
            k,
            weighted=weighted,
            chunk_size=chunk_size,
        )
        assert got.shape == (len(test), tags.shape[1]) and got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_cosine_similarity_ignores_the_scale_of_the_features():
    train, tags, test = random_problem(1)
    scale = np.random.default_rng(2).uniform(0.1, 10, (len(train), 1))
    a = knn_scores(torch.tensor(train), torch.tensor(tags), torch.tensor(test), 5)
    b = knn_scores(torch.tensor(train * scale), torch.tensor(tags), torch.tensor(test * 3.0), 5)
    torch.testing.assert_close(a, b)


def test_with_k_equal_to_n_plain_votes_are_tag_counts():
    train, tags, test = random_problem(3, n=20)
    scores = knn_scores(torch.tensor(train), torch.tensor(tags), torch.tensor(test), 20, weighted=False)
    torch.testing.assert_close(scores, torch.tensor(tags.sum(0), dtype=torch.float32).expand(len(test), -1))


def test_a_zero_feature_row_is_similar_to_nothing():
    train = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    tags = torch.eye(3)
    scores = knn_scores(train, tags, torch.tensor([[0.0, 0.0], [1.0, 0.1]]), 1)
    assert torch.isfinite(scores).all()
    assert scores[0].sum() == 0  # a zero test row: every similarity is 0, so every weighted vote is 0
    assert scores[1].argmax() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a, t, b: knn_scores(a, t, b, 0), "k must be an integer >= 1"),
        (lambda a, t, b: knn_scores(a, t, b, 2.0), "k must be an integer >= 1"),
        (lambda a, t, b: knn_scores(a, t, b, True), "k must be an integer >= 1"),
        (lambda a, t, b: knn_scores(a, t, b, 301), "k must be <= 300, the number of training images"),
        (lambda a, t, b: knn_scores(a, t[:-1], b, 3), "train_tags must have one row per training image"),
        (lambda a, t, b: knn_scores(a, t, b[:, :-1], 3), "test_image must have the features of train_image"),
        (lambda a, t, b: knn_scores(a[0], t, b, 3), "train_image must be a non-empty tensor of shape"),
        (lambda a, t, b: knn_scores(a.numpy(), t, b, 3), "train_image must be a non-empty tensor of shape"),
        (lambda a, t, b: knn_scores(a.long(), t, b, 3), "train_image must hold floating-point numbers"),
        (lambda a, t, b: knn_scores(a, -t, b, 3), "train_tags must be non-negative"),
        (lambda a, t, b: knn_scores(a, t, b * float("nan"), 3), "test_image must be finite"),
        (lambda a, t, b: knn_scores(a, t, b, 3, weighted=1), "weighted must be True or False"),
        (lambda a, t, b: knn_scores(a, t, b, 3, chunk_size=0), "chunk_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise_one_value_error_naming_the_constraint(call, message: str):
    train, tags, test = (torch.tensor(a, dtype=torch.float32) for a in random_problem())
    with pytest.raises(ValueError, match=message):
        call(train, tags, test)


def test_bool_and_integer_tags_are_accepted():
    train, tags, test = random_problem(4)
    as_float = knn_scores(torch.tensor(train), torch.tensor(tags), torch.tensor(test), 4)
    torch.testing.assert_close(knn_scores(torch.tensor(train), torch.tensor(tags > 0), torch.tensor(test), 4), as_float)
    torch.testing.assert_close(
        knn_scores(torch.tensor(train), torch.tensor(tags, dtype=torch.int64), torch.tensor(test), 4), as_float
    )


# ------------------------------------------------------------------------------------------------------
# a task whose neighbours share tags
# ------------------------------------------------------------------------------------------------------


def clustered_task(n_train: int = 400, n_test: int = 100, clusters: int = 10, labels: int = 30, seed: int = 0):
    """Items of a cluster share its three tags (plus one random tag); image features: cluster centre + noise.
    The text features (the privileged half of x) are pure noise here: KNN must not need them."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, 8, generator=generator) * 3
    cluster_tags = torch.stack([torch.randperm(labels, generator=generator)[:3] for _ in range(clusters)])

    def split(n: int) -> Split:
        cluster = torch.randint(clusters, (n,), generator=generator)
        image = centres[cluster] + torch.randn(n, 8, generator=generator)
        tags = torch.zeros(n, labels)
        tags[torch.arange(n)[:, None], cluster_tags[cluster]] = 1
        tags[torch.arange(n), torch.randint(labels, (n,), generator=generator)] = 1
        x = torch.cat([image, torch.randn(n, 4, generator=generator)], 1)
        return Split(x=x, x_student=image, y=cluster_tags[cluster, 0], p_r=tags / tags.sum(1, keepdim=True))

    return TaskData(
        name="tags-popular",
        view="full",
        num_classes=labels,
        train=split(n_train),
        test=split(n_test),
        multilabel=True,
        feature_dims=(8, 4),
    )


def test_knn_beats_random_scores_when_neighbours_share_tags():
    data = clustered_task()
    metrics = evaluate_knn(data, k=15)
    targets = (data.test.p_r > 0).float()
    chance = ranking_metrics(torch.rand(targets.shape, generator=torch.Generator().manual_seed(1)), targets)
    assert set(metrics) == {"p@3", "r@3", "f@3", "ndcg@3", "map", "mrr", "p@1"}
    assert metrics["p@3"] > 0.9 > 0.3 > chance["p@3"]  # three shared tags per cluster: nearly all found
    assert metrics["map"] > chance["map"] + 0.5 and metrics["mrr"] > chance["mrr"] + 0.5
    assert metrics["p@1"] > 0.95


def test_evaluate_knn_uses_the_image_features_only():
    data = clustered_task()
    noisy_text = TaskData(
        name=data.name,
        view="full",
        num_classes=data.num_classes,
        train=Split(
            x=torch.cat([data.train.x_student, 100 * torch.randn(len(data.train), 4)], 1),
            x_student=data.train.x_student,
            y=data.train.y,
            p_r=data.train.p_r,
        ),
        test=data.test,
        multilabel=True,
    )
    assert evaluate_knn(noisy_text, k=5) == evaluate_knn(data, k=5)


# ------------------------------------------------------------------------------------------------------
# KnnConfig and run_knn
# ------------------------------------------------------------------------------------------------------


def test_knn_config_validates_and_round_trips():
    config = KnnConfig(dataset="tags-random", n_train=500, seed=2, k=7, weighted=False)
    assert config.method == KNN_METHOD and KnnConfig().k == DEFAULT_K
    record = config.to_dict()
    assert record["method"] == "knn" and record["k"] == 7 and record["n_train"] == 500
    assert KnnConfig.from_dict(record) == config
    for kwargs, message in [
        ({"dataset": "tags-nope"}, "dataset must be one of"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"n_train": 5, "k": 6}, "k must be <= n_train = 5"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"weighted": "yes"}, "weighted must be True or False"),
        ({"device": "gpu"}, "device must be"),
        ({"data_file": 3}, "data_file must be a path"),
    ]:
        with pytest.raises(ValueError, match=message):
            KnnConfig(**kwargs)
    with pytest.raises(ValueError, match="unknown KNN options: nu"):
        KnnConfig.from_dict({"method": "knn", "nu": 1.0})
    with pytest.raises(ValueError, match="method must be 'knn'"):
        KnnConfig.from_dict({"method": "adim"})


def test_run_knn_writes_a_result_of_the_shape_of_train(tmp_path):
    data = clustered_task()
    config = KnnConfig(n_train=len(data.train), k=15, device="cpu")
    result = run_knn(config, tmp_path / "run", progress=False, data=data)
    stored = json.loads((tmp_path / "run" / RESULT).read_text())
    assert stored == json.loads(json.dumps(result))
    assert not [p for p in (tmp_path / "run").iterdir() if p.name != RESULT]  # no temporary file left
    assert result["config"] == config.to_dict() and result["status"] == "finished"
    (entry,) = result["history"]
    metrics = evaluate_knn(data, k=15)
    assert entry["epoch"] == 1 and entry["student_test_accuracy"] == result["test_accuracy"] == metrics["p@1"]
    for name in ("map", "mrr", "p@3", "r@3", "f@3", "ndcg@3"):
        assert result[name] == entry[f"student_{name}"] == metrics[name]
    assert result["device"] == "cpu" and result["wall_seconds"] >= 0

    assert run_knn(config, tmp_path / "run", resume=True, data=data) == stored  # read back
    with pytest.raises(RunExistsError, match="already holds a finished run"):
        run_knn(config, tmp_path / "run", data=data)
    with pytest.raises(RunExistsError, match="k: 15 there, 3 here"):
        run_knn(config.replace(k=3), tmp_path / "run", resume=True, data=data)
    with pytest.raises(ValueError, match="k must be <= 400, the number of training images"):
        run_knn(KnnConfig(k=401, device="cpu"), tmp_path / "other", data=data)
    with pytest.raises(ValueError, match="config must be a KnnConfig"):
        run_knn({"k": 3}, tmp_path / "other")


def test_run_knn_on_the_generated_tag_data(tmp_path):
    config = KnnConfig(dataset="tags-popular", n_train=2000, k=20, device="cpu")
    result = run_knn(config, tmp_path, progress=False)
    assert result["config"]["n_train"] == 2000
    # the YFCC-like data have informative image features: far above the popularity ranking's P@3
    from advdist_lab.data import load_data
    from advdist_lab.data.tags_baselines import popularity_scores

    data = load_data("tags-popular", 2000)
    targets = (data.test.p_r > 0).float()
    popular = ranking_metrics(torch.tensor(popularity_scores((data.train.p_r > 0).numpy(), len(targets))), targets)
    assert result["p@3"] > popular["p@3"] and result["map"] > popular["map"]


def test_run_knn_uses_the_run_folder_lifecycle(tmp_path):
    from advdist_lab.runs.folder import DamagedResultError, FolderInUseError, RunFolder, UnusableFolderError

    data = clustered_task()
    config = KnnConfig(n_train=len(data.train), k=5, device="cpu")
    with pytest.raises(UnusableFolderError, match="--out must not be empty"):
        run_knn(config, "", data=data)
    with (
        RunFolder(tmp_path / "busy"),
        pytest.raises(FolderInUseError, match="is in use by another run in this process"),
    ):
        run_knn(config, tmp_path / "busy", data=data)
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / RESULT).write_text("{")
    with pytest.raises(DamagedResultError, match="result.json is damaged"):
        run_knn(config, tmp_path / "damaged", resume=True, data=data)
    assert (tmp_path / "damaged" / RESULT).read_text() == "{"
