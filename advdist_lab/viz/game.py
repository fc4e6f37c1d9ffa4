"""Figures of the exact game (TPAMI Sections 3-4, notebooks 00-03 and the game explorer of notebook 06).

* :func:`ternary_trajectories`: the players' paths on the 3-label simplex towards ``p_r``;
* :func:`value_curve`: the value function by step against its equilibrium (Theorems 4.2, 4.4);
* :func:`game_explorer_figure`: both side by side, the figure :class:`advdist_lab.widgets.GameExplorer` redraws;
* :func:`kl_curves`: ``KL(p_r || p_player)`` by step for several games;
* :func:`distribution_bars`: distributions over the same labels as grouped bars;
* :func:`lemma_path_figure`: Lemmas 4.6 / 4.7, the scaled divergence's distance to its limit.

Every function takes results of :mod:`advdist_lab.theory` (trajectories of
:func:`~advdist_lab.theory.solver.solve_game`, lemma paths of :mod:`advdist_lab.theory.theorems`) and returns a
``plotly.graph_objects.Figure``; nothing here solves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..theory.theorems import LemmaPoint
from ..theory.trajectory import GameTrajectory
from .common import COLORS, TEMPLATE, theme_color

__all__ = [
    "distribution_bars",
    "game_explorer_figure",
    "kl_curves",
    "lemma_path_figure",
    "marker_legend",
    "ternary_trajectories",
    "value_curve",
]


TERNARY_TICKS = (0.2, 0.4, 0.6, 0.8)
"""The tick values of each ternary axis: not 0 and 1, the vertices, where the axis titles (the labels) stand and
the corner tick labels would overlap them."""
TERNARY_MARGIN = {"l": 60, "r": 60, "t": 80, "b": 60}
"""The margins of a ternary figure: room for the vertex labels outside the triangle."""


def _ternary_layout(fig: go.Figure, labels: Sequence[str], title: str) -> go.Figure:
    a, b, c = labels

    def axis(label: str) -> dict:
        return {"title": {"text": label}, "min": 0, "tickmode": "array", "tickvals": list(TERNARY_TICKS)}

    fig.update_layout(
        title=title,
        template=TEMPLATE,
        ternary={"sum": 1, "aaxis": axis(a), "baxis": axis(b), "caxis": axis(c)},
        legend={"orientation": "h", "y": -0.1},
        margin=dict(TERNARY_MARGIN),
    )
    return fig


def _check_labels(labels: Sequence[str]) -> None:
    if isinstance(labels, str) or len(labels) != 3 or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"labels must be 3 strings, one per vertex (got {labels!r})")


def marker_legend() -> list[go.Scatterternary]:
    """Two legend keys that draw nothing: "start" (open circle) and "end" (filled circle), the markers at the ends
    of every path on the simplex, in the theme's neutral colour (they stand for every player). Each holds one
    missing point: plotly.js leaves a trace without any point out of the legend."""
    color = theme_color("neutral")
    return [
        go.Scatterternary(
            a=[None],
            b=[None],
            c=[None],
            mode="markers",
            name=name,
            hoverinfo="skip",
            marker={"color": color, "size": 9, "symbol": symbol},
        )
        for name, symbol in (("start", "circle-open"), ("end", "circle"))
    ]


def _ternary_path(points: torch.Tensor, name: str, color: str, dash: str = "solid") -> list[go.Scatterternary]:
    pts = points.detach().to(torch.float64).cpu().numpy()
    path = go.Scatterternary(
        a=pts[:, 0],
        b=pts[:, 1],
        c=pts[:, 2],
        mode="lines",
        name=name,
        line={"color": color, "width": 2, "dash": dash},
    )
    start = go.Scatterternary(
        a=pts[:1, 0],
        b=pts[:1, 1],
        c=pts[:1, 2],
        mode="markers",
        name=f"{name} start",
        showlegend=False,
        marker={"color": color, "size": 9, "symbol": "circle-open"},
    )
    end = go.Scatterternary(
        a=pts[-1:, 0],
        b=pts[-1:, 1],
        c=pts[-1:, 2],
        mode="markers",
        name=f"{name} end",
        showlegend=False,
        marker={"color": color, "size": 9, "symbol": "circle"},
    )
    return [path, start, end]


def _context(t: torch.Tensor, context: int, leading: int) -> torch.Tensor:
    flat = t.reshape(*t.shape[:leading], -1, t.shape[-1])
    if not 0 <= context < flat.shape[leading]:
        raise ValueError(f"context must be in [0, {flat.shape[leading]}) (got {context!r})")
    return flat.select(leading, context)


def _paths(
    trajectory: GameTrajectory, context: int, show_mixture: bool | None = None
) -> list[tuple[str, torch.Tensor, str, str]]:
    """(name, points, colour, dash) of the student's, the teacher's and (ADIB by default) the mixture's paths."""
    paths = [("student p_s", _context(trajectory.p_s, context, 1), COLORS["student"], "solid")]
    if trajectory.p_t is not None:
        name = "teacher p_t (fixed)" if trajectory.method == "kd" else "teacher p_t"
        paths.append((name, _context(trajectory.p_t, context, 1), COLORS["teacher"], "solid"))
    if show_mixture is None:
        show_mixture = trajectory.method == "adib"
    if show_mixture:
        hp = trajectory.hparams
        mix = hp.omega_s * trajectory.p_s + hp.omega_t * trajectory.p_t
        paths.append(("mixture p_omega", _context(mix, context, 1), COLORS["mixture"], "dot"))
    return paths


def _real_point(trajectory: GameTrajectory, context: int) -> go.Scatterternary:
    real = _context(trajectory.p_r.unsqueeze(0), context, 1)[0].cpu().numpy()
    return go.Scatterternary(
        a=[real[0]],
        b=[real[1]],
        c=[real[2]],
        mode="markers",
        name="real p_r",
        marker={"color": COLORS["real"], "size": 16, "symbol": "star"},
    )


def ternary_trajectories(
    trajectory: GameTrajectory,
    context: int = 0,
    title: str | None = None,
    labels: Sequence[str] = ("y = 1", "y = 2", "y = 3"),
    show_mixture: bool | None = None,
) -> go.Figure:
    """The paths of ``p_s`` and ``p_t`` (and ADIB's mixture ``p_omega``) on the 3-label simplex, with ``p_r``.

    Open circles mark the start, filled ones the end (the legend's "start" and "end"). Needs exactly 3 labels;
    ``labels`` name the vertices.
    """
    if trajectory.p_r.shape[-1] != 3:
        raise ValueError(f"a ternary plot needs 3 labels (got {trajectory.p_r.shape[-1]})")
    _check_labels(labels)
    fig = go.Figure()
    for name, points, color, dash in _paths(trajectory, context, show_mixture):
        fig.add_traces(_ternary_path(points, name, color, dash))
    fig.add_traces(marker_legend())
    fig.add_trace(_real_point(trajectory, context))
    default = f"{trajectory.method.upper()} ({trajectory.mode}): paths on the simplex"
    return _ternary_layout(fig, labels, title or default)


def value_curve(trajectory: GameTrajectory, title: str | None = None, zoom: bool = True) -> go.Figure:
    """The value function against the step, with the optimal-discriminator value and the equilibrium as a line.

    With ``zoom`` the y axis spans the values after the first 2% of the steps (and the equilibrium), so the
    approach to the equilibrium is visible rather than dwarfed by the first steps; plotly's zoom-out shows all.
    """
    steps = trajectory.steps.numpy()
    curves = []
    if trajectory.method != "kd":
        curves.append(("V (learned discriminator)", trajectory.value, "solid"))
    star = "V* (optimal discriminator)" if trajectory.method != "kd" else "L_KD (Eq. 2)"
    curves.append((star, trajectory.optimal_value, "dash"))
    fig = go.Figure()
    for name, values, dash in curves:
        fig.add_trace(go.Scatter(x=steps, y=values.numpy(), name=name, mode="lines", line={"dash": dash}))
    fig.add_hline(
        y=trajectory.equilibrium_value,
        line={"color": COLORS["real"], "dash": "dot"},
        annotation_text=f"equilibrium {trajectory.equilibrium_value:.4f}",
        annotation_position="top right",
    )
    fig.update_layout(
        title=title or f"{trajectory.method.upper()}: value against step",
        xaxis_title="step",
        yaxis_title="value",
        template=TEMPLATE,
    )
    if zoom and len(steps) > 2:
        fig.update_yaxes(range=_tail_range(trajectory, [values for _, values, _ in curves]))
    return fig


def _tail_range(trajectory: GameTrajectory, curves: Sequence[torch.Tensor]) -> list[float]:
    """A y range over the curves after their first 2% of records and the equilibrium value, padded by 10%."""
    tail = torch.cat([values[len(values) // 50 :] for values in curves])
    tail = tail[torch.isfinite(tail)]
    low = min(float(tail.min()), trajectory.equilibrium_value) if len(tail) else trajectory.equilibrium_value
    high = max(float(tail.max()), trajectory.equilibrium_value) if len(tail) else trajectory.equilibrium_value
    pad = 0.1 * (high - low) or 1e-3
    return [low - pad, high + pad]


def game_explorer_figure(
    trajectory: GameTrajectory, context: int = 0, labels: Sequence[str] = ("y = 1", "y = 2", "y = 3")
) -> go.Figure:
    """The game explorer's figure: the players' paths towards ``p_r`` on the simplex, and the value by step.

    Left, a ternary plot (3 labels) of ``p_s`` and ``p_t`` (and ADIB's mixture) from their start (open circle) to
    their end (filled; both keyed in the legend), with ``p_r`` as a star. Right, the value with the learned
    discriminator, the value ``V*`` with the optimal one, and the theoretical equilibrium value (Theorems 4.2,
    4.4) as a dotted line. The equilibrium is a trace rather than a layout shape, so that
    :class:`advdist_lab.widgets.GameExplorer` redraws everything by replacing trace data alone.
    """
    if trajectory.p_r.shape[-1] != 3:
        raise ValueError(f"a ternary plot needs 3 labels (got {trajectory.p_r.shape[-1]})")
    _check_labels(labels)
    fig = make_subplots(
        rows=1,
        cols=2,
        specs=[[{"type": "ternary"}, {"type": "xy"}]],
        column_widths=[0.48, 0.52],
        subplot_titles=("p_s and p_t on the simplex", "value against step"),
    )
    for name, points, color, dash in _paths(trajectory, context):
        for trace in _ternary_path(points, name, color, dash):
            fig.add_trace(trace, row=1, col=1)
    for trace in marker_legend():
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(_real_point(trajectory, context), row=1, col=1)
    steps = trajectory.steps.numpy()
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=trajectory.value.numpy(),
            name="V (learned D)",
            mode="lines",
            line={"color": theme_color("muted")},
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=trajectory.optimal_value.numpy(),
            name="V* (optimal D)",
            mode="lines",
            line={"color": COLORS["mixture"], "dash": "dash"},
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=[steps[0], steps[-1]],
            y=[trajectory.equilibrium_value] * 2,
            name=f"equilibrium {trajectory.equilibrium_value:.4f}",
            mode="lines",
            line={"color": COLORS["real"], "dash": "dot"},
        ),
        row=1,
        col=2,
    )
    estimator = "exact gradients" if trajectory.tau is None else f"Gumbel-Softmax tau = {trajectory.tau:g}"
    _ternary_layout(fig, labels, f"{trajectory.method.upper()} ({estimator})")
    fig.update_layout(
        ternary_domain_y=[0.0, 0.86],  # below its subplot title: room for the top vertex label
        legend={"orientation": "h", "y": -0.12, "yanchor": "top"},
        margin=dict(TERNARY_MARGIN, r=20, b=100),
        height=540,
        uirevision="explorer",
    )
    fig.update_xaxes(title_text="step", row=1, col=2)
    # zoomed on the approach to the equilibrium (plotly's autoscale button shows the first steps too)
    fig.update_yaxes(title_text="value", range=_tail_range(trajectory, [trajectory.value, trajectory.optimal_value]))
    return fig


def kl_curves(
    trajectories: Mapping[str, GameTrajectory], player: str = "student", title: str | None = None, floor: float = 1e-16
) -> go.Figure:
    """``KL(p_r || p_player)`` against the step for several games, on a log axis (values below ``floor`` clipped)."""
    fig = go.Figure()
    for name, trajectory in trajectories.items():
        kl = trajectory.kl_to_real(player).clamp_min(floor).numpy()
        fig.add_trace(
            go.Scatter(
                x=trajectory.steps.numpy(),
                y=kl,
                mode="lines",
                name=name,
                line={"color": COLORS.get(trajectory.method)} if len(trajectories) <= 1 else {},
            )
        )
    fig.update_layout(
        title=title or f"KL(p_r || p_{player[0]}) against step",
        xaxis_title="step",
        yaxis_title=f"KL(p_r || {player})",
        yaxis_type="log",
        yaxis_exponentformat="power",
        template=TEMPLATE,
    )
    return fig


def distribution_bars(
    distributions: Mapping[str, torch.Tensor], title: str = "", labels: Sequence[str] | None = None
) -> go.Figure:
    """Grouped bars of one distribution per name (1-D tensors over the same labels)."""
    fig = go.Figure()
    for name, p in distributions.items():
        values = torch.as_tensor(p).reshape(-1).cpu().numpy()
        x = list(labels) if labels is not None else [f"y = {k + 1}" for k in range(len(values))]
        fig.add_trace(go.Bar(x=x, y=values, name=name, marker={"color": COLORS.get(name.split()[0].lower())}))
    fig.update_layout(title=title, barmode="group", yaxis_title="probability", template=TEMPLATE)
    return fig


def lemma_path_figure(points: Sequence[LemmaPoint], title: str) -> go.Figure:
    """Lemmas 4.6 / 4.7: ``|scaled divergence - limit|`` against epsilon (log-log), with the literal ratio beside it."""
    eps = [p.epsilon for p in points]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=eps,
            y=[p.error for p in points],
            mode="lines+markers",
            name="|(V* - sum omega log omega) / omega_k - L_KD|",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=eps,
            y=[abs(p.naive_ratio - p.limit) for p in points],
            mode="lines+markers",
            name="|V* / omega_k - L_KD| (the lemma read literally)",
            line={"dash": "dash"},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="epsilon = 1 - omega (log)",
        yaxis_title="absolute error (log)",
        xaxis_type="log",
        yaxis_type="log",
        xaxis_exponentformat="power",
        yaxis_exponentformat="power",
        template=TEMPLATE,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
