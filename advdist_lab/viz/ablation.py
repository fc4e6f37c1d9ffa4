"""Figures of the hyperparameter sweeps (:mod:`advdist_lab.experiments.ablation`, notebooks 06 and 07).

* :func:`hyperparameter_figure`: TPAMI Fig. 3, the final accuracy against each hyperparameter, one line per
  training-set size ``n`` with a ±std band over seeds;
* :func:`teacher_mu_figure`: TPAMI Fig. 6 (and Fig. 11 with a tag metric), the teacher's accuracy against ``mu``
  beside the run with ``mu = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics import TAG_METRICS
from .common import COLORS, TEMPLATE, band_color

__all__ = ["HYPERPARAMETER_LABELS", "SIZE_COLORS", "hyperparameter_figure", "teacher_mu_figure"]

SIZE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
"""One colour per training-set size n, in increasing order of n."""

HYPERPARAMETER_LABELS = {"omega_r": "ω_r", "omega_s": "ω_s", "omega_t": "ω_t", "nu": "ν", "mu": "μ"}
_SWEEP_METRICS = ("test_accuracy", "teacher_test_accuracy", *TAG_METRICS, *(f"teacher_{m}" for m in TAG_METRICS))
"""Top-level numbers of ``result.json`` that the sweep figures plot: accuracies, and the ranking metrics at k = 3
of tag runs (TPAMI Fig. 11 plots the teacher's MAP and P@3)."""


def _mean_band(
    fig: go.Figure,
    x: Sequence[float],
    means: Sequence[float],
    stds: Sequence[float | None],
    *,
    name: str,
    color: str,
    col: int,
    legendgroup: str,
    showlegend: bool,
    counts: Sequence[int],
) -> None:
    """A mean line over ``x`` with a ±std band (the band is left out where no point has a spread: one seed)."""
    x, spread = list(x), [float(s or 0.0) for s in stds]
    if any(spread):
        upper = [m + s for m, s in zip(means, spread, strict=True)]
        lower = [m - s for m, s in zip(means, spread, strict=True)]
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=upper + lower[::-1],
                fill="toself",
                fillcolor=band_color(color),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=legendgroup,
                name=f"{name} ± std",
            ),
            row=1,
            col=col,
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=list(means),
            customdata=[[s, c] for s, c in zip(spread, counts, strict=True)],
            hovertemplate="%{x:.4g}: %{y:.2f} ± %{customdata[0]:.2f} (%{customdata[1]} seeds)",
            mode="lines+markers",
            name=name,
            legendgroup=legendgroup,
            showlegend=showlegend,
            line={"color": color, "width": 2},
        ),
        row=1,
        col=col,
    )


def _percentages(rows: Sequence[Mapping], metric: str) -> tuple[list[float], list[float | None], list[int]]:
    means = [100.0 * float(r[f"{metric}_mean"]) for r in rows]
    stds = [None if r[f"{metric}_std"] is None else 100.0 * float(r[f"{metric}_std"]) for r in rows]
    return means, stds, [int(r["count"]) for r in rows]


def hyperparameter_figure(
    rows: Sequence[Mapping],
    hyperparameters: Sequence[str] | None = None,
    title: str = "Effects of the hyper-parameters in ADIM (TPAMI Fig. 3)",
    metric: str = "test_accuracy",
    y_title: str | None = None,
) -> go.Figure:
    """TPAMI Fig. 3: one panel per hyperparameter, the final test accuracy (%) against its value on a log x axis,
    one line per training-set size n with the mean over seeds and a ±std band.

    ``rows`` are :func:`advdist_lab.experiments.ablation.fig3_rows`'s; ``hyperparameters`` picks and orders the panels
    (default: those in ``rows``, in the paper's order). ``metric`` is ``"test_accuracy"`` (the student, as the
    paper) or ``"teacher_test_accuracy"``.
    """
    if metric not in _SWEEP_METRICS:
        raise ValueError(f"metric must be one of {', '.join(_SWEEP_METRICS)} (got {metric!r})")
    rows = [r for r in rows if r.get(f"{metric}_mean") is not None]
    if not rows:
        raise ValueError(f"rows must hold at least one row with {metric}_mean")
    present = {r["hyperparameter"] for r in rows}
    if hyperparameters is None:
        names = [h for h in HYPERPARAMETER_LABELS if h in present] + sorted(present - set(HYPERPARAMETER_LABELS))
    else:
        names = list(hyperparameters)
        missing = [h for h in names if h not in present]
        if not names or missing:
            raise ValueError(f"hyperparameters must be among the rows' {', '.join(sorted(present))} (got {names})")
    labels = [HYPERPARAMETER_LABELS.get(h, h) for h in names]
    sizes = sorted({int(r["n_train"]) for r in rows})
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=labels, shared_yaxes=True)
    shown: set[int] = set()  # one legend entry per size, from the first panel that has it
    for col, (name, label) in enumerate(zip(names, labels, strict=True), start=1):
        for index, n in enumerate(sizes):
            mine = (r for r in rows if r["hyperparameter"] == name and r["n_train"] == n)
            panel = sorted(mine, key=lambda r: r["value"])
            if not panel:
                continue
            means, stds, counts = _percentages(panel, metric)
            _mean_band(
                fig,
                [float(r["value"]) for r in panel],
                means,
                stds,
                name=f"n = {n}",
                color=SIZE_COLORS[index % len(SIZE_COLORS)],
                col=col,
                legendgroup=f"n = {n}",
                showlegend=n not in shown,
                counts=counts,
            )
            shown.add(n)
        fig.update_xaxes(type="log", title_text=f"{label} (log)", row=1, col=col)
    player = "student" if metric == "test_accuracy" else "teacher"
    fig.update_yaxes(title_text=y_title or f"{player} test accuracy (%)", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, legend={"orientation": "h", "y": -0.25})
    return fig


def teacher_mu_figure(
    rows: Sequence[Mapping],
    baseline_rows: Sequence[Mapping] = (),
    title: str = "Accuracy of the teacher with varying μ (TPAMI Fig. 6)",
    metric: str = "teacher_test_accuracy",
    y_title: str | None = None,
) -> go.Figure:
    """TPAMI Fig. 6: one panel per training-set size n, the teacher's final test accuracy (%) against ``mu`` on a
    log x axis ("μ > 0", mean over seeds with a ±std band), and the run with ``mu = 0`` as a dashed horizontal
    line ("μ = 0") across the panel.

    ``rows`` and ``baseline_rows`` are the two lists of :func:`advdist_lab.experiments.ablation.fig6_rows`; a
    size without a baseline row has no dashed line. ``metric="test_accuracy"`` shows the student instead.
    """
    if metric not in _SWEEP_METRICS:
        raise ValueError(f"metric must be one of {', '.join(_SWEEP_METRICS)} (got {metric!r})")
    rows = [r for r in rows if r.get(f"{metric}_mean") is not None]
    if not rows:
        raise ValueError(f"rows must hold at least one row with mu > 0 and {metric}_mean")
    if any(float(r["mu"]) <= 0 for r in rows):
        raise ValueError("rows must have mu > 0 (a log axis); pass the mu = 0 runs as baseline_rows")
    baseline = {int(r["n_train"]): r for r in baseline_rows if r.get(f"{metric}_mean") is not None}
    sizes = sorted({int(r["n_train"]) for r in rows})
    fig = make_subplots(rows=1, cols=len(sizes), subplot_titles=[f"n = {n}" for n in sizes])
    for col, n in enumerate(sizes, start=1):
        panel = sorted((r for r in rows if r["n_train"] == n), key=lambda r: r["mu"])
        mus = [float(r["mu"]) for r in panel]
        means, stds, counts = _percentages(panel, metric)
        _mean_band(
            fig,
            mus,
            means,
            stds,
            name="μ > 0",
            color=COLORS["teacher" if metric == "teacher_test_accuracy" else "student"],
            col=col,
            legendgroup="mu > 0",
            showlegend=col == 1,
            counts=counts,
        )
        if n in baseline:
            (mean,), (std,), (count,) = _percentages([baseline[n]], metric)
            fig.add_trace(
                go.Scatter(
                    x=[mus[0], mus[-1]],
                    y=[mean, mean],
                    mode="lines",
                    name="μ = 0",
                    legendgroup="mu = 0",
                    showlegend=col == 1,
                    hovertemplate=f"μ = 0: {mean:.2f} ± {std or 0.0:.2f} ({count} seeds)<extra></extra>",
                    line={"color": COLORS["real"], "dash": "dash", "width": 1.5},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(type="log", title_text="μ (log)", row=1, col=col)
    player = "teacher" if metric == "teacher_test_accuracy" else "student"
    fig.update_yaxes(title_text=y_title or f"{player} test accuracy (%)", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, legend={"orientation": "h", "y": -0.25})
    return fig
