"""The figure builders return plotly figures with the data they were given."""

from __future__ import annotations

import plotly.io as pio
import pytest
import torch

from advdist_lab import theory
from advdist_lab.theory import solver, theorems, variance_lemma
from advdist_lab.viz.common import line_figure, use_notebook_renderer
from advdist_lab.viz.estimators import estimator_figure, estimator_samples_figure, lemma_4_5_figure
from advdist_lab.viz.game import distribution_bars, kl_curves, lemma_path_figure, ternary_trajectories, value_curve
from advdist_lab.viz.gradients import cosine_vs_omega_figure, epochs_to_accuracy_figure, gradient_variance_figure
from advdist_lab.viz.tags import tag_popularity_figure
from advdist_lab.viz.training import accuracy_vs_n, training_curves

P_R = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)


@pytest.fixture(scope="module")
def adib():
    return solver.solve_game(P_R, "adib", omega=(0.5, 0.5), steps=50, lr=0.5, seed=1)


def test_ternary_plot_draws_each_player_and_the_real_distribution(adib):
    fig = ternary_trajectories(adib)
    names = [t.name for t in fig.data]
    assert {"student p_s", "teacher p_t", "mixture p_omega", "real p_r"} <= set(names)
    student = next(t for t in fig.data if t.name == "student p_s")
    assert len(student.a) == len(adib.steps)
    assert student.a[-1] == pytest.approx(adib.p_s[-1, 0].item())
    star = next(t for t in fig.data if t.name == "real p_r")
    assert (star.a[0], star.b[0], star.c[0]) == pytest.approx(tuple(P_R.tolist()))


def test_ternary_plot_needs_three_labels():
    run = solver.solve_game(theory.random_distributions(1, 4), "ngan", steps=5)
    with pytest.raises(ValueError, match="3 labels"):
        ternary_trajectories(run)


def test_value_curve_marks_the_equilibrium(adib):
    fig = value_curve(adib)
    assert list(fig.data[0].y) == pytest.approx(adib.value.tolist())
    assert fig.layout.shapes[0].y0 == pytest.approx(adib.equilibrium_value)


def test_kl_curves_are_on_a_log_axis(adib):
    fig = kl_curves({"a": adib, "b": adib}, player="teacher")
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 2
    assert min(fig.data[0].y) >= 1e-16


def test_lemma_path_figure_plots_both_readings():
    p = theory.random_distributions(2, 3, seed=0)
    points = theorems.lemma_path("student", p, p.flip(-1), p.roll(1, -1), 0.5, [1e-1, 1e-2])
    fig = lemma_path_figure(points, "t")
    assert list(fig.data[0].y) == pytest.approx([pt.error for pt in points])
    assert fig.layout.xaxis.type == "log"


def test_bars_and_lines_and_renderer():
    bars = distribution_bars({"real p_r": P_R, "student": P_R.flip(0)})
    assert [list(t.y) for t in bars.data] == [P_R.tolist(), P_R.flip(0).tolist()]
    lines = line_figure([1, 2], {"a": [3, 4]}, "t", "x", "y", log_x=True)
    assert lines.layout.xaxis.type == "log"
    use_notebook_renderer()
    assert "notebook" in pio.renderers.default


def test_value_curve_zooms_on_the_approach_but_keeps_every_point():
    run = solver.solve_game(P_R, "adib", omega=(0.5, 0.5), nu=1.0, mu=1.0, steps=400, lr=0.5, seed=3)
    fig = value_curve(run)
    low, high = fig.layout.yaxis.range
    tail = run.value[len(run.value) // 50 :]
    assert low <= min(float(tail.min()), run.equilibrium_value) and high >= float(tail.max())
    assert len(fig.data[0].y) == len(run.steps)
    assert value_curve(run, zoom=False).layout.yaxis.range is None


def test_training_curves_draw_the_mean_over_seeds_with_a_band_and_references():
    fig = training_curves(
        {"ADIM": [[0.5, 0.7, 0.9], [0.7, 0.9, 0.9, 1.0]], "NGAN": [[0.2, 0.4]]},
        "t",
        references={"pretrained teacher": 0.95},
    )
    adim = next(t for t in fig.data if t.name == "ADIM")
    assert list(adim.x) == [1, 2, 3] and list(adim.y) == pytest.approx([0.6, 0.8, 0.9])
    band = next(t for t in fig.data if t.name.startswith("ADIM (min-max"))
    assert list(band.y) == pytest.approx([0.7, 0.9, 0.9, 0.9, 0.7, 0.5])
    assert not any(t.name.startswith("NGAN (min-max") for t in fig.data)  # one seed: no band
    reference = next(t for t in fig.data if t.name == "pretrained teacher")
    assert list(reference.x) == [1, 3] and list(reference.y) == [0.95, 0.95]
    with pytest.raises(ValueError, match="non-empty"):
        training_curves({"ADIM": []}, "t")


def test_accuracy_vs_n_plots_means_with_std_error_bars_on_a_log_axis():
    table = {
        "adim": {1000: {"mean": 97.2, "std": 0.09}, 100: {"mean": 78.7, "std": 0.11}},
        "ngan": {100: {"mean": 64.9, "std": float("nan")}},
    }
    fig = accuracy_vs_n(table, "t", methods=["ngan", "adim"])
    assert [t.name for t in fig.data] == ["NGAN", "ADIM"]
    adim = fig.data[1]
    assert list(adim.x) == [100, 1000] and list(adim.y) == [78.7, 97.2]
    assert list(adim.error_y.array) == [0.11, 0.09]
    assert list(fig.data[0].error_y.array) == [0.0]
    assert fig.layout.xaxis.type == "log"


@pytest.fixture(scope="module")
def estimator_rows():
    from advdist_lab.theory.estimators import discriminator_case, estimator_sweep

    return estimator_sweep(discriminator_case(), (0.1, 1.0, 10.0), (1, 4), replicates=50)


def test_estimator_figure_draws_bias_variance_and_mse_per_estimator_with_a_switch_for_m(estimator_rows):
    fig = estimator_figure(estimator_rows)
    labels = ["score", "score + baseline", "pathwise", "straight-through"]
    assert len(fig.data) == 2 * len(labels) * 3  # two m, four estimators, three panels
    shown = [t for t in fig.data if t.visible]
    assert {t.meta["samples"] for t in shown} == {1}
    assert sorted(t.name for t in shown if t.showlegend) == sorted(labels)
    bias = next(t for t in shown if t.name == "pathwise" and t.meta["panel"] == "bias")
    rows = sorted((r for r in estimator_rows if r.label == "pathwise" and r.samples == 1), key=lambda r: r.tau)
    assert list(bias.x) == [0.1, 1.0, 10.0] and list(bias.y) == pytest.approx([r.bias for r in rows])
    assert list(bias.error_y.array) == pytest.approx([r.bias_se for r in rows])
    score = next(t for t in shown if t.name == "score" and t.meta["panel"] == "variance")
    assert len(set(score.y)) == 1 and score.line.dash == "dash"  # a flat reference: it does not use tau
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log" and fig.layout.yaxis3.type == "log"
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["m = 1", "m = 4"]
    visible = buttons[1].args[0]["visible"]
    assert [t.meta["samples"] == 4 for t in fig.data] == visible
    assert all(t.visible == (t.meta["samples"] == 4) for t in estimator_figure(estimator_rows, samples=4).data)
    with pytest.raises(ValueError, match="samples must be one of"):
        estimator_figure(estimator_rows, samples=3)


def test_estimator_samples_figure_is_log_log_with_a_slope_minus_one_reference(estimator_rows):
    fig = estimator_samples_figure(estimator_rows, tau=0.9)  # the nearest swept tau is 1
    pathwise = next(t for t in fig.data if t.name == "pathwise")
    rows = sorted((r for r in estimator_rows if r.label == "pathwise" and r.tau == 1.0), key=lambda r: r.samples)
    assert list(pathwise.x) == [1, 4] and list(pathwise.y) == pytest.approx([r.variance for r in rows])
    reference = fig.data[-1]
    assert reference.name.startswith("slope -1")
    assert reference.y[0] / reference.y[1] == pytest.approx(4.0)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_lemma_4_5_figure_distinguishes_the_counterexample():
    results = {
        name: variance_lemma.lemma_4_5_monte_carlo(*variance_lemma.LEMMA_4_5_PRESETS[name], samples=200)
        for name in ("rho = 0.5", "counterexample: Var X = 2 Var Y, rho = 0")
    }
    fig = lemma_4_5_figure(results)
    closed = [t for t in fig.data if t.meta["kind"] == "closed form"]
    points = [t for t in fig.data if t.meta["kind"] == "monte carlo"]
    assert len(closed) == len(points) == 2
    assert [t.meta["premise"] for t in closed] == [True, False]
    assert "premise violated" in closed[1].name and closed[1].line.dash == "dot" and closed[0].line.dash == "solid"
    assert closed[1].line.color != closed[0].line.color
    res = results["counterexample: Var X = 2 Var Y, rho = 0"]
    assert list(points[1].y) == pytest.approx(list(res.monte_carlo))
    assert closed[1].y[-1] == pytest.approx(2.0) and closed[1].y[0] == pytest.approx(1.0)
    var_y = [t for t in fig.data if t.meta["kind"] == "var y"]
    assert len(var_y) == 1 and list(var_y[0].y) == [1.0, 1.0]


# ------------------------------------------------------------------------------------------------------
# Figs. 5 and 7 and training speed
# ------------------------------------------------------------------------------------------------------

VARIANCE_CURVES = {
    "adim-ngs": {"adversarial": [1e-2, 0.0, 3e-3], "distillation": [1.0, 0.5, 0.2], "total": [1.0, 0.5, 0.2]},
    "adim": {"adversarial": [1e-6, 1e-4, 1e-2], "distillation": [1.0, 0.4, 0.3], "tau": [10.0, 1.0, 0.1]},
}


def test_gradient_variance_figure_has_a_log_panel_per_method():
    fig = gradient_variance_figure(VARIANCE_CURVES, ["adim-ngs", "adim"])
    assert [t.name for t in fig.data] == ["Adversarial Loss", "Distillation Loss"] * 2
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert fig.data[0].y == (1e-2, None, 3e-3)  # a zero variance is left out of the log axis
    assert len(gradient_variance_figure(VARIANCE_CURVES, ["adim-ngs"], show_total=True).data) == 3
    with pytest.raises(ValueError, match="methods must be among"):
        gradient_variance_figure(VARIANCE_CURVES, ["ngan"])


def test_cosine_vs_omega_figure_uses_a_log2_axis():
    rows = [{"omega": 0.125, "cosine": 0.1, "cosine_std": 0.02, "accuracy": 0.8}, {"omega": 0.5, "cosine": 0.4}]
    fig = cosine_vs_omega_figure({"student": rows, "teacher": rows[:1]})
    assert fig.data[0].x == (-3.0, -1.0) and fig.data[0].y == (0.1, 0.4)
    assert fig.data[0].error_y.array == (0.02, 0.0) and fig.data[1].x == (-3.0,)
    assert "log2 omega_t" in fig.layout.xaxis2.title.text
    with pytest.raises(ValueError, match="'student' or 'teacher'"):
        cosine_vs_omega_figure({"critic": rows})


def test_epochs_to_accuracy_figure_draws_a_bar_and_the_seeds():
    rows = [
        {"method": "adim", "epochs": [3, 5], "seeds": 2, "mean_epochs": 4.0},
        {"method": "ngan", "epochs": [None, None], "seeds": 2, "mean_epochs": float("nan")},
    ]
    fig = epochs_to_accuracy_figure(rows, 0.85)
    assert fig.data[0].y == (4.0,) and fig.data[1].y == (3, 5)
    assert fig.data[2].y == (None,) and "0 of 2 seeds" in fig.data[2].hovertext
    assert "85%" in fig.layout.title.text


def test_tag_popularity_figure_is_log_log_rank_frequency():
    fig = tag_popularity_figure({"popular": [3, 50, 10, 0], "random": [5, 1]})
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    popular = fig.data[0]
    assert list(popular.x) == [1, 2, 3] and list(popular.y) == [50.0, 10.0, 3.0]
    with pytest.raises(ValueError, match="positive count"):
        tag_popularity_figure({"empty": [0, 0]})


# ------------------------------------------------------------------------------------------------------
# The package: one module per topic, the former module's names on the package, shared colour helpers
# ------------------------------------------------------------------------------------------------------

FORMER_VIZ_NAMES = (
    "COLORS ESTIMATOR_COLORS HYPERPARAMETER_LABELS SIZE_COLORS TEMPLATE TRAINING_EXPLORER_SERIES accuracy_vs_n "
    "cosine_vs_omega_figure distribution_bars epochs_to_accuracy_figure estimator_figure estimator_samples_figure "
    "game_explorer_figure gradient_variance_figure hyperparameter_figure kl_curves lemma_4_5_figure "
    "lemma_path_figure line_figure tag_popularity_figure teacher_mu_figure ternary_trajectories training_curves "
    "training_explorer_figure use_notebook_renderer value_curve"
).split()
"""Every public name of the former module ``advdist_lab.viz`` (before it became a package)."""


def test_the_package_re_exports_the_former_modules_names_from_their_topics():
    from advdist_lab import viz
    from advdist_lab.viz import ablation, common, estimators, game, gradients, tags, training

    topics = (ablation, common, estimators, game, gradients, tags, training)
    assert sorted(viz.__all__) == sorted(FORMER_VIZ_NAMES)
    for name in viz.__all__:
        homes = [module for module in topics if name in module.__all__]
        assert len(homes) == 1, f"{name} is defined in {len(homes)} topics"
        assert getattr(viz, name) is getattr(homes[0], name)


def test_method_colour_and_band_colour():
    from advdist_lab.viz.common import COLORS, band_color, method_color

    assert method_color("ADIM (n = 100)") == COLORS["adim"] and method_color("unknown") is None
    assert band_color("#ff0080", 0.5) == "rgba(255, 0, 128, 0.5)"
    assert band_color(None) == "rgba(128, 128, 128, 0.15)"
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        band_color("#ff0080", 1.5)


# ------------------------------------------------------------------------------------------------------
# What a teacher saw in JupyterLab: axes, ticks, overlapping titles, unexplained markers
# ------------------------------------------------------------------------------------------------------

HISTORY = [
    {"epoch": 1, "student_test_accuracy": 0.5, "teacher_test_accuracy": 0.9, "grad_var_adversarial": 1e-6},
    {"epoch": 2, "student_test_accuracy": 0.7, "teacher_test_accuracy": 0.9, "grad_var_adversarial": 1e-4},
]


def test_the_training_explorers_accuracy_axis_is_fixed_to_accuracies_even_when_empty():
    from advdist_lab.viz.training import accuracy_range, training_explorer_figure

    empty = training_explorer_figure([], "press Run")
    assert empty.layout.yaxis.range == (0, 1)  # an empty plot would autorange to -1 .. 4
    full = training_explorer_figure(HISTORY, epochs=30)
    assert full.layout.yaxis.range == (0, 1) and full.layout.xaxis.range == (0, 30) == full.layout.xaxis2.range
    assert full.layout.xaxis.dtick == 5 and training_explorer_figure([], epochs=2).layout.xaxis.dtick == 1
    assert full.data[0].cliponaxis is False  # a marker at accuracy 1 shows whole
    assert empty.layout.xaxis.range is None  # epochs unknown: the epoch axis autoranges
    assert accuracy_range([0.2, 1.0]) == (0, 1) and accuracy_range([64.9, 97.2]) == (0, 100)
    percent = [dict(entry, student_test_accuracy=100 * entry["student_test_accuracy"]) for entry in HISTORY]
    assert training_explorer_figure(percent).layout.yaxis.range == (0, 100)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        training_explorer_figure([], epochs=0)
    with pytest.raises(ValueError, match="history must be a sequence of mappings"):
        training_explorer_figure([1, 2])
    with pytest.raises(ValueError, match="accuracies must be non-negative"):
        accuracy_range([-0.1])


def test_log_variance_axes_tick_in_powers_of_ten_not_si_prefixes(adib):
    from advdist_lab.viz.training import training_explorer_figure

    explorer = training_explorer_figure(HISTORY)
    assert explorer.layout.yaxis2.type == "log" and explorer.layout.yaxis2.exponentformat == "power"
    fig5 = gradient_variance_figure(VARIANCE_CURVES, ["adim-ngs", "adim"])
    assert fig5.layout.yaxis.exponentformat == fig5.layout.yaxis2.exponentformat == "power"
    assert kl_curves({"a": adib}).layout.yaxis.exponentformat == "power"
    p = theory.random_distributions(2, 3, seed=0)
    lemma = lemma_path_figure(theorems.lemma_path("student", p, p.flip(-1), p.roll(1, -1), 0.5, [1e-1, 1e-2]), "t")
    assert lemma.layout.xaxis.exponentformat == lemma.layout.yaxis.exponentformat == "power"


def test_ternary_axis_titles_stand_clear_of_the_tick_labels(adib):
    from advdist_lab.viz.game import TERNARY_TICKS, game_explorer_figure

    for fig in (ternary_trajectories(adib), game_explorer_figure(adib)):
        ternary = fig.layout.ternary
        for axis, title in zip((ternary.aaxis, ternary.baxis, ternary.caxis), ("y = 1", "y = 2", "y = 3")):
            assert axis.title.text == title
            # no tick label at the vertices 0 and 1, where the titles stand
            assert axis.tickmode == "array" and tuple(axis.tickvals) == TERNARY_TICKS
            assert 0 < min(axis.tickvals) and max(axis.tickvals) < 1
        assert fig.layout.margin.l >= 60 and fig.layout.margin.t >= 70 and fig.layout.margin.b >= 60
    explorer = game_explorer_figure(adib)
    subplot_title = next(a for a in explorer.layout.annotations if "simplex" in a.text)
    assert explorer.layout.ternary.domain.y[1] <= 0.9 < subplot_title.y  # room for "y = 1" under the title
    assert explorer.layout.margin.b >= 100 and explorer.layout.legend.yanchor == "top"  # the legend is not cut
    with pytest.raises(ValueError, match="labels must be 3 strings"):
        ternary_trajectories(adib, labels=("a", "b"))
    with pytest.raises(ValueError, match="labels must be 3 strings"):
        game_explorer_figure(adib, labels="abc")


def test_the_start_and_end_markers_have_legend_entries(adib):
    from advdist_lab.viz.game import game_explorer_figure

    for fig in (ternary_trajectories(adib), game_explorer_figure(adib)):
        keys = {t.name: t for t in fig.data if t.name in ("start", "end")}
        assert set(keys) == {"start", "end"}
        # legend only: one missing point, drawn nowhere (plotly.js leaves a trace without points out of the legend)
        assert all(t.showlegend is not False and list(t.a) == [None] for t in keys.values())
        student_start = next(t for t in fig.data if t.name == "student p_s start")
        student_end = next(t for t in fig.data if t.name == "student p_s end")
        assert keys["start"].marker.symbol == student_start.marker.symbol == "circle-open"
        assert keys["end"].marker.symbol == student_end.marker.symbol == "circle"
        assert student_start.showlegend is False  # one key for every player's start, not one each
