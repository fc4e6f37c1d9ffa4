"""Figures of the gradient-estimator study (:mod:`advdist_lab.theory.estimators`, notebook 05) and of Lemma 4.5.

* :func:`estimator_figure`: bias, variance and MSE of each estimator against the temperature tau;
* :func:`estimator_samples_figure`: the variance against the number of samples ``m`` (slope -1);
* :func:`lemma_4_5_figure`: ``Var(lambda X + (1 - lambda) Y)`` against lambda, closed form and Monte Carlo,
  with the lemma's counterexample (:func:`advdist_lab.theory.variance_lemma.lemma_4_5_monte_carlo`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..theory.estimators import BiasVariance
from ..theory.variance_lemma import Lemma45Result
from .common import COLORS, TEMPLATE

__all__ = ["ESTIMATOR_COLORS", "estimator_figure", "estimator_samples_figure", "lemma_4_5_figure"]

ESTIMATOR_COLORS = {
    "score": "#7f7f7f",
    "score + baseline": "#2ca02c",
    "pathwise": "#1f77b4",
    "straight-through": "#d62728",
    "concrete-score": "#9467bd",
    "concrete-score + baseline": "#ff7f0e",
}
_ESTIMATOR_PANELS = (
    ("bias", "bias ||E[g] - grad||"),
    ("variance", "variance tr Cov(g)"),
    ("mse", "MSE E||g - grad||^2"),
)


def _estimator_trace(rows: Sequence[BiasVariance], label: str, panel: str, samples: int, show: bool) -> go.Scatter:
    rows = sorted(rows, key=lambda r: r.tau)
    flat = rows[0].estimator == "score"  # the score function does not use tau: a flat reference line
    return go.Scatter(
        x=[r.tau for r in rows],
        y=[getattr(r, panel) for r in rows],
        error_y={"type": "data", "array": [r.bias_se for r in rows], "visible": True} if panel == "bias" else None,
        mode="lines" if flat else "lines+markers",
        name=label,
        legendgroup=label,
        showlegend=panel == "bias",
        visible=show,
        meta={"panel": panel, "samples": samples, "label": label},
        line={"color": ESTIMATOR_COLORS.get(label), "dash": "dash" if flat else "solid"},
    )


def estimator_figure(rows: Sequence[BiasVariance], samples: int | None = None, title: str | None = None) -> go.Figure:
    """Bias, variance and MSE of each gradient estimator against the temperature tau (log-log), in three panels.

    ``rows`` are :func:`advdist_lab.theory.estimators.estimator_sweep` rows (one reward). One trace per estimator,
    panel and number of samples ``m``; a dropdown switches ``m`` (``samples``, default the smallest, is shown
    first). The bias carries error bars of one Monte Carlo standard error (``bias_se``): a bias within them is
    noise. The score function, which does not use tau, is a dashed flat line. Each trace's ``meta`` holds its
    ``panel``, ``samples`` and ``label``.
    """
    if not rows:
        raise ValueError("rows must not be empty")
    counts = sorted({r.samples for r in rows})
    shown = counts[0] if samples is None else samples
    if shown not in counts:
        raise ValueError(f"samples must be one of {counts} (got {samples!r})")
    labels = list(dict.fromkeys(r.label for r in rows))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in _ESTIMATOR_PANELS], horizontal_spacing=0.08)
    visibility: dict[int, list[bool]] = {m: [] for m in counts}
    for m in counts:
        for label in labels:
            selected = [r for r in rows if r.samples == m and r.label == label]
            if not selected:
                continue
            for col, (panel, _) in enumerate(_ESTIMATOR_PANELS, start=1):
                fig.add_trace(_estimator_trace(selected, label, panel, m, m == shown), row=1, col=col)
                for other in counts:
                    visibility[other].append(other == m)
    heading = title or f"Gradient estimators against the exact gradient ({rows[0].reward} reward)"
    if len(counts) > 1:
        fig.update_layout(
            updatemenus=[
                {
                    "buttons": [
                        {
                            "label": f"m = {m}",
                            "method": "update",
                            "args": [{"visible": visibility[m]}, {"title.text": f"{heading}, m = {m} samples"}],
                        }
                        for m in counts
                    ],
                    "active": counts.index(shown),
                    "x": 1.0,
                    "xanchor": "right",
                    "y": 1.25,
                }
            ]
        )
    fig.update_xaxes(type="log", title_text="temperature tau (log)")
    fig.update_yaxes(type="log")
    fig.update_layout(
        title=f"{heading}, m = {shown} samples", template=TEMPLATE, legend={"orientation": "h", "y": -0.25}
    )
    return fig


def estimator_samples_figure(rows: Sequence[BiasVariance], tau: float = 1.0, title: str | None = None) -> go.Figure:
    """Variance of each estimator against the number of samples ``m`` (log-log), at the swept tau nearest ``tau``.

    The variance of an ``m``-sample mean falls as ``1 / m`` (slope -1), drawn as a dotted reference through the
    first estimator's ``m = min`` point; the score function with the leave-one-out baseline falls faster at small
    ``m``, because its baseline improves with ``m`` (and equals no baseline at ``m = 1``).
    """
    if not rows:
        raise ValueError("rows must not be empty")
    taus = sorted({r.tau for r in rows})
    nearest = min(taus, key=lambda t: abs(math.log(t) - math.log(tau)))
    fig = go.Figure()
    for label in dict.fromkeys(r.label for r in rows):
        selected = sorted((r for r in rows if r.tau == nearest and r.label == label), key=lambda r: r.samples)
        fig.add_trace(
            go.Scatter(
                x=[r.samples for r in selected],
                y=[r.variance for r in selected],
                mode="lines+markers",
                name=label,
                line={"color": ESTIMATOR_COLORS.get(label)},
            )
        )
    first = fig.data[0]
    m0, v0 = first.x[0], first.y[0]
    ms = sorted({r.samples for r in rows})
    fig.add_trace(
        go.Scatter(
            x=ms,
            y=[v0 * m0 / m for m in ms],
            mode="lines",
            name="slope -1 (variance / m)",
            line={"color": COLORS["real"], "dash": "dot", "width": 1},
        )
    )
    fig.update_layout(
        title=title or f"Variance against the number of samples at tau = {nearest:.3g} ({rows[0].reward} reward)",
        xaxis_title="samples per estimate m (log)",
        yaxis_title="variance tr Cov (log)",
        xaxis_type="log",
        yaxis_type="log",
        template=TEMPLATE,
    )
    return fig


_LEMMA_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#bcbd22")
_COUNTER_COLORS = ("#d62728", "#ff7f0e", "#e377c2")


def lemma_4_5_figure(results: Mapping[str, Lemma45Result], title: str = "Lemma 4.5") -> go.Figure:
    """``Var(lambda X + (1 - lambda) Y)`` against lambda: closed-form curves, Monte Carlo points and ``Var(Y)``.

    ``results`` maps a name to :func:`advdist_lab.theory.variance_lemma.lemma_4_5_monte_carlo` results. Each case is a
    line (the closed form on a fine grid) and markers with error bars of two standard errors (Monte Carlo);
    ``Var(Y)`` of each case is a thin black dashed line. Cases that violate the premise (``Var X > Var Y``) are
    drawn in warm colours with dotted lines and named "(premise violated)"; where they rise above ``Var(Y)`` the
    lemma's conclusion fails.
    """
    if not results:
        raise ValueError("results must not be empty")
    fig = go.Figure()
    grid = [i / 100 for i in range(101)]
    cool, warm = iter(_LEMMA_COLORS * 4), iter(_COUNTER_COLORS * 4)
    for name, res in results.items():
        color = next(cool) if res.premise else next(warm)
        label = name if res.premise else f"{name} (premise violated)"
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=[res.closed_form_variance(lam) for lam in grid],
                mode="lines",
                name=label,
                legendgroup=name,
                line={"color": color, "dash": "solid" if res.premise else "dot"},
                meta={"kind": "closed form", "case": name, "premise": res.premise},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=list(res.lambdas),
                y=list(res.monte_carlo),
                mode="markers",
                name=f"{name}: Monte Carlo",
                legendgroup=name,
                showlegend=False,
                marker={"color": color, "size": 6, "symbol": "circle" if res.premise else "x"},
                error_y={"type": "data", "array": [2 * se for se in res.standard_error], "visible": True},
                meta={"kind": "monte carlo", "case": name, "premise": res.premise},
            )
        )
    for var_y in sorted({res.var_y for res in results.values()}):
        fig.add_trace(
            go.Scatter(
                x=[0.0, 1.0],
                y=[var_y, var_y],
                mode="lines",
                name=f"Var(Y) = {var_y:g}",
                line={"color": COLORS["real"], "dash": "dash", "width": 1},
                meta={"kind": "var y"},
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="lambda (weight of X)",
        yaxis_title="Var(lambda X + (1 - lambda) Y)",
        template=TEMPLATE,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
