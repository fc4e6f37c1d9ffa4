"""Tests of advdist_lab.hparams: valid constructions and one ValueError per broken constraint."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from advdist_lab.hparams import (
    METHODS,
    SCHEDULE_KINDS,
    DistillationWeights,
    GameHParams,
    Omega,
    TemperatureSchedule,
    check_omega,
)

# ------------------------------------------------------------------------------------------------------
# Omega
# ------------------------------------------------------------------------------------------------------


def test_omega_default_is_uniform():
    omega = Omega()
    assert omega.as_tuple() == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-15)
    assert sum(omega.as_tuple()) == pytest.approx(1.0, abs=1e-12)


def test_omega_valid_values_are_stored_as_floats():
    omega = Omega(0.2, 0.3, 0.5)
    assert omega.as_tuple() == (0.2, 0.3, 0.5)
    assert all(type(v) is float for v in omega.as_tuple())
    assert (omega.omega_r, omega.omega_s, omega.omega_t) == (0.2, 0.3, 0.5)


def test_omega_accepts_sum_within_tolerance():
    omega = Omega(0.3333333, 0.3333333, 0.3333334)
    assert sum(omega.as_tuple()) == pytest.approx(1.0, abs=1e-6)


def test_omega_from_pair_derives_teacher_weight():
    omega = Omega.from_pair(0.2, 0.3)
    assert omega.omega_t == pytest.approx(0.5, abs=1e-15)
    assert omega.as_tuple()[:2] == (0.2, 0.3)


def test_omega_from_pair_rejects_pair_summing_to_one():
    with pytest.raises(ValueError, match=r"open simplex: omega_t > 0"):
        Omega.from_pair(0.5, 0.5)


def test_omega_is_frozen():
    omega = Omega()
    with pytest.raises(AttributeError):
        omega.omega_r = 0.5  # type: ignore[misc]


def test_check_omega_accepts_sequence_and_omega():
    assert check_omega([0.1, 0.2, 0.7]) == (0.1, 0.2, 0.7)
    assert check_omega(Omega(0.1, 0.2, 0.7)) == (0.1, 0.2, 0.7)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ((0.5, 0.5, 0.2), r"open simplex: omega_r \+ omega_s \+ omega_t = 1"),
        ((0.2, 0.2, 0.2), r"open simplex: omega_r \+ omega_s \+ omega_t = 1"),
        ((0.0, 0.5, 0.5), r"open simplex: omega_r > 0"),
        ((0.5, 0.0, 0.5), r"open simplex: omega_s > 0"),
        ((0.5, 0.5, 0.0), r"open simplex: omega_t > 0"),
        ((-0.1, 0.6, 0.5), r"open simplex: omega_r > 0"),
        ((0.6, 0.6, -0.2), r"open simplex: omega_t > 0"),
        ((math.nan, 0.5, 0.5), r"omega_r must be a finite real number"),
        ((0.5, math.inf, 0.5), r"omega_s must be a finite real number"),
        ((0.5, 0.5, -math.inf), r"omega_t must be a finite real number"),
        ((True, 0.5, 0.5), r"omega_r must be a finite real number"),
        (("0.2", 0.3, 0.5), r"omega_r must be a finite real number"),
        ((0.2, None, 0.5), r"omega_s must be a finite real number"),
    ],
)
def test_omega_rejects_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        Omega(*values)
    with pytest.raises(ValueError, match=match):
        check_omega(values)


@pytest.mark.parametrize("values", [(0.5, 0.5), (0.25, 0.25, 0.25, 0.25), ()])
def test_check_omega_rejects_wrong_length(values):
    with pytest.raises(ValueError, match=r"three entries"):
        check_omega(values)


def test_check_omega_rejects_non_sequence():
    with pytest.raises(ValueError, match=r"must be a sequence"):
        check_omega(0.5)


# ------------------------------------------------------------------------------------------------------
# DistillationWeights
# ------------------------------------------------------------------------------------------------------


def test_distillation_weights_defaults_are_zero():
    w = DistillationWeights()
    assert (w.nu, w.mu, w.upsilon) == (0.0, 0.0, 0.0)


def test_distillation_weights_valid_values_become_floats():
    w = DistillationWeights(1, 0.5, 2)
    assert (w.nu, w.mu, w.upsilon) == (1.0, 0.5, 2.0)
    assert all(type(v) is float for v in (w.nu, w.mu, w.upsilon))


@pytest.mark.parametrize("name", ["nu", "mu", "upsilon"])
@pytest.mark.parametrize(
    ("value", "match"),
    [
        (-1e-9, r"must be >= 0"),
        (-2.0, r"must be >= 0"),
        (math.nan, r"must be a finite real number"),
        (math.inf, r"must be a finite real number"),
        (True, r"must be a finite real number"),
        ("1", r"must be a finite real number"),
        (None, r"must be a finite real number"),
    ],
)
def test_distillation_weights_reject_bad_values(name, value, match):
    with pytest.raises(ValueError, match=rf"{name} {match}"):
        DistillationWeights(**{name: value})


# ------------------------------------------------------------------------------------------------------
# TemperatureSchedule
# ------------------------------------------------------------------------------------------------------


def test_schedule_default_is_paper_annealing():
    sched = TemperatureSchedule()
    assert (sched.start, sched.end, sched.kind) == (10.0, 0.1, "exponential")


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_schedule_every_kind_first_and_last_step(kind):
    total = 20
    if kind == "constant":
        sched = TemperatureSchedule.constant(2.5)
        assert sched.at(0, total) == 2.5
        assert sched.at(total - 1, total) == 2.5
        assert sched.values(total) == [2.5] * total
        return
    sched = TemperatureSchedule(start=10.0, end=0.1, kind=kind)
    assert sched.at(0, total) == pytest.approx(10.0, rel=1e-12)
    last = sched.at(total - 1, total)
    if kind == "step":
        assert last == pytest.approx(max(0.1, 10.0 * 0.88 ** (total - 1)), rel=1e-12)
    else:
        assert last == pytest.approx(0.1, rel=1e-12)
    values = sched.values(total)
    assert len(values) == total
    assert values[0] == sched.at(0, total)
    assert values[-1] == last


def test_schedule_exponential_is_geometric_and_decreasing():
    total = 50
    sched = TemperatureSchedule(10.0, 0.1, "exponential")
    values = sched.values(total)
    assert all(b < a for a, b in pairwise(values))
    ratios = [b / a for a, b in pairwise(values)]
    expected_ratio = (0.1 / 10.0) ** (1 / (total - 1))
    assert ratios == pytest.approx([expected_ratio] * (total - 1), rel=1e-12)
    assert values[(total - 1) // 2] == pytest.approx(10.0 * 0.01 ** ((total - 1) // 2 / (total - 1)), rel=1e-12)


def test_schedule_linear_midpoint_and_decrease():
    sched = TemperatureSchedule(10.0, 2.0, "linear")
    values = sched.values(5)
    assert values == pytest.approx([10.0, 8.0, 6.0, 4.0, 2.0], abs=1e-12)
    assert all(b < a for a, b in pairwise(values))


@pytest.mark.parametrize("every", [1, 3, 7])
def test_schedule_step_matches_kdgan_rule(every):
    sched = TemperatureSchedule(start=10.0, end=0.1, kind="step", factor=0.88, every=every)
    total = 300
    values = sched.values(total)
    expected = [max(0.1, 10.0 * 0.88 ** (k // every)) for k in range(total)]
    assert values == pytest.approx(expected, rel=1e-12)
    assert values[every - 1] == 10.0
    assert values[every] == pytest.approx(8.8, rel=1e-12)
    assert min(values) == 0.1  # 10 * 0.88 ** 37 < 0.1: the floor is reached within 300 steps
    assert all(b <= a for a, b in pairwise(values))


def test_schedule_step_factor_one_is_constant():
    sched = TemperatureSchedule(start=3.0, end=0.1, kind="step", factor=1.0)
    assert sched.values(10) == [3.0] * 10


def test_schedule_single_step_run():
    # A run of one step starts where every kind starts: tau = start.
    for kind in ("exponential", "linear", "step"):
        assert TemperatureSchedule(10.0, 0.1, kind).at(0, 1) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": 0.0}, r"tau start must be > 0"),
        ({"start": -1.0}, r"tau start must be > 0"),
        ({"end": 0.0}, r"tau end must be > 0"),
        ({"end": -0.1}, r"tau end must be > 0"),
        ({"start": math.nan}, r"tau start must be a finite real number"),
        ({"end": math.inf}, r"tau end must be a finite real number"),
        ({"start": True}, r"tau start must be a finite real number"),
        ({"start": "10"}, r"tau start must be a finite real number"),
        ({"kind": "cosine"}, r"kind must be one of constant, exponential, linear, step"),
        ({"kind": "constant", "start": 1.0, "end": 2.0}, r"constant temperature schedule needs end == start"),
        ({"kind": "constant"}, r"constant temperature schedule needs end == start"),
        ({"factor": 0.0}, r"factor must be in \(0, 1\]"),
        ({"factor": -0.5}, r"factor must be in \(0, 1\]"),
        ({"factor": 1.01}, r"factor must be in \(0, 1\]"),
        ({"factor": math.nan}, r"factor must be a finite real number"),
        ({"every": 0}, r"every must be an integer >= 1"),
        ({"every": 1.5}, r"every must be an integer >= 1"),
        ({"every": True}, r"every must be an integer >= 1"),
    ],
)
def test_schedule_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TemperatureSchedule(**kwargs)


@pytest.mark.parametrize("tau", [0.0, -1.0, math.nan])
def test_schedule_constant_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match=r"tau start must be"):
        TemperatureSchedule.constant(tau)


@pytest.mark.parametrize(
    ("step", "total", "match"),
    [
        (10, 10, r"step must be an integer in \[0, total\)"),
        (11, 10, r"step must be an integer in \[0, total\)"),
        (-1, 10, r"step must be an integer in \[0, total\)"),
        (1.0, 10, r"step must be an integer in \[0, total\)"),
        (True, 10, r"step must be an integer in \[0, total\)"),
        (0, 0, r"total must be an integer >= 1"),
        (0, -3, r"total must be an integer >= 1"),
        (0, 2.0, r"total must be an integer >= 1"),
    ],
)
def test_schedule_at_rejects_out_of_range(step, total, match):
    with pytest.raises(ValueError, match=match):
        TemperatureSchedule().at(step, total)


@pytest.mark.parametrize("total", [0, -1, 1.5])
def test_schedule_values_rejects_bad_total(total):
    with pytest.raises(ValueError, match=r"total must be an integer >= 1"):
        TemperatureSchedule().values(total)


# ------------------------------------------------------------------------------------------------------
# GameHParams
# ------------------------------------------------------------------------------------------------------


def test_game_hparams_default_is_adim_uniform():
    hp = GameHParams()
    assert hp.method == "adim"
    assert hp.omega == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-15)
    assert (hp.nu, hp.mu, hp.upsilon) == (0.0, 0.0, 0.0)
    assert hp.tau == TemperatureSchedule()


@pytest.mark.parametrize("method", METHODS)
def test_game_hparams_defaults_per_method(method):
    hp = GameHParams(method)
    assert hp.method == method
    assert (hp.nu, hp.mu, hp.upsilon) == (0.0, 0.0, 0.0)
    assert isinstance(hp.tau, TemperatureSchedule)
    if method == "adim":
        assert hp.omega == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-15)
        assert sum(hp.omega) == pytest.approx(1.0, abs=1e-12)
    elif method == "adib":
        assert hp.omega_r is None
        assert hp.omega == (0.5, 0.5)
        assert (hp.omega_s, hp.omega_t) == (0.5, 0.5)
    else:
        assert hp.omega is None
        assert (hp.omega_r, hp.omega_s, hp.omega_t) == (None, None, None)


def test_game_hparams_adim_explicit_weights():
    hp = GameHParams("adim", 0.2, 0.3, 0.5, nu=1, mu=0.5, upsilon=2)
    assert hp.omega == (0.2, 0.3, 0.5)
    assert (hp.nu, hp.mu, hp.upsilon) == (1.0, 0.5, 2.0)
    assert type(hp.nu) is float


def test_game_hparams_adib_derives_omega_t():
    hp = GameHParams("adib", omega_s=0.3, nu=1.0, mu=2.0, upsilon=0.5)
    assert hp.omega_t == pytest.approx(0.7, abs=1e-15)
    assert hp.omega == pytest.approx((0.3, 0.7), abs=1e-15)
    assert (hp.nu, hp.mu, hp.upsilon) == (1.0, 2.0, 0.5)


def test_game_hparams_adib_explicit_pair():
    hp = GameHParams("adib", None, 0.25, 0.75)
    assert hp.omega == (0.25, 0.75)


def test_game_hparams_kd_upsilon():
    hp = GameHParams("kd", upsilon=3.0)
    assert hp.upsilon == 3.0
    assert hp.omega is None


def test_game_hparams_custom_schedule():
    sched = TemperatureSchedule.constant(1.0)
    hp = GameHParams("ngan", tau=sched)
    assert hp.tau is sched


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "gan"}, r"method must be one of kd, ngan, adib, adim"),
        ({"method": "ADIM"}, r"method must be one of"),
        ({"method": "adim", "omega_r": 0.5, "omega_s": 0.5, "omega_t": 0.2}, r"open simplex"),
        ({"method": "adim", "omega_r": 0.0, "omega_s": 0.5, "omega_t": 0.5}, r"open simplex: omega_r > 0"),
        ({"method": "adim", "omega_r": -0.2, "omega_s": 0.6, "omega_t": 0.6}, r"open simplex: omega_r > 0"),
        ({"method": "adim", "omega_r": math.nan}, r"omega_r must be a finite real number"),
        ({"method": "adim", "omega_s": True}, r"omega_s must be a finite real number"),
        ({"method": "adim", "nu": -1.0}, r"nu must be >= 0"),
        ({"method": "adim", "mu": -0.5}, r"mu must be >= 0"),
        ({"method": "adib", "upsilon": -1.0}, r"upsilon must be >= 0"),
        ({"method": "kd", "upsilon": math.inf}, r"upsilon must be a finite real number"),
        ({"method": "ngan", "omega_r": 0.3}, r"NGAN takes no omega weights \(got omega_r\)"),
        ({"method": "ngan", "omega_s": 0.5, "omega_t": 0.5}, r"NGAN takes no omega weights \(got omega_s, omega_t\)"),
        ({"method": "kd", "omega_s": 0.5}, r"KD takes no omega weights"),
        ({"method": "kd", "omega_r": 1 / 3, "omega_s": 1 / 3, "omega_t": 1 / 3}, r"KD takes no omega weights"),
        ({"method": "adib", "omega_r": 0.2}, r"ADIB has no real-data weight: omega_r must be None"),
        ({"method": "adib", "omega_s": 0.3, "omega_t": 0.3}, r"omega_s \+ omega_t = 1"),
        ({"method": "adib", "omega_s": 0.6, "omega_t": 0.6}, r"omega_s \+ omega_t = 1"),
        ({"method": "adib", "omega_s": 1.0}, r"omega_t > 0"),
        ({"method": "adib", "omega_s": 0.0, "omega_t": 1.0}, r"omega_s > 0"),
        ({"method": "adib", "omega_s": -0.5, "omega_t": 1.5}, r"omega_s > 0"),
        ({"method": "adib", "omega_s": math.nan}, r"omega_s must be a finite real number"),
        ({"method": "adim", "tau": 0.5}, r"tau must be a TemperatureSchedule"),
    ],
)
def test_game_hparams_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GameHParams(**kwargs)


def test_partly_given_omegas_are_completed_on_the_simplex():
    adib = GameHParams("adib", omega_t=0.3)
    assert (adib.omega_s, adib.omega_t) == pytest.approx((0.7, 0.3))
    adim = GameHParams("adim", omega_r=0.5)
    assert adim.omega == pytest.approx((0.5, 0.25, 0.25))
    adim2 = GameHParams("adim", omega_s=0.2, omega_t=0.3)
    assert adim2.omega == pytest.approx((0.5, 0.2, 0.3))
    with pytest.raises(ValueError, match="open simplex"):
        GameHParams("adim", omega_r=0.7, omega_s=0.4)


def test_one_element_tensors_and_arrays_count_as_numbers():
    import numpy as np
    import torch

    assert Omega(torch.tensor(0.2), np.float64(0.3), np.array([0.5])).as_tuple() == pytest.approx((0.2, 0.3, 0.5))
    with pytest.raises(ValueError, match="finite real number"):
        Omega(torch.tensor([0.2, 0.1]), 0.3, 0.5)
    with pytest.raises(ValueError, match="finite real number"):
        Omega(torch.tensor(float("nan")), 0.3, 0.5)


def test_counts_have_a_sane_upper_bound_that_the_message_explains() -> None:
    from advdist_lab.hparams import MAX_EPOCHS, check_epochs, check_iterations

    assert check_epochs("epochs", MAX_EPOCHS) == MAX_EPOCHS
    with pytest.raises(ValueError, match=r"epochs must be <= 10,000 \(got 10,001\): a sane bound on epochs"):
        check_epochs("epochs", MAX_EPOCHS + 1)
    with pytest.raises(ValueError, match="iterations must be <= 1,000,000 .*sane bound on iterations"):
        check_iterations("iterations", 10**7)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        check_epochs("epochs", -1, minimum=0)


def test_schedule_step_counts_are_bounded() -> None:
    with pytest.raises(ValueError, match=r"every must be <= 1,000,000 .*sane bound on iterations"):
        TemperatureSchedule(kind="step", every=10**7)
    with pytest.raises(ValueError, match=r"total must be <= 1,000,000 .*sane bound on iterations"):
        TemperatureSchedule().values(10**9)  # a list of 10**9 temperatures: refused before it is built
    with pytest.raises(ValueError, match=r"total must be <= 1,000,000"):
        TemperatureSchedule().at(0, 10**9)
    assert len(TemperatureSchedule().values(1000)) == 1000


# ------------------------------------------------------------------------------------------------------
# TrainConfig (advdist_lab.methods.config): hostile counts, sizes and batches refused before any work
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"epochs": 10**6}, r"epochs must be <= 10,000 \(got 1,000,000\): a sane bound on epochs"),
        ({"epochs": 0}, r"epochs must be an integer >= 1"),
        ({"teacher_pretrain_epochs": 10**5}, r"teacher_pretrain_epochs must be <= 10,000 .*sane bound on epochs"),
        ({"student_pretrain_epochs": 10**5}, r"student_pretrain_epochs must be <= 10,000 .*sane bound on epochs"),
        (
            {"discriminator_pretrain_epochs": 10**5},
            r"discriminator_pretrain_epochs must be <= 10,000 .*sane bound on epochs",
        ),
        ({"teacher_pretrain_epochs": -1}, r"teacher_pretrain_epochs must be an integer >= 0"),
        ({"k_d": 10**7}, r"k_d must be <= 1,000,000 .*sane bound on iterations"),
        ({"k_t": 10**7}, r"k_t must be <= 1,000,000 .*sane bound on iterations"),
        ({"k_s": 10**7}, r"k_s must be <= 1,000,000 .*sane bound on iterations"),
        ({"k_s": -1}, r"k_s must be an integer >= 0"),
        ({"tau_schedule": "step", "tau_every": 10**7}, r"every must be <= 1,000,000"),
        ({"n_train": 1298}, r"n_train must be <= 1297, the size of the digits training pool"),
        ({"dataset": "mnist", "n_train": 60001}, r"n_train must be <= 60000, the size of the mnist training pool"),
        ({"dataset": "tags-random", "n_train": 20001}, r"n_train must be <= 20000"),
    ],
)
def test_train_config_refuses_counts_beyond_their_bounds(changes: dict, match: str) -> None:
    from advdist_lab.methods import TrainConfig

    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


def test_train_config_accepts_counts_at_their_bounds() -> None:
    from advdist_lab.hparams import MAX_EPOCHS, MAX_ITERATIONS
    from advdist_lab.methods import TrainConfig

    config = TrainConfig(epochs=MAX_EPOCHS, teacher_pretrain_epochs=0, k_d=MAX_ITERATIONS, n_train=1297)
    assert config.epochs == MAX_EPOCHS and config.k_d == MAX_ITERATIONS


def test_a_batch_larger_than_the_memory_is_refused_before_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from advdist_lab import environment
    from advdist_lab.methods import TrainConfig
    from advdist_lab.methods.config import batch_memory_bytes

    # digits: 1,000 x 64 numbers x 4 bytes x 45 (the teacher LeNet's activations per input byte) = 11.0 MiB
    assert batch_memory_bytes("digits", 1000, 64) == 1000 * 64 * 4 * 45
    assert batch_memory_bytes("digits", 1000, 64, autocast=True) == 1000 * 64 * 4 * 45 // 2
    config = TrainConfig(dataset="digits", n_train=1000, batch_size=1000, device="cpu")
    monkeypatch.setattr(environment, "available_memory", lambda device="cpu": 8 * 2**20)
    with pytest.raises(
        ValueError, match=r"--batch-size needs about 11.0 MiB but only 8.0 MiB is available on cpu: choose a smaller"
    ):
        config.resolved().check_memory()
    assert config.resolved().batch_size == 1000  # resolving (planning) does not depend on the machine
    assert TrainConfig(dataset="digits", n_train=1000, batch_size=500, device="cpu").resolved().check_memory()
    monkeypatch.setattr(environment, "available_memory", lambda device="cpu": None)  # unknown: not refused
    assert config.resolved().check_memory().batch_size == 1000
    with pytest.raises(ValueError, match="batch_size must be a"):
        batch_memory_bytes("digits", 0, 64)


def test_the_memory_check_follows_the_device_and_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from advdist_lab import environment
    from advdist_lab.methods import TrainConfig
    from advdist_lab.methods.config import bf16_autocast

    asked = []
    monkeypatch.setattr(environment, "available_memory", lambda device="cpu": asked.append(str(device)) or 2**40)
    TrainConfig(dataset="digits", device="cpu").resolved().check_memory()
    assert asked == ["cpu"]
    if not torch.cuda.is_available():  # a device this machine lacks is not measured: the run refuses it itself
        TrainConfig(dataset="digits", device="cuda").resolved().check_memory()
        assert asked == ["cpu"]
    assert bf16_autocast("auto", torch.device("cuda")) and bf16_autocast("bf16", torch.device("cpu"))
    assert not bf16_autocast("auto", torch.device("cpu")) and not bf16_autocast("fp32", torch.device("cuda"))


def test_n_train_beyond_a_data_file_is_refused_when_resolved(tmp_path) -> None:
    import numpy as np

    from advdist_lab.methods import TrainConfig

    path = tmp_path / "tags.npz"
    rows = np.eye(4, dtype=np.uint8)[np.arange(20) % 4]
    np.savez(path, image=np.ones((20, 3)), text=np.ones((20, 2)), tags=rows, split=(np.arange(20) >= 15))
    config = TrainConfig(dataset="tags-popular", n_train=16, data_file=str(path))  # a file brings its own size
    with pytest.raises(ValueError, match=r"n_train must be <= 15, the size of the training rows of data_file"):
        config.resolved()
    assert config.replace(n_train=15).resolved().n_train == 15


def test_train_refuses_a_batch_beyond_the_memory_before_it_makes_the_run_folder(tmp_path, monkeypatch) -> None:
    from advdist_lab import cli, environment

    monkeypatch.setattr(environment, "available_memory", lambda device="cpu": 2**20)
    out = tmp_path / "run"
    argv = ["train", "--method", "mimic", "--n-train", "1000", "--batch-size", "1000", "--device", "cpu"]
    assert cli.main([*argv, "--no-progress", "--out", str(out)]) == 2
    assert not out.exists()
