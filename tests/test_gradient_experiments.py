"""Tests of :mod:`advdist_lab.experiments.gradients`: the configs of Figs. 5 and 7 and the readers of their runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from advdist_lab import probes
from advdist_lab.experiments import gradients as ge

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"dataset": "digits", "n_train": 30, "epochs": 2, "teacher_pretrain_epochs": 1, "student_pretrain_epochs": 0}


def fake(method: str, seed: int, accuracies, cosines=None, omega=None, adversarial=None, total=None) -> dict:
    history = []
    for i, acc in enumerate(accuracies):
        entry = {"epoch": i + 1, "tau": 10.0 / (i + 1), "student_test_accuracy": acc, "teacher_test_accuracy": 0.9}
        if cosines is not None:
            entry["grad_cosine"] = cosines[i]
            entry["teacher_grad_cosine"] = -cosines[i]
        if adversarial is not None:
            entry["grad_var_adversarial"] = adversarial[i]
            entry["grad_var_total"] = total[i]
        history.append(entry)
    config = {"method": method, "seed": seed, "omega_s": omega or 1 / 3, "omega_t": omega or 1 / 3}
    return {"config": config, "history": history, "test_accuracy": accuracies[-1]}


def test_method_configs_are_probed_and_take_only_applicable_overrides():
    configs = ge.method_configs(("ngan", "adim"), 2, k_t=1, **TINY)
    assert [(c.method, c.seed) for c in configs] == [("ngan", 0), ("ngan", 1), ("adim", 0), ("adim", 1)]
    assert all(c.probe_gradients for c in configs)
    assert configs[0].k_t is None and configs[2].k_t == 1  # NGAN trains no teacher: k_t not applied


def test_omega_configs_stay_on_the_simplex():
    for player, name in (("student", "omega_s"), ("teacher", "omega_t")):
        configs = ge.omega_configs(player, (1 / 8, 3 / 4), 1, **TINY)
        for config, omega in zip(configs, (1 / 8, 3 / 4), strict=True):
            resolved = config.resolved()
            assert getattr(resolved, name) == omega
            assert resolved.omega_r + resolved.omega_s + resolved.omega_t == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"omega_s must be in \(0, 1\)"):
        ge.omega_configs("student", (2.0,), 1)
    with pytest.raises(ValueError, match="set by the sweep"):
        ge.omega_configs("teacher", (0.5,), 1, omega_r=0.2)
    with pytest.raises(ValueError, match="player must be one of"):
        ge.omega_configs("discriminator", (0.5,), 1)


def test_folders_separate_methods_weights_and_seeds():
    configs = [
        *ge.method_configs(("adim", "adim-ngs"), 2, **TINY),
        *ge.omega_configs("student", (0.25, 0.5), 2, **TINY),
    ]
    folders = [ge.folder("out", c) for c in configs]
    assert len(set(folders)) == len(folders)
    assert folders[0] == Path("out/adim/n30/seed0")


def test_a_probed_sweep_trains_and_is_read_back(tmp_path: Path):
    configs = ge.omega_configs("student", (0.25, 0.5), 1, **TINY)
    results = ge.run(configs, tmp_path, jobs=1, progress=False)
    rows = ge.cosine_vs_omega(results, "student")
    assert [row["omega"] for row in rows] == [0.25, 0.5]
    assert all(-1 <= row["cosine"] <= 1 and row["seeds"] == 1 for row in rows)
    curves = ge.variance_curves(results)
    assert set(curves["adim"]) == {"adversarial", "distillation", "total", "tau"}
    assert all(v >= 0 for v in curves["adim"]["adversarial"])
    assert ge.run(configs, tmp_path, jobs=1, progress=False) == results


def test_cosine_vs_omega_averages_over_epochs_and_seeds():
    results = [
        fake("adim", 0, [0.5, 0.6], cosines=[0.2, 0.4], omega=0.5),
        fake("adim", 1, [0.5, 0.8], cosines=[0.0, 0.2], omega=0.5),
        fake("adim", 0, [0.5, 0.6], cosines=[-0.5, 0.5], omega=0.25),
    ]
    rows = ge.cosine_vs_omega(results, "student")
    assert [r["omega"] for r in rows] == [0.25, 0.5]
    assert (
        rows[1]["cosine"] == pytest.approx(0.2) and rows[1]["seeds"] == 2 and rows[1]["accuracy"] == pytest.approx(0.7)
    )
    assert rows[1]["cosine_std"] == pytest.approx(math.sqrt(0.02))
    assert ge.cosine_vs_omega(results, "teacher")[1]["cosine"] == pytest.approx(-0.2)
    assert ge.cosine_vs_omega(results, "student", skip=1)[0]["cosine"] == pytest.approx(0.5)


def test_speed_table_and_speedup():
    results = [
        fake("adim", 0, [0.5, 0.9, 0.9]),
        fake("adim", 1, [0.9, 0.9, 0.9]),
        fake("adim-ngs", 0, [0.5, 0.6, 0.9]),
        fake("adim-ngs", 1, [0.5, 0.6, 0.9]),
        fake("ngan", 0, [0.1, 0.2, 0.3]),
    ]
    rows = {r["method"]: r for r in ge.speed_table(results, 0.85)}
    assert rows["adim"]["epochs"] == [2, 1] and rows["adim"]["mean_epochs"] == 1.5
    assert rows["adim-ngs"]["mean_epochs"] == 3 and rows["ngan"]["reached"] == 0
    assert math.isnan(rows["ngan"]["mean_epochs"])
    table = list(rows.values())
    assert ge.speedup(table) == pytest.approx(0.5)
    assert math.isnan(ge.speedup(table, "adim", "ngan"))
    with pytest.raises(ValueError, match="not in the speed table"):
        ge.speedup(table, "adib", "adim")


def test_total_variance_table_and_variance_curves_read_the_probes():
    results = [
        fake("ngan", 0, [0.1, 0.2], adversarial=[1.0, 3.0], total=[1.0, 3.0]),
        fake("ngan", 1, [0.1, 0.2], adversarial=[3.0, 5.0], total=[3.0, 5.0]),
    ]
    rows = ge.total_variance_table(results)
    assert rows == [{"method": "ngan", "total": 3.0, "adversarial": 3.0, "distillation": None}]
    curves = ge.variance_curves(results)
    assert curves["ngan"]["adversarial"] == [2.0, 4.0] and curves["ngan"]["tau"] == [10.0, 5.0]
    with pytest.raises(ValueError, match="probe_gradients=True"):
        ge.variance_curves([fake("adim", 0, [0.5])])
    assert probes.history_key("teacher", "grad_cosine") == "teacher_grad_cosine"
