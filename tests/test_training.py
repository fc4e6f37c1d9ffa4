"""Tests of the training engine: TrainConfig validation and defaults, every method, and the shared loop.

Runs are tiny (digits, n = 30, 2 epochs, one pretraining epoch) and single-threaded: they check behaviour, not
accuracy, except for one check that the pretrained teacher learns.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch
from tiny_configs import TINY, tiny  # tests/ is on sys.path

from advdist_lab.data import load_data
from advdist_lab.experiments.table1 import plan
from advdist_lab.methods import ADVERSARIAL, METHODS, StepContext, TrainConfig, default_batch_size, get_method
from advdist_lab.methods.config import PAPER_LR, SMALL_DATA_LR
from advdist_lab.methods.loop import Trainer
from advdist_lab.runs import training
from advdist_lab.runs.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits30():
    return load_data("digits", 30, device="cpu")


# ------------------------------------------------------------------------------------------------------
# Bad hyperparameters fail before any training, with one ValueError naming the constraint
# ------------------------------------------------------------------------------------------------------

BAD = [
    ({"method": "foo"}, "method must be one of"),
    ({"dataset": "imagenet"}, "dataset must be one of"),
    ({"n_train": 5000}, r"n_train must be <= 1297"),
    ({"method": "adim", "omega_r": 0.5, "omega_s": 0.5, "omega_t": 0.5}, "simplex"),
    ({"method": "adib", "omega_r": 0.2}, "omega_r must not be set"),
    ({"method": "adib", "omega_s": 0.5, "omega_t": 0.7}, "omega_s"),
    ({"method": "mimic", "omega_s": 0.5}, "mimic takes no omega weights"),
    ({"nu": -1.0}, "nu must be >= 0"),
    ({"mu": -0.1}, "mu must be >= 0"),
    ({"upsilon": -2.0}, "upsilon must be >= 0"),
    ({"tau_start": 0.0}, "tau start must be > 0"),
    ({"tau_start": -1.0}, "tau start must be > 0"),
    ({"tau_end": 0.0}, "tau end must be > 0"),
    ({"estimator": "foo"}, "estimator must be one of"),
    ({"method": "adim-ngs", "estimator": "pathwise"}, "estimator must be 'score'"),
    ({"batch_size": 31}, "batch_size must be <= n_train = 30"),
    ({"method": "ngan", "k_d": 0}, "k_d must be >= 1"),
    ({"method": "mimic", "k_t": 1}, "k_t must be 0"),
    ({"method": "mimic", "k_d": 1}, "k_d must be 0"),
    ({"k_s": 0}, "k_s must be >= 1"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"device": "tpu"}, "device must be"),
    ({"lr_student": 0.0}, "lr_student must be > 0"),
    ({"distn_alpha": 1.5}, r"distn_alpha must be in \[0, 1\]"),
    ({"method": "mimic", "discriminator_pretrain_epochs": 1}, "discriminator_pretrain_epochs must be 0"),
    ({"discriminator_pretrain_epochs": -1}, "discriminator_pretrain_epochs must be an integer >= 0"),
    ({"n_train": 5}, "n_train must be >= 10"),
]


@pytest.mark.parametrize(("changes", "match"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_hyperparameters_fail_before_training(changes, match, tmp_path, monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(training, "Trainer", no_training)
    out = tmp_path / "run"
    started = time.perf_counter()
    with pytest.raises(ValueError, match=match) as info:
        train(tiny(**changes), out, progress=False)
    assert time.perf_counter() - started < 1.0
    assert "\n" not in str(info.value)  # one clear line
    assert not out.exists()


@pytest.mark.parametrize(("changes", "match"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_hyperparameters_fail_in_config_validation(changes, match) -> None:
    """The config alone (construction + resolved()) catches them: no data needed, so table1 can plan ahead."""
    with pytest.raises(ValueError, match=match):
        tiny(**changes).resolved()


def test_table1_plan_validates_every_size_before_training() -> None:
    with pytest.raises(ValueError, match="n_train must be >= 10"):
        plan("digits", ("mimic",), (30, 5), 1, epochs=1)


def test_from_dict_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown hyperparameters: bogus, omega"):
        TrainConfig.from_dict({"method": "adim", "omega": 0.3, "bogus": 1})
    config = tiny(method="adib", omega_s=0.25)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig.from_dict(config.resolved().to_dict()) == config.resolved()


# ------------------------------------------------------------------------------------------------------
# Defaults (resolved)
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_resolved_leaves_no_none(method) -> None:
    resolved = tiny(method=method, student_pretrain_epochs=None).resolved()
    values = resolved.to_dict()
    for name in ("batch_size", "lr_student", "lr_teacher", "k_d", "k_t", "k_s", "student_pretrain_epochs"):
        assert values[name] is not None, name
    assert (values["estimator"] is not None) == (method in ADVERSARIAL)
    has_omega = method in ("adib", "adim", "adim-ngs")
    assert (values["omega_s"] is not None and values["omega_t"] is not None) == has_omega
    assert (values["omega_r"] is not None) == (method in ("adim", "adim-ngs"))
    assert values["k_d"] == (1 if method in ADVERSARIAL else 0)
    assert values["k_t"] == (1 if method in ("codis", "adib", "adim", "adim-ngs") else 0)
    assert values["k_s"] == 1
    assert values["student_pretrain_epochs"] == (10 if method in ADVERSARIAL else 0)
    assert resolved.resolved() == resolved  # idempotent


def test_resolved_defaults_for_adim_and_adib() -> None:
    adim = tiny(method="adim").resolved()
    assert (adim.omega_r, adim.omega_s, adim.omega_t) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert adim.estimator == "straight_through"
    partial = tiny(method="adim", omega_r=0.5).resolved()
    assert (partial.omega_r, partial.omega_s, partial.omega_t) == pytest.approx((0.5, 0.25, 0.25))
    adib = tiny(method="adib").resolved()
    assert (adib.omega_r, adib.omega_s, adib.omega_t) == (None, 0.5, 0.5)
    adib = tiny(method="adib", omega_s=0.3).resolved()
    assert (adib.omega_s, adib.omega_t) == pytest.approx((0.3, 0.7))
    assert tiny(method="adim-ngs").resolved().estimator == "score"
    assert tiny(method="adim-ngs", estimator="score").resolved().estimator == "score"
    assert tiny(method="adim", estimator="pathwise").resolved().estimator == "pathwise"
    assert tiny(method="mimic").resolved().estimator is None


def test_resolved_learning_rate_and_batch_size_by_dataset() -> None:
    digits = tiny(n_train=100).resolved()
    assert digits.lr_student == digits.lr_teacher == SMALL_DATA_LR == 2e-3
    mnist = TrainConfig(dataset="mnist", n_train=100).resolved()  # no data needed
    assert mnist.lr_student == mnist.lr_teacher == PAPER_LR == 5e-4
    assert mnist.lr_discriminator == 1e-3
    assert mnist.batch_size == 10
    assert TrainConfig(dataset="mnist", n_train=1000).resolved().batch_size == 50
    assert TrainConfig(dataset="mnist", n_train=50000).resolved().batch_size == 100
    assert tiny(lr_student=1e-4).resolved().lr_student == 1e-4
    assert tiny(batch_size=7).resolved().batch_size == 7
    assert [default_batch_size(n) for n in (5, 100, 101, 1000, 1001)] == [5, 10, 50, 50, 100]


def test_get_method_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        get_method("foo")
    assert {get_method(m).name for m in METHODS} == set(METHODS)


# ------------------------------------------------------------------------------------------------------
# Every method trains
# ------------------------------------------------------------------------------------------------------

TEACHER_TRAINED = ("codis", "adib", "adim", "adim-ngs")
PARTS = ("adversarial", "distillation", "supervised")
EXPECTED_LOSSES = {
    "mimic": {"student_loss", "student_distillation"},
    "noisy": {"student_loss", "student_distillation"},
    "distn": {"student_loss", "student_distillation", "student_supervised"},
    "codis": {
        "teacher_loss",
        "teacher_distillation",
        "teacher_supervised",
        "student_loss",
        "student_distillation",
        "student_supervised",
    },
    "ngan": {"discriminator_loss", "student_loss", "student_adversarial"},
    "student": {"student_loss", "student_supervised"},  # the student alone: no teacher, no discriminator
}
for _name in ("adib", "adim", "adim-ngs"):
    EXPECTED_LOSSES[_name] = {
        "discriminator_loss",
        "teacher_loss",
        "teacher_adversarial",
        "teacher_distillation",
        "student_loss",
        "student_adversarial",
        "student_distillation",
    }


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_two_epochs(method) -> None:
    result = train(tiny(method=method), progress=False)
    history = result["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    for entry in history:
        losses = {k for k in entry if k.split("_")[0] in ("student", "teacher", "discriminator")}
        losses -= {"student_test_accuracy", "teacher_test_accuracy"}
        assert losses == EXPECTED_LOSSES[method]
        assert ("discriminator_loss" in entry) == (method in ADVERSARIAL)
        assert ("teacher_loss" in entry) == (method in TEACHER_TRAINED)
        assert ("student_adversarial" in entry) == (method in ADVERSARIAL)
        assert ("student_distillation" in entry) == (method not in ("ngan", "student"))
        assert ("teacher_test_accuracy" in entry) == (method not in ("ngan", "student"))
        for key, value in entry.items():
            assert math.isfinite(value), key
        assert 0 <= entry["student_test_accuracy"] <= 1
        # each player's loss is the sum of its parts
        for player in ("student", "teacher"):
            parts = [entry[k] for k in entry if k.startswith(player + "_") and k.split("_", 1)[1] in PARTS]
            if parts:
                assert entry[f"{player}_loss"] == pytest.approx(sum(parts), rel=1e-4, abs=1e-5)
    assert result["test_accuracy"] == history[-1]["student_test_accuracy"]
    assert result["status"] == "finished"
    assert result["device"] == "cpu"
    assert result["config"]["method"] == method


def test_discriminator_pretraining() -> None:
    result = train(tiny(method="ngan", discriminator_pretrain_epochs=2), progress=False)
    assert set(result["pretraining"]) == {"student", "discriminator"}
    assert result["pretraining"]["discriminator"]["epochs"] == 2
    assert math.isfinite(result["pretraining"]["discriminator"]["final_loss"])
    assert result["history"] != train(tiny(method="ngan"), progress=False)["history"]


def test_tau_is_annealed_from_start_to_end() -> None:
    result = train(tiny(method="ngan", epochs=3, tau_start=4.0, tau_end=0.25), progress=False)
    assert [entry["tau"] for entry in result["history"]] == pytest.approx([4.0, 1.0, 0.25])


@pytest.mark.parametrize("estimator", ["score", "pathwise", "straight_through"])
def test_adim_trains_with_every_estimator(estimator) -> None:
    result = train(tiny(method="adim", estimator=estimator), progress=False)
    assert result["config"]["estimator"] == estimator
    for entry in result["history"]:
        assert all(math.isfinite(v) for v in entry.values())


def test_adim_ngs_is_adim_with_the_score_function() -> None:
    ngs = train(tiny(method="adim-ngs"), progress=False)
    score = train(tiny(method="adim", estimator="score"), progress=False)
    gumbel = train(tiny(method="adim"), progress=False)
    assert ngs["config"]["estimator"] == "score"
    assert ngs["history"] == score["history"]
    assert ngs["history"] != gumbel["history"]


def test_same_seed_same_history_different_seed_different() -> None:
    a = train(tiny(method="adib"), progress=False)
    b = train(tiny(method="adib"), progress=False)
    c = train(tiny(method="adib", seed=1), progress=False)
    assert a["history"] == b["history"]
    assert a["test_accuracy"] == b["test_accuracy"]
    assert a["history"] != c["history"]


# ------------------------------------------------------------------------------------------------------
# The players' steps (Algorithm 1): each step moves its own player only
# ------------------------------------------------------------------------------------------------------


def _trainer(digits30, **changes) -> tuple[Trainer, StepContext]:
    config = tiny(**changes).resolved()
    trainer = Trainer(config, digits30, "cpu")
    ctx = StepContext(tau=1.0, generator=torch.Generator().manual_seed(0), config=config, num_classes=10)
    return trainer, ctx


def _snapshot(trainer: Trainer) -> dict[str, list[torch.Tensor]]:
    return {name: [p.detach().clone() for p in module.parameters()] for name, module in trainer.players.items()}


def _changed(trainer: Trainer, before: dict[str, list[torch.Tensor]]) -> dict[str, bool]:
    return {
        name: any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters()))
        for name, module in trainer.players.items()
    }


def _grads_written(trainer: Trainer) -> dict[str, bool]:
    return {name: any(p.grad is not None for p in module.parameters()) for name, module in trainer.players.items()}


CASES = [
    ("ngan", None),
    ("adib", None),
    ("adim", "score"),
    ("adim", "pathwise"),
    ("adim", "straight_through"),
    ("codis", None),
    ("mimic", None),
]


@pytest.mark.parametrize(("method", "estimator"), CASES)
def test_each_step_changes_only_its_player(digits30, method, estimator) -> None:
    trainer, ctx = _trainer(digits30, method=method, estimator=estimator)
    batch = trainer._batch(torch.arange(10), ctx.generator)
    players = [name for name, _ in trainer.players.items()]
    steps = [p for p in ("discriminator", "teacher", "student") if p in players]
    if method == "mimic":
        steps = ["student"]  # its teacher is frozen after pretraining
    for player in steps:
        before = _snapshot(trainer)
        if player == "discriminator":
            loss = trainer.method.discriminator_loss(trainer.players, batch, ctx)
        else:
            loss = getattr(trainer.method, f"{player}_loss")(trainer.players, batch, ctx).total
        trainer._step(player, loss)
        changed = _changed(trainer, before)
        written = _grads_written(trainer)
        assert changed[player], f"the {player} step did not change the {player}"
        for other in players:
            if other != player:
                assert not changed[other], f"the {player} step changed the {other}"
        # no gradient leaks into another player (it would be applied by that player's next step)
        for other in players:
            if other != player:
                assert not written[other], f"the {player} step wrote gradients into the {other}"
        for _, module in trainer.players.items():
            module.zero_grad(set_to_none=True)


@pytest.mark.parametrize("method", ["ngan", "adim"])
def test_discriminator_steps_increase_its_value_on_a_fixed_batch(digits30, method) -> None:
    trainer, ctx = _trainer(digits30, method=method)
    batch = trainer._batch(torch.arange(20), ctx.generator)
    losses = []
    for _ in range(15):
        ctx.generator.manual_seed(1)  # the same generated labels every step: a fixed objective
        loss = trainer.method.discriminator_loss(trainer.players, batch, ctx)
        losses.append(float(loss.detach()))
        trainer._step("discriminator", loss)
    assert losses[-1] < losses[0] - 0.01


def test_pretrained_teacher_is_well_above_chance() -> None:
    config = TrainConfig(method="mimic", dataset="digits", n_train=100, device="cpu").resolved()
    trainer = Trainer(config, load_data("digits", 100, device="cpu"), "cpu")
    before = trainer.evaluate()["teacher_test_accuracy"]
    losses = trainer.pretrain("teacher", 5)
    after = trainer.evaluate()["teacher_test_accuracy"]
    assert losses[-1] < losses[0]
    assert before < 0.3
    assert after > 0.5


def test_trainer_needs_a_resolved_config(digits30) -> None:
    with pytest.raises(ValueError, match="resolved"):
        Trainer(tiny(), digits30, "cpu")


def test_pretrain_refuses_a_missing_player(digits30) -> None:
    trainer, _ = _trainer(digits30, method="ngan")
    with pytest.raises(ValueError, match="ngan has no teacher"):
        trainer.pretrain("teacher", 1)


def test_checkpoint_refuses_other_players(digits30) -> None:
    ngan, _ = _trainer(digits30, method="ngan")
    adim, _ = _trainer(digits30, method="adim")
    with pytest.raises(ValueError, match="checkpoint holds players"):
        adim.load_state_dict(ngan.state_dict())


def test_train_refuses_a_config_that_is_not_a_trainconfig(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        train(dict(TINY), tmp_path / "run")


def test_applicable_keeps_only_the_options_a_method_takes() -> None:
    from advdist_lab.methods.config import applicable

    options = {"k_d": 20, "k_t": 10, "k_s": 10, "omega_r": 0.2, "omega_s": 0.4, "estimator": "pathwise", "nu": 2.0}
    assert applicable("mimic", options) == {"k_s": 10, "nu": 2.0}
    assert applicable("adib", options) == {
        "k_d": 20,
        "k_t": 10,
        "k_s": 10,
        "omega_s": 0.4,
        "estimator": "pathwise",
        "nu": 2.0,
    }
    assert applicable("adim-ngs", options) == {k: v for k, v in options.items() if k != "estimator"}
    for method in METHODS:  # what applicable keeps, resolved() accepts
        TrainConfig(method=method, **applicable(method, {**options, "omega_s": 0.3, "omega_r": None})).resolved()


def test_method_flags_match_the_players() -> None:
    for method in METHODS:
        spec = get_method(method)
        assert spec.student_adversarial == (method in ADVERSARIAL)
        assert (spec.discriminator_kind is not None) == (method in ADVERSARIAL)
        assert spec.discriminator_kind in (None, "binary", "multiclass")
    assert get_method("adim").discriminator_kind == get_method("adim-ngs").discriminator_kind == "multiclass"
    assert get_method("adib").discriminator_kind == get_method("ngan").discriminator_kind == "binary"


# ------------------------------------------------------------------------------------------------------
# Evaluation cadence (eval_every): the same training, fewer test evaluations
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["distn", "adim"])
def test_eval_every_changes_no_bit_of_training_and_keeps_the_final_accuracy(method: str) -> None:
    every = train(tiny(method=method, epochs=5), progress=False)
    sparse = train(tiny(method=method, epochs=5, eval_every=2), progress=False)
    assert [e["epoch"] for e in sparse["history"] if "student_test_accuracy" in e] == [2, 4, 5]  # and the last
    for dense, thin in zip(every["history"], sparse["history"]):
        assert {k: v for k, v in dense.items() if k in thin} == thin  # losses and tau bit-identical
        if "student_test_accuracy" in thin:
            assert thin["student_test_accuracy"] == dense["student_test_accuracy"]
        else:
            assert not any(k.endswith("test_accuracy") for k in thin)
    assert sparse["test_accuracy"] == every["test_accuracy"]
    assert sparse["teacher_test_accuracy"] == every["teacher_test_accuracy"]


def test_eval_every_stopped_and_resumed_run_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    import threading

    out, stop = tmp_path / "run", threading.Event()
    stopped = train(tiny(epochs=5, eval_every=2), out, progress=False, stop=stop, callback=lambda e: stop.set())
    assert stopped["status"] == "stopped" and len(stopped["history"]) == 1
    assert "student_test_accuracy" not in stopped["history"][0]  # epoch 1 is not evaluated ...
    assert 0 <= stopped["test_accuracy"] <= 1  # ... but the stopped result still says where the student stands
    resumed = train(tiny(epochs=5, eval_every=2), out, resume=True, progress=False)
    assert resumed["history"] == train(tiny(epochs=5, eval_every=2), progress=False)["history"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_eval_every_is_validated(bad) -> None:
    with pytest.raises(ValueError, match="eval_every"):
        tiny(eval_every=bad)
