"""Figures of the gradient probes in training (:mod:`advdist_lab.experiments.gradients`, notebook 05).

* :func:`gradient_variance_figure`: TPAMI Fig. 5, the variance of the adversarial and the distillation gradients
  by epoch, one panel per method;
* :func:`cosine_vs_omega_figure`: TPAMI Fig. 7, the cosine of the two gradients against the swept weight;
* :func:`epochs_to_accuracy_figure`: training speed, the epochs each method needs to reach an accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import COLORS, TEMPLATE, method_color, theme_color

__all__ = ["cosine_vs_omega_figure", "epochs_to_accuracy_figure", "gradient_variance_figure"]

_PART_STYLE = {
    "adversarial": ("Adversarial Loss", "#ff7f0e", "solid"),
    "distillation": ("Distillation Loss", "#1f77b4", "solid"),
    "total": ("whole loss", None, "dot"),  # None: the theme's muted colour
}


def gradient_variance_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    methods: Sequence[str] | None = None,
    title: str = "Variance of the gradients w.r.t. the student (TPAMI Fig. 5)",
    show_total: bool = False,
) -> go.Figure:
    """TPAMI Fig. 5: per method a panel, the variance of the adversarial and the distillation gradients by epoch.

    ``curves`` is :func:`advdist_lab.experiments.gradients.variance_curves`'s result. The y axis is logarithmic
    as in the paper, its ticks powers of ten; the temperature ``tau`` of each epoch shows on hover. ``show_total``
    adds the variance of the whole loss's gradient as a dotted line.
    """
    methods = list(curves) if methods is None else list(methods)
    missing = [m for m in methods if m not in curves]
    if not methods or missing:
        raise ValueError(f"methods must be among the curves' methods {', '.join(curves)} (got {', '.join(missing)})")
    fig = make_subplots(rows=1, cols=len(methods), subplot_titles=[m.upper() for m in methods], shared_yaxes=True)
    for col, method in enumerate(methods, start=1):
        entry = curves[method]
        for part, (name, color, dash) in _PART_STYLE.items():
            if part not in entry or (part == "total" and not show_total):
                continue
            values = [float(v) for v in entry[part]]
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(values) + 1)),
                    y=[v if v > 0 else None for v in values],  # a log axis cannot show 0
                    customdata=entry.get("tau"),
                    hovertemplate="epoch %{x}, tau %{customdata:.3g}: %{y:.3g}",
                    mode="lines",
                    name=name,
                    legendgroup=part,
                    showlegend=col == 1,
                    line={"color": color or theme_color("muted"), "dash": dash},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="training epochs", row=1, col=col)
    fig.update_yaxes(type="log", title_text="variance of gradients", row=1, col=1)
    for col in range(2, len(methods) + 1):
        fig.update_yaxes(type="log", row=1, col=col)
    fig.update_yaxes(exponentformat="power")  # 10^-6, not the SI prefix 1µ
    fig.update_layout(title=title, template=TEMPLATE, legend={"orientation": "h", "y": -0.2})
    return fig


def cosine_vs_omega_figure(
    panels: Mapping[str, Sequence[Mapping]],
    title: str = "Cosine similarity of the adversarial and distillation gradients (TPAMI Fig. 7)",
) -> go.Figure:
    """TPAMI Fig. 7: the epoch-averaged cosine against the swept weight, on a log2 axis, one panel per player.

    ``panels`` maps a player (``"student"``: against ``omega_s``; ``"teacher"``: against ``omega_t``) to the rows
    of :func:`advdist_lab.experiments.gradients.cosine_vs_omega`; error bars are the standard deviation over seeds.
    """
    if not panels:
        raise ValueError("panels must hold at least one player's rows")
    names = {"student": ("(a) student", "omega_s"), "teacher": ("(b) teacher", "omega_t")}
    for player in panels:
        if player not in names:
            raise ValueError(f"panels' keys must be 'student' or 'teacher' (got {player!r})")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[names[p][0] for p in panels])
    for col, (player, rows) in enumerate(panels.items(), start=1):
        omegas = [float(r["omega"]) for r in rows]
        fig.add_trace(
            go.Scatter(
                x=[math.log2(w) for w in omegas],
                y=[float(r["cosine"]) for r in rows],
                error_y={"type": "data", "array": [float(r.get("cosine_std", 0.0)) for r in rows], "visible": True},
                customdata=[[float(r["omega"]), float(r.get("accuracy", math.nan))] for r in rows],
                hovertemplate=names[player][1]
                + " %{customdata[0]:.4g}: cosine %{y:.3f}, accuracy %{customdata[1]:.3f}",
                mode="lines+markers",
                name=player,
                line={"color": COLORS[player]},
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=f"log2 {names[player][1]}", row=1, col=col)
        fig.update_yaxes(title_text="cosine similarity", row=1, col=col)
    fig.update_layout(title=title, template=TEMPLATE, showlegend=False)
    return fig


def epochs_to_accuracy_figure(rows: Sequence[Mapping], threshold: float, title: str | None = None) -> go.Figure:
    """Training speed: the epochs each method's student needs to reach ``threshold``, one dot per seed.

    ``rows`` are :func:`advdist_lab.experiments.gradients.speed_table`'s. Seeds that never reach it are counted in
    the hover text and drawn at no height; the bar is the mean over the seeds that do.
    """
    fig = go.Figure()
    for row in rows:
        method = row["method"]
        reached = [e for e in row["epochs"] if e is not None]
        color = method_color(method)
        fig.add_trace(
            go.Bar(
                x=[method.upper()],
                y=[row["mean_epochs"] if reached else None],
                name=method.upper(),
                marker_color=color,
                opacity=0.6,
                hovertext=f"{len(reached)} of {row['seeds']} seeds reach it",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[method.upper()] * len(reached),
                y=reached,
                mode="markers",
                marker={"color": color, "size": 9, "line": {"width": 1, "color": theme_color("foreground")}},
                showlegend=False,
                name=f"{method.upper()} seeds",
            )
        )
    fig.update_layout(
        title=title or f"Epochs until the student reaches {threshold:.0%} test accuracy",
        yaxis_title="epochs",
        template=TEMPLATE,
        showlegend=False,
    )
    return fig
