"""Tests of TPAMI Figs. 8 and 10 on the tag data (advdist_lab.experiments.tag_figures, experiments.presets,
viz.tags): the preset's points, a tiny sweep and a tiny probed study end to end, the computed sentences, the
figures, and bad inputs refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from advdist_lab.experiments import ablation, presets, tag_figures
from advdist_lab.experiments.ablation_analysis import effects
from advdist_lab.methods.config import TAG_RUN_DEFAULTS
from advdist_lab.viz import tags as viz_tags

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"epochs": 1, "teacher_pretrain_epochs": 1, "student_pretrain_epochs": 1, "device": "cpu"}
TINY_GRIDS = {"omega_s": (0.2, 0.8), "nu": (0.001, 1.0), "mu": (0.1, 10.0)}


@pytest.fixture(scope="module")
def fig8(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fig8")
    return tag_figures.run_fig8(out, 200, 1, TINY_GRIDS, jobs=1, progress=False, **TINY)


@pytest.fixture(scope="module")
def fig10(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fig10")
    return tag_figures.run_fig10(out, 1, n_train=200, jobs=1, progress=False, **{**TINY, "epochs": 2})


# ------------------------------------------------------------------------------------------------------
# Fig. 8: the preset and the sweep
# ------------------------------------------------------------------------------------------------------


def test_the_fig8_preset_sweeps_fig3s_grids_on_the_whole_popular_tag_pool():
    points = tag_figures.fig8_points()
    configs = {p.config for p in points}
    assert {p.seed for p in points} == set(range(tag_figures.FIG8_SEEDS))
    for config in configs:
        assert (config.method, config.dataset, config.n_train) == ("adim", "tags-popular", 20000)
        assert config.epochs == TAG_RUN_DEFAULTS["epochs"]
        assert config.teacher_pretrain_epochs == TAG_RUN_DEFAULTS["teacher_pretrain_epochs"]
    swept = {}
    for point in points:
        for name, value in ablation.panels_of(point.overrides):
            swept.setdefault(name, set()).add(value)
    assert swept == {name: set(values) for name, values in ablation.DEFAULT_GRIDS.items()}
    # the base nu = 1 of the nu panel and the tag runs' mu = 0.1 of the mu panel are one config per seed
    distinct = {p.config.resolved() for p in points}
    assert len(distinct) == len(points) - tag_figures.FIG8_SEEDS
    assert presets.SWEEP_PRESETS["fig8"].seeds == tag_figures.FIG8_SEEDS
    assert presets.default_out("fig8", {}) == "runs/sweep-ablation-tags-popular"
    assert presets.default_out("fig3", {}) == "runs/sweep-ablation-digits"


def test_run_preset_passes_fig8_its_size_seeds_and_values(monkeypatch, tmp_path: Path):
    calls = []
    monkeypatch.setattr(tag_figures, "run_fig8", lambda *args, **kwargs: calls.append((args, kwargs)) or {"rows": []})
    presets.run_preset("fig8", tmp_path, (500,), 1, jobs=1, progress=False, epochs=2)
    presets.run_preset("fig8", tmp_path, progress=False, method="adim", dataset="tags-random")
    (args, kwargs), (args2, kwargs2) = calls
    assert args == (tmp_path, 500, 1) and kwargs["epochs"] == 2 and kwargs["dataset"] == "tags-popular"
    assert args2 == (tmp_path, None, tag_figures.FIG8_SEEDS) and kwargs2["dataset"] == "tags-random"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: presets.run_preset("fig9", "x"), "preset must be one of fig3, fig6, fig8"),
        (lambda: presets.run_preset("fig8", "x", method="adib"), "--method must be adim"),
        (lambda: presets.run_preset("fig8", "x", n_train=100), "takes n_train from sizes"),
        (lambda: presets.run_preset("fig8", "x", dataset="digits"), "needs a dataset among tags-popular"),
        (lambda: presets.run_preset("fig8", "x", (100, 200)), "sweeps one training-set size"),
        (lambda: tag_figures.fig8_points(dataset="digits"), "must be a tag dataset"),
        (lambda: tag_figures.fig8_points(0), "n_train must be"),
        (lambda: tag_figures.fig8_points(seeds=0), "seeds must be"),
        (lambda: tag_figures.fig8_points(grids={"nu": (0.0,)}), "nu must be"),
        (lambda: tag_figures.fig8_points(n_train=30000), "n_train"),
        (lambda: tag_figures.fig10_configs(0), "seeds must be"),
        (lambda: tag_figures.fig10_configs(1, ("adim", "adim")), "methods must be distinct"),
        (lambda: tag_figures.fig10_configs(1, "adim"), "methods must be a non-empty sequence"),
        (lambda: tag_figures.fig10_configs(1, ("gan",)), "method must be one of"),
        (lambda: tag_figures.fig10_configs(1, dataset="mnist"), "must be a tag dataset"),
        (lambda: tag_figures.fig10_rows({}), "at least one method"),
        (lambda: tag_figures.fig8_lines([]), "at least one Fig. 8 row"),
    ],
)
def test_bad_inputs_are_refused_naming_the_constraint(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_sweep_on_tags_gives_the_rows_the_figure_reads(fig8):
    rows = fig8["rows"]
    assert {(r["hyperparameter"], r["value"]) for r in rows} == {
        (name, value) for name, values in TINY_GRIDS.items() for value in values
    }
    for row in rows:
        assert row["n_train"] == 200 and row["count"] == 1
        for metric in ("p@3", "map", "ndcg@3", "test_accuracy"):
            assert 0 <= row[f"{metric}_mean"] <= 1
    # the tag runs' default mu = 0.1 and the default nu = 1 are one run, read by both panels
    nu1 = next(r for r in rows if r["hyperparameter"] == "nu" and r["value"] == 1.0)
    mu01 = next(r for r in rows if r["hyperparameter"] == "mu" and r["value"] == 0.1)
    assert nu1["p@3_mean"] == mu01["p@3_mean"]
    spreads = {e["hyperparameter"]: e["spread"] for e in effects(rows, "p@3")}
    assert set(spreads) == set(TINY_GRIDS) and all(s >= 0 for s in spreads.values())
    with pytest.raises(ValueError, match="every row must hold mrr_x_mean"):
        effects(rows, "mrr_x")


def test_fig8_lines_state_our_numbers_beside_the_paper(fig8):
    lines = tag_figures.fig8_lines(fig8["rows"])
    assert len(lines) == 3
    assert lines[0].startswith("the omega panels move the student's P@3 by at most")
    assert "Paper (Fig. 8): the omegas have a relatively small effect." in lines[0]
    assert lines[1].startswith("nu = 0.001 against nu = 1: student P@3 ")
    assert lines[2].startswith("mu = 10 against mu = 0.1: student P@3 ")
    assert all("from one seed" in line for line in lines[1:])


def _row(name: str, value: float, mean: float, std: float | None = 0.001) -> dict:
    return {"hyperparameter": name, "value": value, "n_train": 100, "count": 2, "p@3_mean": mean, "p@3_std": std}


def test_the_verdicts_follow_the_numbers():
    agree = [
        _row("omega_s", 0.2, 0.300),
        _row("omega_s", 0.8, 0.301),
        _row("nu", 0.001, 0.250),
        _row("nu", 1.0, 0.300),
        _row("mu", 0.1, 0.300),
        _row("mu", 10.0, 0.200),
    ]
    lines = tag_figures.fig8_lines(agree)
    assert "(smaller than both, as the paper says)" in lines[0]
    assert "student P@3 -5.00 points (lower, as the paper says)" in lines[1]
    assert "student P@3 -10.00 points (lower, as the paper says)" in lines[2]
    disagree = [
        _row("omega_s", 0.2, 0.200),
        _row("omega_s", 0.8, 0.300),
        _row("nu", 0.001, 0.320),
        _row("nu", 1.0, 0.300),
        _row("mu", 0.1, 0.300),
        _row("mu", 10.0, 0.3005),
    ]
    lines = tag_figures.fig8_lines(disagree)
    assert "not smaller than both: the paper's small effect does not reproduce" in lines[0]
    assert "+2.00 points (higher: the paper's direction does not reproduce)" in lines[1]
    assert "within the std over seeds (0.10): no effect measured" in lines[2]
    missing = [_row("nu", 0.001, 0.3), _row("nu", 0.01, 0.3)]
    assert tag_figures.fig8_lines(missing) == ["nu = 0.001: the default nu = 1 is not in the grid."]


def test_the_fig8_figure_has_a_panel_per_hyperparameter_and_the_p3_line(fig8):
    fig = viz_tags.tag_hyperparameter_figure(fig8["rows"])
    assert [a.text for a in fig.layout.annotations] == ["ω_s", "ν", "μ"]
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 3 and {t.name for t in lines} == {"n = 200"}
    nu = next(t for t in lines if t.xaxis == "x2")
    expected = [100 * r["p@3_mean"] for r in fig8["rows"] if r["hyperparameter"] == "nu"]
    assert list(nu.y) == pytest.approx(expected)
    assert fig.layout.yaxis.title.text == "P@3 of the student (%)" and "TPAMI Fig. 8" in fig.layout.title.text
    assert viz_tags.tag_hyperparameter_figure(fig8["rows"], "map").layout.yaxis.title.text == "MAP of the student (%)"
    with pytest.raises(ValueError, match="metric must be one of the student's tag metrics"):
        viz_tags.tag_hyperparameter_figure(fig8["rows"], "teacher_p@3")


# ------------------------------------------------------------------------------------------------------
# Fig. 10: the variance study on tags
# ------------------------------------------------------------------------------------------------------


def test_the_variance_study_on_tags_gives_finite_variances_per_method(fig10):
    curves = fig10["curves"]
    assert set(curves) == set(tag_figures.FIG10_METHODS)
    for config in fig10["configs"]:
        assert config.dataset == "tags-popular" and config.n_train == 200 and config.probe_gradients
    assert set(curves["ngan"]) == {"adversarial", "total", "tau"}  # NGAN's student has no teacher to distil
    for method in ("adim-ngs", "adim"):
        assert {"adversarial", "distillation", "total", "tau"} <= set(curves[method])
    for entry in curves.values():
        for part in ("adversarial", "distillation", "total"):
            values = entry.get(part, [])
            assert all(math.isfinite(v) and v >= 0 for v in values)
            assert len(values) in (0, 2)
        assert entry["tau"][0] == pytest.approx(10.0) and entry["tau"][-1] == pytest.approx(0.1)
    rows = {r["method"]: r for r in tag_figures.fig10_rows(curves)}
    assert rows["ngan"]["distillation"] is None and rows["ngan"]["ratio"] is None
    assert rows["adim"]["adversarial"] > 0 and rows["adim"]["ratio"] > 0


def test_fig10_lines_cover_the_papers_claims(fig10):
    lines = tag_figures.fig10_lines(fig10["curves"])
    assert len(lines) == 4
    assert lines[0].startswith("ADIM-NGS: the adversarial variance is above the distillation variance in ")
    assert lines[1].startswith("ADIM: the adversarial variance is above")
    assert lines[2].startswith("ADIM's adversarial variance averages ") and "(tau = 10)" in lines[2]
    assert lines[3].startswith("NGAN's adversarial variance averages ")
    # the sentence follows the numbers: swap which method is noisier and the verdict flips
    curves = {m: dict(e) for m, e in fig10["curves"].items()}
    curves["adim"]["adversarial"], curves["adim-ngs"]["adversarial"] = [1.0, 1.0], [2.0, 2.0]
    assert "(lower, as the paper says)" in tag_figures.fig10_lines(curves)[2]
    curves["adim"]["adversarial"], curves["adim-ngs"]["adversarial"] = [3.0, 3.0], [2.0, 2.0]
    assert "(not lower: the paper's ordering does not reproduce)" in tag_figures.fig10_lines(curves)[2]
    curves["adim"]["adversarial"] = [math.nan, 1.0]
    with pytest.raises(ValueError, match="adim's adversarial variance is not finite"):
        tag_figures.fig10_rows(curves)


def test_the_fig10_figure_has_the_papers_panels_last(fig10):
    fig = viz_tags.tag_gradient_variance_figure(fig10["curves"])
    assert [a.text for a in fig.layout.annotations] == ["NGAN", "ADIM-NGS", "ADIM"]
    names = {(t.xaxis, t.name) for t in fig.data}
    assert ("x3", "Adversarial Loss") in names and ("x3", "Distillation Loss") in names
    assert ("x", "Adversarial Loss") in names and ("x", "Distillation Loss") not in names
    assert fig.layout.yaxis.type == "log" and "TPAMI Fig. 10" in fig.layout.title.text
    two = viz_tags.tag_gradient_variance_figure(fig10["curves"], ("adim-ngs", "adim"))
    assert [a.text for a in two.layout.annotations] == ["ADIM-NGS", "ADIM"]
    with pytest.raises(ValueError, match="curves must hold at least one method"):
        viz_tags.tag_gradient_variance_figure({})
