"""Tests of :mod:`advdist_lab.experiments.ablation` (TPAMI Figs. 3 and 6) and their figures in
:mod:`advdist_lab.viz`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from advdist_lab import runs, viz
from advdist_lab.experiments import ablation, ablation_analysis
from advdist_lab.experiments.ablation import (
    DEFAULT_GRIDS,
    HYPERPARAMETERS,
    fig3_points,
    fig3_rows,
    fig6_points,
    fig6_rows,
    omega_weights,
    panels_of,
    run_fig3,
    run_fig6,
    sweep_members,
)

TINY = {"epochs": 1, "teacher_pretrain_epochs": 1, "student_pretrain_epochs": 1, "device": "cpu"}


def fake_results(sweep) -> list[dict]:
    """Results without training: the student's accuracy encodes the point, the teacher's the seed."""
    results = []
    for point in sweep:
        values = [float(v) for k, v in sorted(point.overrides.items()) if k != "n_train"]
        student = 0.5 + 0.01 * sum(values) / (1 + sum(values)) + 0.001 * point.seed
        results.append(
            {
                "config": point.config.resolved().to_dict(),
                "test_accuracy": student,
                "teacher_test_accuracy": 0.9 - 0.01 * point.seed,
            }
        )
    return results


@pytest.mark.parametrize("name", ablation.OMEGAS)
@pytest.mark.parametrize("value", [0.05, 0.2, 1 / 3, 0.8, 0.999])
def test_omega_stays_on_the_simplex(name, value):
    weights = omega_weights(name, value)
    assert math.fsum(weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert weights[name] == pytest.approx(value)
    others = [weights[o] for o in ablation.OMEGAS if o != name]
    assert others[0] == others[1] == pytest.approx((1 - value) / 2)


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, 1.5])
def test_omega_outside_the_open_simplex_is_refused(value):
    with pytest.raises(ValueError, match=r"omega_s must be in \(0, 1\)"):
        omega_weights("omega_s", value)


def test_default_fig3_points_cover_every_panel_size_and_seed():
    sweep = fig3_points()
    panels = sum(len(grid) for grid in DEFAULT_GRIDS.values())
    assert len(sweep) == panels * len(ablation.FIG3_SIZES) * ablation.FIG3_SEEDS
    assert {p.config.n_train for p in sweep} == set(ablation.FIG3_SIZES)
    assert {p.seed for p in sweep} == set(range(ablation.FIG3_SEEDS))
    assert {p.config.method for p in sweep} == {"adim"} and {p.config.dataset for p in sweep} == {"digits"}
    for point in sweep:
        config = point.config.resolved()
        assert config.omega_r + config.omega_s + config.omega_t == pytest.approx(1.0)
        assert len(panels_of(point.overrides)) == 1
    # the base's nu = 1 and mu = 0.01 are the same config: 26 distinct runs per size and seed, not 27
    assert len({p.config.resolved() for p in sweep}) == (panels - 1) * len(ablation.FIG3_SIZES) * 3
    for name, grid in DEFAULT_GRIDS.items():
        assert len(grid) in (5, 6) and all(b > a for a, b in zip(grid, grid[1:], strict=False))
        if name in ("nu", "mu"):
            assert math.log10(grid[-1] / grid[0]) >= 4  # several decades, as the paper's 0.001..1000
        else:
            assert 0 < grid[0] and grid[-1] < 1


def test_fig3_points_with_one_panel_vary_only_that_hyperparameter():
    sweep = fig3_points((100,), 1, {"omega_r": [0.2]}, epochs=7)
    (point,) = sweep
    assert point.overrides == {"n_train": 100, "omega_r": 0.2, "omega_s": 0.4, "omega_t": 0.4}
    assert point.folder == "n_train=100/omega_r=0.2/omega_s=0.4/omega_t=0.4/seed=0"
    assert point.config.epochs == 7 and point.config.nu == 1.0 and point.config.mu == 0.01


def test_a_third_is_one_point_shared_by_the_three_omega_panels():
    grids = {"omega_r": [1 / 3, 0.5], "omega_s": [1 / 3], "omega_t": [1 / 3]}
    sweep = fig3_points((100,), 1, grids)
    assert len(sweep) == 2
    rows = fig3_rows(sweep, fake_results(sweep))
    assert [(r["hyperparameter"], r["value"]) for r in rows] == [
        ("omega_r", pytest.approx(1 / 3)),
        ("omega_r", 0.5),
        ("omega_s", pytest.approx(1 / 3)),
        ("omega_t", pytest.approx(1 / 3)),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grids": {"tau": [1.0]}}, "grids' hyperparameter must be one of omega_r"),
        ({"grids": {"mu": [0.0, 1.0]}}, "mu must be > 0"),
        ({"grids": {"nu": [-1.0]}}, "nu must be > 0"),
        ({"grids": {"omega_t": [1.0]}}, r"omega_t must be in \(0, 1\)"),
        ({"grids": {"nu": []}}, "non-empty sequence"),
        ({"grids": {"nu": [0.1, 0.1]}}, "distinct values"),
        ({"grids": {}}, "grids must map"),
        ({"n_trains": ()}, "n_trains must be a non-empty sequence"),
        ({"n_trains": 100}, "n_trains must be a non-empty sequence"),
        ({"n_trains": (100, 100)}, "n_trains must be distinct"),
        ({"n_trains": (0,)}, "n_train must be an integer >= 1"),
        ({"n_trains": (5000,)}, "n_train must be <="),
        ({"seeds": 0}, "seeds must be an integer >= 1"),
        ({"method": "adib"}, "method cannot be overridden.*ADIM"),
        ({"n_train": 50}, "n_train cannot be overridden.*n_trains"),
        ({"seed": 1}, "seed cannot be overridden"),
        ({"epochz": 3}, "unknown hyperparameters: epochz"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
    ],
)
def test_fig3_points_refuse_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fig3_points(**kwargs)


def test_fig6_reuses_the_mu_points_of_fig3_and_adds_mu_zero():
    fig3 = {p.folder: p.config for p in fig3_points()}
    fig6 = fig6_points()
    extra = [p for p in fig6 if p.folder not in fig3]
    assert {p.overrides["mu"] for p in extra} == {0.0}
    assert len(extra) == len(ablation.FIG3_SIZES) * ablation.FIG3_SEEDS
    assert all(fig3[p.folder] == p.config for p in fig6 if p.folder in fig3)
    assert len(fig6) - len(extra) == len(ablation.MU_GRID) * len(ablation.FIG3_SIZES) * ablation.FIG3_SEEDS
    with pytest.raises(ValueError, match="mu must be > 0"):
        fig6_points(mus=(0.0, 0.1))


def test_fig3_rows_average_over_seeds_and_sort_by_panel_size_and_value():
    sweep = fig3_points((100, 500), 2, {"nu": [10.0, 0.1], "omega_s": [0.2]})
    results = fake_results(sweep)
    rows = fig3_rows(sweep, results)
    assert [(r["hyperparameter"], r["n_train"], r["value"]) for r in rows] == [
        ("omega_s", 100, 0.2),
        ("omega_s", 500, 0.2),
        ("nu", 100, 0.1),
        ("nu", 100, 10.0),
        ("nu", 500, 0.1),
        ("nu", 500, 10.0),
    ]
    assert all(r["count"] == 2 and r["seeds"] == [0, 1] for r in rows)
    pairs = [r["test_accuracy"] for p, r in zip(sweep, results, strict=True) if p.overrides == rows[3]["overrides"]]
    assert rows[3]["test_accuracy_mean"] == pytest.approx(sum(pairs) / 2)
    assert rows[3]["teacher_test_accuracy_mean"] == pytest.approx(0.895)
    assert rows[3]["teacher_test_accuracy_std"] == pytest.approx(0.01 / math.sqrt(2))


def test_fig6_rows_split_the_baseline_and_skip_other_panels():
    sweep = fig6_points((100,), 2, mus=(1.0, 0.01))
    sweep += fig3_points((100,), 2, {"nu": [0.1]})
    rows, baseline = fig6_rows(sweep, fake_results(sweep))
    assert [(r["n_train"], r["mu"]) for r in rows] == [(100, 0.01), (100, 1.0)]
    assert [(r["n_train"], r["mu"], r["count"]) for r in baseline] == [(100, 0.0, 2)]
    assert baseline[0]["teacher_test_accuracy_mean"] == pytest.approx(0.895)


def test_run_fig3_then_fig6_in_one_folder_trains_only_the_mu_zero_runs(tmp_path: Path, one_torch_thread):
    out = tmp_path / "ablation"
    fig3 = run_fig3(out, (30,), 1, {"nu": [1.0], "mu": [0.01, 1.0]}, jobs=1, progress=False, **TINY)
    trained = {str(p.parent.relative_to(out)) for p in out.rglob(runs.RESULT)}
    # nu = 1 and mu = 0.01 are the base config: one run, in the first folder by name
    assert trained == {"mu=0.01/n_train=30/seed=0", "mu=1/n_train=30/seed=0"}
    assert [(r["hyperparameter"], r["value"]) for r in fig3["rows"]] == [("nu", 1.0), ("mu", 0.01), ("mu", 1.0)]
    assert fig3["rows"][0]["test_accuracy_mean"] == fig3["rows"][1]["test_accuracy_mean"]
    stamps = {f: (out / f / runs.RESULT).stat().st_mtime_ns for f in trained}
    fig6 = run_fig6(out, (30,), 1, (0.01, 1.0), jobs=1, progress=False, **TINY)
    after = {str(p.parent.relative_to(out)) for p in out.rglob(runs.RESULT)}
    assert after - trained == {"mu=0/n_train=30/seed=0"}
    assert {f: (out / f / runs.RESULT).stat().st_mtime_ns for f in trained} == stamps
    assert [r["mu"] for r in fig6["rows"]] == [0.01, 1.0] and [r["mu"] for r in fig6["baseline"]] == [0.0]
    assert fig6["rows"][1]["teacher_test_accuracy_mean"] == fig3["rows"][2]["teacher_test_accuracy_mean"]


# --------------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------------


def test_hyperparameter_figure_has_a_log_panel_per_hyperparameter_and_a_line_per_size():
    sweep = fig3_points((100, 500), 2, {"nu": [0.01, 1.0, 100.0], "mu": [0.001, 0.1], "omega_r": [0.1, 0.5]})
    rows = fig3_rows(sweep, fake_results(sweep))
    fig = viz.hyperparameter_figure(rows)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(lines) == len(bands) == 3 * 2  # three panels, two sizes, each with a ±std band
    assert [a.text for a in fig.layout.annotations] == ["ω_r", "ν", "μ"]  # the paper's order
    assert [fig.layout[f"xaxis{i if i > 1 else ''}"].type for i in (1, 2, 3)] == ["log"] * 3
    nu_100 = next(t for t in lines if t.xaxis == "x2" and t.name == "n = 100")
    assert list(nu_100.x) == [0.01, 1.0, 100.0]
    expected = [100 * r["test_accuracy_mean"] for r in rows if r["hyperparameter"] == "nu" and r["n_train"] == 100]
    assert list(nu_100.y) == pytest.approx(expected)
    assert sum(bool(t.showlegend) for t in lines) == 2  # one legend entry per size
    teacher = viz.hyperparameter_figure(rows, ["mu"], metric="teacher_test_accuracy")
    assert teacher.layout.yaxis.title.text == "teacher test accuracy (%)"
    with pytest.raises(ValueError, match="hyperparameters must be among"):
        viz.hyperparameter_figure(rows, ["omega_t"])
    with pytest.raises(ValueError, match="metric must be one of"):
        viz.hyperparameter_figure(rows, metric="loss")


def test_one_seed_gives_no_band():
    sweep = fig3_points((100,), 1, {"nu": [0.1, 1.0]})
    fig = viz.hyperparameter_figure(fig3_rows(sweep, fake_results(sweep)))
    assert [t.mode for t in fig.data] == ["lines+markers"]


def test_teacher_mu_figure_draws_mu_zero_as_a_dashed_line():
    sweep = fig6_points((100, 500), 2, mus=(0.001, 0.1, 10.0))
    results = fake_results(sweep)
    for point, result in zip(sweep, results, strict=True):
        result["teacher_test_accuracy"] = 0.8 + 0.1 * (point.overrides["mu"] == 0) + 0.01 * point.seed
    rows, baseline = fig6_rows(sweep, results)
    fig = viz.teacher_mu_figure(rows, baseline)
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert [t.name for t in dashed] == ["μ = 0", "μ = 0"]
    assert list(dashed[0].y) == pytest.approx([90.5, 90.5]) and list(dashed[0].x) == [0.001, 10.0]
    curve = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in curve] == ["μ > 0", "μ > 0"] and list(curve[1].y) == pytest.approx([80.5] * 3)
    assert fig.layout.xaxis.type == fig.layout.xaxis2.type == "log"
    assert [a.text for a in fig.layout.annotations] == ["n = 100", "n = 500"]
    without = viz.teacher_mu_figure(rows)
    assert not [t for t in without.data if t.line.dash == "dash"]
    with pytest.raises(ValueError, match="mu > 0"):
        viz.teacher_mu_figure(baseline)


def test_every_hyperparameter_has_a_label():
    assert set(viz.HYPERPARAMETER_LABELS) == set(HYPERPARAMETERS)


def _fig3_row(name: str, value: float, n: int, accuracy: float) -> dict:
    return {"hyperparameter": name, "value": value, "n_train": n, "test_accuracy_mean": accuracy}


def test_effects_find_the_ends_the_best_the_worst_and_the_spread():
    rows = [_fig3_row("nu", v, 100, a) for v, a in ((1.0, 0.80), (0.001, 0.70), (10.0, 0.78))]
    (effect,) = ablation_analysis.effects(rows)
    assert (effect["lowest"], effect["highest"], effect["best"], effect["worst"]) == (0.001, 10.0, 1.0, 0.001)
    assert effect["lowest_accuracy"] == 0.70 and effect["highest_accuracy"] == 0.78
    assert effect["spread"] == pytest.approx(0.10)
    table = ablation_analysis.effects_markdown([effect])
    assert "| nu | 100 | 0.001 | 70 | 10 | 78 | 1 | 0.001 | 10 |" in table


def test_paper_comparison_prints_our_differences_beside_the_claims():
    fig3 = [
        _fig3_row("omega_r", 0.1, 100, 0.80),
        _fig3_row("omega_r", 0.8, 100, 0.79),
        _fig3_row("nu", 0.001, 100, 0.75),
        _fig3_row("nu", 1.0, 100, 0.80),
        _fig3_row("mu", 0.01, 100, 0.80),
        _fig3_row("mu", 10.0, 100, 0.60),
    ]
    fig6 = [{"n_train": 100, "mu": 0.001, "teacher_test_accuracy_mean": 0.91}]
    fig6.append({"n_train": 100, "mu": 10.0, "teacher_test_accuracy_mean": 0.85})
    baseline = [{"n_train": 100, "mu": 0.0, "teacher_test_accuracy_mean": 0.90}]
    lines = ablation_analysis.paper_comparison(fig3, fig6, baseline)
    assert lines[0].startswith("n = 100: omega panels spread at most 1.00 points") and "nu 5.00, mu 20.00" in lines[0]
    assert "nu = 0.001 against nu = 1: student -5.00 points. Paper:" in lines[1]
    assert "mu = 10 against mu = 0.01: student -20.00 points. Paper:" in lines[2]
    assert "teacher at mu = 0.001 against mu = 0: +1.00 points; at mu = 10: -5.00 points" in lines[3]
    # a default value outside the grid is said, not guessed
    lines = ablation_analysis.paper_comparison([_fig3_row("nu", 0.01, 100, 0.7), _fig3_row("nu", 0.1, 100, 0.72)])
    assert lines == [
        "n = 100: nu = 0.01 against nu = 1: student not in the grid. Paper: "
        + ablation_analysis.TPAMI_ABLATION_CLAIMS["nu"]
        + "."
    ]


def test_fig6_rows_average_ranking_metrics_for_fig_11():
    sweep = fig6_points((100,), 2, mus=(0.01,))
    results = fake_results(sweep)
    for point, result in zip(sweep, results):
        result["teacher_map"] = 0.3 + 0.1 * float(point.overrides["mu"]) + 0.01 * point.seed
    rows, baseline = fig6_rows(sweep, results, metrics=("teacher_map",))
    assert rows[0]["teacher_map_mean"] == pytest.approx(0.3 + 0.001 + 0.005)
    assert baseline[0]["teacher_map_mean"] == pytest.approx(0.305)
    fig = viz.teacher_mu_figure(rows, baseline, metric="teacher_map", y_title="teacher MAP (%)")
    assert any(len(t.y) == 1 and t.y[0] == pytest.approx(30.6) for t in fig.data)  # the mean at mu = 0.01, in %


def test_teacher_mu_lines_find_the_best_mu_against_mu_zero():
    rows = [
        {"n_train": 300, "mu": 0.001, "teacher_map_mean": 0.52},
        {"n_train": 300, "mu": 0.1, "teacher_map_mean": 0.55},
        {"n_train": 300, "mu": 10.0, "teacher_map_mean": 0.40},
    ]
    baseline = [{"n_train": 300, "mu": 0.0, "teacher_map_mean": 0.50}]
    assert ablation_analysis.teacher_mu_lines(rows, baseline, "teacher_map", "MAP") == [
        "teacher MAP: best at mu = 0.1 (0.5500), mu = 0 gives 0.5000; paper: best at mu = 0.001, above mu = 0"
    ]
    two_sizes = rows + [{"n_train": 100, "mu": 0.001, "teacher_map_mean": 0.3}]
    lines = ablation_analysis.teacher_mu_lines(
        two_sizes, baseline + [{"n_train": 100, "mu": 0.0, "teacher_map_mean": 0.2}], "teacher_map", "MAP"
    )
    assert [line.split(":")[0] for line in lines] == ["n = 100", "n = 300"]
    assert "best at mu = 0.001 (0.3000), mu = 0 gives 0.2000" in lines[0]
    with pytest.raises(ValueError, match="pass metrics=\\('teacher_p@3',\\) to run_fig6"):
        ablation_analysis.teacher_mu_lines(rows, baseline, "teacher_p@3", "P@3")


def test_run_fig3_batches_the_points_of_one_n_and_equals_the_solo_runs(tmp_path: Path, one_torch_thread):
    grids = {"nu": [0.1, 1.0], "mu": [0.01, 1.0], "omega_r": [0.2]}
    batched = run_fig3(tmp_path / "batched", (30,), 2, grids, jobs=1, progress=False, **TINY)
    solo = run_fig3(tmp_path / "solo", (30,), 2, grids, jobs=1, progress=False, members=1, **TINY)
    assert sweep_members(batched["points"], None) == 32  # digits: batched by default
    got = [r["test_accuracy"] for r in batched["results"]]
    want = [r["test_accuracy"] for r in solo["results"]]
    assert len(got) == len(batched["points"]) and got == pytest.approx(want, abs=1e-6)
    assert len(set(got)) > 1  # the points differ: the members kept their own weights and seeds


def test_run_fig3_refuses_bad_members_before_any_work(tmp_path: Path):
    with pytest.raises(ValueError, match="members"):
        run_fig3(tmp_path / "x", (30,), 1, {"nu": [1.0]}, jobs=1, progress=False, members=0, **TINY)
    assert not (tmp_path / "x").exists()
