"""The training engine on multi-label tag data (image tag recommendation, TPAMI Sec. 5.2, KDGAN Sec. 4.2).

Runs are tiny: a generated file of 300 training and 100 test items, 20 tags, 16 image and 12 text features
(``data_file``), n = 200, two epochs, one pretraining epoch each, single-threaded. One test goes through the
built-in generated data (``tags-popular`` with its 2,000 test items).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
import torch
from tiny_configs import D_IMAGE, D_TEXT, TAGS, write_tag_file

from advdist_lab import runs
from advdist_lab.data import load_data
from advdist_lab.data.tags_features import save_tag_features
from advdist_lab.data.tags_generator import TagGeneratorConfig, generate_tag_features
from advdist_lab.methods import ADVERSARIAL, METHODS, TrainConfig
from advdist_lab.methods.config import TAG_BATCH_SIZE, TAG_LR, TAG_RUN_DEFAULTS
from advdist_lab.methods.loop import Trainer, _seeded, sample_labels
from advdist_lab.models import ProductMLP, build_players, count_parameters

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RANKING = ("p@3", "r@3", "f@3", "ndcg@3", "map", "mrr")


@pytest.fixture(scope="module")
def tag_file(tmp_path_factory) -> str:
    return write_tag_file(tmp_path_factory.mktemp("tags"))


def tiny(tag_file: str, **changes) -> TrainConfig:
    values = {
        "dataset": "tags-popular",
        "data_file": tag_file,
        "n_train": 200,
        "epochs": 2,
        "teacher_pretrain_epochs": 1,
        "student_pretrain_epochs": 1,
        "device": "cpu",
    }
    return TrainConfig(**{**values, **changes})


def trainer_for(config: TrainConfig) -> Trainer:
    config = config.resolved()
    data = load_data(config.dataset, config.n_train, device="cpu", data_file=config.data_file)
    return Trainer(config, data, "cpu")


# ------------------------------------------------------------------------------------------------------
# every method trains and records the ranking metrics (TPAMI Table 4)
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_on_tags_and_records_the_ranking_metrics(tag_file: str, method: str) -> None:
    config = tiny(tag_file, method=method)
    result = runs.train(config, progress=False)
    assert len(result["history"]) == 2
    for entry in result["history"]:
        for player in ("student", "teacher") if config.has_teacher else ("student",):
            for key in (*RANKING, "test_accuracy"):
                value = entry[f"{player}_{key}"]
                assert 0.0 <= value <= 1.0, (player, key, value)
        if not config.has_teacher:
            assert not any(key.startswith("teacher_") for key in entry)
        assert "student_kl_to_real" not in entry
    last = result["history"][-1]
    assert result["test_accuracy"] == last["student_test_accuracy"]
    for key in RANKING:
        assert result[key] == last[f"student_{key}"]
        if config.has_teacher:
            assert result[f"teacher_{key}"] == last[f"teacher_{key}"]


def test_evaluation_is_p_at_1_and_the_ranking_metrics_of_the_players_scores(tag_file: str) -> None:
    from advdist_lab.metrics import ranking_metrics

    trainer = trainer_for(tiny(tag_file, method="adim"))
    metrics = trainer.evaluate()
    test = trainer.data.test
    targets = test.p_r > 0
    for player, x in (("student", test.x_student), ("teacher", test.x)):
        scores = trainer._logits(getattr(trainer.players, player), x)
        top = scores.argmax(-1)
        assert metrics[f"{player}_test_accuracy"] == pytest.approx(
            float(targets[torch.arange(len(top)), top].float().mean())
        )
        for key, value in ranking_metrics(scores, targets, k=3).items():
            assert metrics[f"{player}_{key}"] == value


# ------------------------------------------------------------------------------------------------------
# text is privileged: the student never sees it
# ------------------------------------------------------------------------------------------------------


def test_the_student_scores_from_the_image_alone_and_the_teacher_reads_the_text(tag_file: str) -> None:
    trainer = trainer_for(tiny(tag_file, method="adim"))
    trainer.pretrain("teacher", 1)
    trainer.pretrain("student", 1)
    before = trainer.evaluate()
    test = trainer.data.test
    assert trainer.data.feature_dims == (D_IMAGE, D_TEXT)
    generator = torch.Generator().manual_seed(1)
    text = torch.randn(len(test), D_TEXT, generator=generator) * 3
    trainer.data.test = dataclasses.replace(test, x=torch.cat([test.x[:, :D_IMAGE], text], 1))
    after = trainer.evaluate()
    for key in (*RANKING, "test_accuracy"):
        assert after[f"student_{key}"] == before[f"student_{key}"]
    assert any(after[f"teacher_{key}"] != before[f"teacher_{key}"] for key in RANKING)


def test_the_tag_players_split_x_into_image_and_text() -> None:
    arch = build_players("tags-popular", num_classes=TAGS, input_shape=(D_IMAGE + D_TEXT,), student_shape=(D_IMAGE,))
    student, teacher, backbone = arch.student(), arch.teacher(), arch.discriminator_backbone()
    assert isinstance(teacher, ProductMLP) and isinstance(backbone, ProductMLP)
    assert (teacher.d_image, teacher.d_text) == (D_IMAGE, D_TEXT)
    assert student(torch.randn(4, D_IMAGE)).shape == (4, TAGS)
    assert teacher(torch.randn(4, D_IMAGE + D_TEXT)).shape == (4, TAGS)
    # the joint feature starts as (1 + a) * (1 + b): the projections' biases are 1
    assert torch.equal(teacher.image_projection.bias, torch.ones(256))
    assert count_parameters(teacher) == (D_IMAGE + 1) * 256 + (D_TEXT + 1) * 256 + 257 * 256 + 257 * TAGS
    explicit = build_players(
        "tags-random", num_classes=TAGS, input_shape=(28,), student_shape=(D_IMAGE,), feature_dims=(D_IMAGE, D_TEXT)
    )
    assert explicit.name == "tags-random"


@pytest.mark.parametrize(
    ("dataset", "input_shape", "student_shape", "feature_dims", "match"),
    [
        ("tags-popular", (28,), (16,), (16, 10), "feature_dims"),
        ("tags-popular", (28,), (12,), (16, 12), "feature_dims"),
        ("tags-popular", (28,), (16,), (16,), "pair"),
        ("tags-popular", (4, 7), (16,), None, r"\(d_image \+ d_text,\)"),
        ("tags-popular", (16,), (16,), None, "d_text"),
        ("digits", (1, 8, 8), (1, 8, 8), (32, 32), "only for the tag datasets"),
    ],
)
def test_bad_tag_shapes_raise(dataset, input_shape, student_shape, feature_dims, match) -> None:
    with pytest.raises(ValueError, match=match):
        build_players(
            dataset, num_classes=TAGS, input_shape=input_shape, student_shape=student_shape, feature_dims=feature_dims
        )


# ------------------------------------------------------------------------------------------------------
# real labels drawn from p_r
# ------------------------------------------------------------------------------------------------------


def test_sample_labels_draws_only_the_items_tags_uniformly() -> None:
    p_r = torch.zeros(3, 6)
    p_r[0, [1, 4]] = 0.5
    p_r[1, [0, 2, 5]] = 1 / 3
    p_r[2, 3] = 1.0
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_labels(p_r, generator) for _ in range(3000)])
    assert (p_r.gather(1, draws.T) > 0).all()
    for row, tags in ((0, [1, 4]), (1, [0, 2, 5]), (2, [3])):
        frequency = torch.bincount(draws[:, row], minlength=6).float() / len(draws)
        assert frequency[tags] == pytest.approx(torch.full((len(tags),), 1 / len(tags)), abs=0.04)


def test_training_batches_draw_their_labels_from_the_items_tags(tag_file: str) -> None:
    trainer = trainer_for(tiny(tag_file))
    train = trainer.data.train
    generator = _seeded(0, trainer.device)
    labels = []
    for index in trainer._passes(20, generator):
        batch = trainer._batch(index, generator)
        assert (train.p_r[index, batch.y] > 0).all()
        assert torch.equal(batch.x, train.x[index]) and torch.equal(batch.xs, train.x_student[index])
        labels.append(torch.stack([index, batch.y], 1))
    pairs = torch.cat(labels)
    # over 20 passes an item with several tags shows more than one of them (y is not the placeholder label)
    several = (train.p_r > 0).sum(1) >= 3
    seen = {(int(i), int(y)) for i, y in pairs}
    item = int(several.nonzero()[0])
    assert len({y for i, y in seen if i == item}) >= 2
    assert any(y != int(train.y[i]) for i, y in seen)


def test_single_label_batches_keep_their_labels_and_leave_the_generator_alone() -> None:
    config = TrainConfig(dataset="digits", n_train=30, method="adim", device="cpu").resolved()
    trainer = Trainer(config, load_data("digits", 30, device="cpu"), "cpu")
    generator = _seeded(3, trainer.device)
    state = generator.get_state()
    index = torch.arange(10)
    batch = trainer._batch(index, generator)
    assert torch.equal(batch.y, trainer.data.train.y[index])
    assert torch.equal(generator.get_state(), state)


# ------------------------------------------------------------------------------------------------------
# runs: result.json, resume, the built-in data
# ------------------------------------------------------------------------------------------------------


def test_result_json_holds_the_final_ranking_metrics_at_the_top_level(tag_file: str, tmp_path: Path) -> None:
    result = runs.train(tiny(tag_file, method="adib"), tmp_path / "run", progress=False)
    stored = json.loads((tmp_path / "run" / runs.RESULT).read_text())
    assert stored == json.loads(json.dumps(result))
    last = stored["history"][-1]
    for key in RANKING:
        assert stored[key] == last[f"student_{key}"] and stored[f"teacher_{key}"] == last[f"teacher_{key}"]
    assert stored["test_accuracy"] == last["student_test_accuracy"]
    assert stored["config"]["data_file"] == tag_file and stored["config"]["dataset"] == "tags-popular"


def test_an_interrupted_tag_run_resumes_to_the_same_history(tag_file: str, tmp_path: Path) -> None:
    config = tiny(tag_file, method="adim", epochs=3)
    reference = runs.train(config, progress=False)
    stop = threading.Event()
    stopped = runs.train(config, tmp_path, progress=False, stop=stop, callback=lambda entry: stop.set())
    assert stopped["status"] == "stopped" and len(stopped["history"]) == 1
    resumed = runs.train(config, tmp_path, progress=False, resume=True)
    assert resumed["history"] == reference["history"]
    for key in ("test_accuracy", *RANKING, *(f"teacher_{k}" for k in RANKING)):
        assert resumed[key] == reference[key]


def test_a_run_on_the_built_in_tag_data(tmp_path: Path) -> None:
    config = TrainConfig(
        method="distn",
        dataset="tags-random",
        n_train=150,
        epochs=1,
        teacher_pretrain_epochs=1,
        device="cpu",
    )
    result = runs.train(config, progress=False, teacher_cache=tmp_path)
    entry = result["history"][0]
    assert {f"student_{k}" for k in RANKING} <= set(entry) and "teacher_map" in result
    assert result["config"]["batch_size"] == 100 and result["config"]["lr_student"] == TAG_LR
    # the pretrained teacher is cached and reused
    again = runs.train(config, progress=False, teacher_cache=tmp_path)
    assert again["history"] == result["history"]
    assert len(list(tmp_path.glob("teacher-*.pt"))) == 1


# ------------------------------------------------------------------------------------------------------
# TrainConfig on the tag datasets
# ------------------------------------------------------------------------------------------------------


def test_tag_defaults(tag_file: str) -> None:
    adim = TrainConfig(dataset="tags-popular", n_train=20000, method="adim").resolved()
    assert adim.batch_size == TAG_BATCH_SIZE and adim.lr_student == adim.lr_teacher == TAG_LR
    assert adim.student_pretrain_epochs == TAG_RUN_DEFAULTS["student_pretrain_epochs"]
    assert TrainConfig(dataset="tags-popular", n_train=50, method="mimic").resolved().batch_size == 50
    assert TrainConfig(dataset="tags-random", n_train=300, method="mimic").resolved().student_pretrain_epochs == 0
    # fewer items than tags is fine: every item has several tags and no tag needs its own item
    assert TrainConfig(dataset="tags-popular", n_train=20).n_train == 20
    # the defaults of the other datasets are untouched
    digits = TrainConfig(dataset="digits", n_train=100, method="adim").resolved()
    assert (digits.batch_size, digits.lr_student, digits.student_pretrain_epochs) == (10, 2e-3, 10)
    assert set(TAG_RUN_DEFAULTS) <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert TrainConfig(**TAG_RUN_DEFAULTS, dataset="tags-popular", n_train=20000).resolved().epochs > 0


def test_data_file_is_validated(tag_file: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data_file is only for the tag datasets tags-popular, tags-random"):
        TrainConfig(dataset="digits", data_file=tag_file)
    with pytest.raises(ValueError, match="data_file must be an existing .npz file"):
        TrainConfig(dataset="tags-popular", data_file=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="data_file must be a path"):
        TrainConfig(dataset="tags-popular", data_file=3)
    with pytest.raises(ValueError, match="n_train must be <= 20000"):
        TrainConfig(dataset="tags-popular", n_train=20001)
    # a file brings its own size: the pool limit of the generated data does not apply, load_data checks the file
    big = TrainConfig(dataset="tags-popular", n_train=20001, data_file=Path(tag_file))
    assert big.data_file == tag_file
    with pytest.raises(ValueError, match="n_train must be <= 300"):
        runs.train(big, progress=False)


def test_the_teacher_cache_key_follows_the_data_file(tag_file: str, tmp_path: Path) -> None:
    copy = tmp_path / "copy.npz"
    copy.write_bytes(Path(tag_file).read_bytes())
    key = runs.teacher_cache_key(tiny(tag_file))
    assert runs.teacher_cache_key(tiny(str(copy))) == key  # the same content
    other = generate_tag_features(
        "random", num_train=300, num_test=100, num_labels=TAGS, config=TagGeneratorConfig(vocab_size=60, num_topics=6)
    )
    assert runs.teacher_cache_key(tiny(str(save_tag_features(tmp_path / "other.npz", other)))) != key
    assert runs.teacher_cache_key(TrainConfig(dataset="tags-popular", n_train=200, device="cpu")) != key


def test_adversarial_methods_are_the_ones_with_a_pretrained_student_on_tags(tag_file: str) -> None:
    for method in METHODS:
        resolved = tiny(tag_file, method=method, student_pretrain_epochs=None).resolved()
        expected = TAG_RUN_DEFAULTS["student_pretrain_epochs"] if method in ADVERSARIAL else 0
        assert resolved.student_pretrain_epochs == expected
