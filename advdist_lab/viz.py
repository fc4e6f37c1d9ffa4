"""Pure functions that return plotly figures; the only core-adjacent module that imports plotly.

Every function takes results computed by the library (trajectories, lemma paths, dicts of numbers) and returns a
``plotly.graph_objects.Figure``; nothing here trains or solves. :func:`use_notebook_renderer` makes figures
render both in JupyterLab and in the HTML copies that ``make course`` writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

from .estimator_study import BiasVariance
from .game import GameTrajectory
from .metrics import TAG_METRICS
from .theorems import Lemma45Result, LemmaPoint

COLORS = {
    "real": "#222222",
    "student": "#1f77b4",
    "teacher": "#d62728",
    "mixture": "#9467bd",
    "kd": "#2ca02c",
    "ngan": "#ff7f0e",
    "adib": "#9467bd",
    "adim": "#1f77b4",
    "adim-ngs": "#17becf",
    "codis": "#8c564b",
    "distn": "#e377c2",
    "noisy": "#7f7f7f",
    "mimic": "#bcbd22",
}
TEMPLATE = "plotly_white"


def use_notebook_renderer() -> None:
    """Render figures as plotly's mimetype (JupyterLab) plus self-contained HTML (nbconvert, offline viewers).

    The HTML part embeds plotly.js once per notebook, so the HTML copies of executed notebooks show their
    figures without a network connection.
    """
    pio.renderers.default = "plotly_mimetype+notebook"


def _ternary_layout(fig: go.Figure, labels: Sequence[str], title: str) -> go.Figure:
    a, b, c = labels
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        ternary={
            "sum": 1,
            "aaxis": {"title": {"text": a}, "min": 0},
            "baxis": {"title": {"text": b}, "min": 0},
            "caxis": {"title": {"text": c}, "min": 0},
        },
        legend={"orientation": "h", "y": -0.1},
        margin={"l": 40, "r": 40, "t": 60, "b": 40},
    )
    return fig


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

    Open circles mark the start, filled ones the end. Needs exactly 3 labels.
    """
    if trajectory.p_r.shape[-1] != 3:
        raise ValueError(f"a ternary plot needs 3 labels (got {trajectory.p_r.shape[-1]})")
    fig = go.Figure()
    for name, points, color, dash in _paths(trajectory, context, show_mixture):
        fig.add_traces(_ternary_path(points, name, color, dash))
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
    their end (filled), with ``p_r`` as a star. Right, the value with the learned discriminator, the value ``V*``
    with the optimal one, and the theoretical equilibrium value (Theorems 4.2, 4.4) as a dotted line. The
    equilibrium is a trace rather than a layout shape, so that :class:`advdist_lab.widgets.GameExplorer` redraws
    everything by replacing trace data alone.
    """
    if trajectory.p_r.shape[-1] != 3:
        raise ValueError(f"a ternary plot needs 3 labels (got {trajectory.p_r.shape[-1]})")
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
    fig.add_trace(_real_point(trajectory, context), row=1, col=1)
    steps = trajectory.steps.numpy()
    fig.add_trace(
        go.Scatter(x=steps, y=trajectory.value.numpy(), name="V (learned D)", mode="lines", line={"color": "#555555"}),
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
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 40, "r": 20, "t": 70, "b": 40},
        height=460,
        uirevision="explorer",
    )
    fig.update_xaxes(title_text="step", row=1, col=2)
    # zoomed on the approach to the equilibrium (plotly's autoscale button shows the first steps too)
    fig.update_yaxes(title_text="value", range=_tail_range(trajectory, [trajectory.value, trajectory.optimal_value]))
    return fig


TRAINING_EXPLORER_SERIES = (
    ("student_test_accuracy", "student", COLORS["student"], 1),
    ("teacher_test_accuracy", "teacher", COLORS["teacher"], 1),
    ("grad_var_adversarial", "adversarial", COLORS["ngan"], 2),
    ("grad_var_distillation", "distillation", COLORS["kd"], 2),
)
"""History keys of the training explorer's figure: (key, legend name, colour, panel)."""


def training_explorer_figure(history: Sequence[Mapping], title: str = "training") -> go.Figure:
    """Test accuracy of the student and the teacher (left) and the variance of the student's adversarial and
    distillation gradients (right, log y; :mod:`advdist_lab.probes`) against the epoch, from a run's history.

    Every series of :data:`TRAINING_EXPLORER_SERIES` always has a trace (empty when the history lacks the key: a
    method without a teacher, or no probes), so a live figure keeps its traces while epochs stream in.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy", "variance of the student's gradient (probes)"))
    epochs = [entry["epoch"] for entry in history]
    for key, name, color, panel in TRAINING_EXPLORER_SERIES:
        points = [(e, entry[key]) for e, entry in zip(epochs, history) if entry.get(key) is not None]
        fig.add_trace(
            go.Scatter(
                x=[e for e, _ in points],
                y=[v for _, v in points],
                name=name,
                mode="lines+markers",
                marker={"size": 4},
                line={"color": color, "dash": "solid" if panel == 1 else "dot"},
            ),
            row=1,
            col=panel,
        )
    fig.update_layout(title=title, template=TEMPLATE, height=400, legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="variance", type="log", row=1, col=2)
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
        template=TEMPLATE,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def line_figure(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    x_title: str,
    y_title: str,
    log_x: bool = False,
    log_y: bool = False,
) -> go.Figure:
    """Several named lines over a shared x axis."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=name))
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        template=TEMPLATE,
        xaxis_type="log" if log_x else "linear",
        yaxis_type="log" if log_y else "linear",
    )
    return fig


def _method_color(name: str) -> str | None:
    return COLORS.get(name.split(" ")[0].lower())


def _band_color(hex_color: str | None, alpha: float = 0.15) -> str:
    if hex_color is None or not hex_color.startswith("#") or len(hex_color) != 7:
        return f"rgba(128, 128, 128, {alpha})"
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def training_curves(
    curves: Mapping[str, Sequence[Sequence[float]]],
    title: str,
    y_title: str = "test accuracy",
    x_title: str = "epoch",
    references: Mapping[str, float] | None = None,
) -> go.Figure:
    """Training curves over epochs 1, 2, ...: per name, the mean over seeds, and the min-max band of the seeds.

    ``curves[name]`` holds one sequence per seed (TPAMI Fig. 4 shows one typical run; the band shows how typical
    the mean is). Seeds of unequal length are cut to the shortest. ``references`` draws horizontal dashed lines
    (for example a frozen teacher's accuracy). Colours follow the method named first in ``name``.
    """
    fig = go.Figure()
    last_epoch = 1
    for name, runs in curves.items():
        runs = [list(map(float, run)) for run in runs]
        if not runs or min(len(run) for run in runs) == 0:
            raise ValueError(f"curves[{name!r}] needs at least one non-empty run")
        length = min(len(run) for run in runs)
        columns = [[run[i] for run in runs] for i in range(length)]
        epochs = list(range(1, length + 1))
        last_epoch = max(last_epoch, length)
        color = _method_color(name)
        if len(runs) > 1:
            fig.add_trace(
                go.Scatter(
                    x=epochs + epochs[::-1],
                    y=[max(c) for c in columns] + [min(c) for c in columns][::-1],
                    fill="toself",
                    fillcolor=_band_color(color),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{name} (min-max over {len(runs)} seeds)",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[sum(c) / len(c) for c in columns],
                mode="lines",
                name=name,
                line={"color": color, "width": 2},
            )
        )
    for name, value in (references or {}).items():
        fig.add_trace(
            go.Scatter(
                x=[1, last_epoch],
                y=[float(value)] * 2,
                mode="lines",
                name=name,
                line={"color": _method_color(name) or COLORS["real"], "dash": "dash", "width": 1.5},
            )
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, template=TEMPLATE)
    return fig


def accuracy_vs_n(
    table: Mapping[str, Mapping[int, Mapping[str, float]]],
    title: str,
    y_title: str = "test accuracy (%)",
    methods: Sequence[str] | None = None,
) -> go.Figure:
    """A Table 1 (``{method: {n: {"mean", "std"}}}``, as :func:`advdist_lab.tables.aggregate` returns) as lines.

    One line per method over the training-set sizes ``n`` (log axis), with the standard deviation over seeds as
    error bars (none where it is ``nan``, a single seed). ``methods`` picks and orders the rows.
    """
    fig = go.Figure()
    for method in methods if methods is not None else list(table):
        by_n = table[method]
        sizes = sorted(by_n)
        stds = [float(by_n[n]["std"]) for n in sizes]
        fig.add_trace(
            go.Scatter(
                x=sizes,
                y=[float(by_n[n]["mean"]) for n in sizes],
                mode="lines+markers",
                name=method.upper(),
                line={"color": _method_color(method)},
                error_y={"type": "data", "array": [0.0 if s != s else s for s in stds], "visible": True},
            )
        )
    fig.update_layout(
        title=title, xaxis_title="training-set size n (log)", yaxis_title=y_title, xaxis_type="log", template=TEMPLATE
    )
    return fig


# ---------------------------------------------------------------------------------------------------------
# Gradient estimators (advdist_lab.estimator_study) and Lemma 4.5
# ---------------------------------------------------------------------------------------------------------

ESTIMATOR_COLORS = {
    "score": "#7f7f7f",
    "score + baseline": "#2ca02c",
    "pathwise": "#1f77b4",
    "straight-through": "#d62728",
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

    ``rows`` are :func:`advdist_lab.estimator_study.estimator_sweep` rows (one reward). One trace per estimator,
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

    ``results`` maps a name to :func:`advdist_lab.theorems.lemma_4_5_monte_carlo` results. Each case is a line (the
    closed form on a fine grid) and markers with error bars of two standard errors (Monte Carlo); ``Var(Y)`` of
    each case is a thin black dashed line. Cases that violate the premise (``Var X > Var Y``) are drawn in warm
    colours with dotted lines and named "(premise violated)"; where they rise above ``Var(Y)`` the lemma's
    conclusion fails.
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


# --------------------------------------------------------------------------------------------------------
# Gradient probes in training: TPAMI Figs. 5 and 7
# --------------------------------------------------------------------------------------------------------

_PART_STYLE = {
    "adversarial": ("Adversarial Loss", "#ff7f0e", "solid"),
    "distillation": ("Distillation Loss", "#1f77b4", "solid"),
    "total": ("whole loss", "#555555", "dot"),
}


def gradient_variance_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    methods: Sequence[str] | None = None,
    title: str = "Variance of the gradients w.r.t. the student (TPAMI Fig. 5)",
    show_total: bool = False,
) -> go.Figure:
    """TPAMI Fig. 5: per method a panel, the variance of the adversarial and the distillation gradients by epoch.

    ``curves`` is :func:`advdist_lab.gradient_experiments.variance_curves`'s result. The y axis is logarithmic
    as in the paper; the temperature ``tau`` of each epoch shows on hover. ``show_total`` adds the variance of the
    whole loss's gradient as a dotted line.
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
                    line={"color": color, "dash": dash},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="training epochs", row=1, col=col)
    fig.update_yaxes(type="log", title_text="variance of gradients", row=1, col=1)
    for col in range(2, len(methods) + 1):
        fig.update_yaxes(type="log", row=1, col=col)
    fig.update_layout(title=title, template=TEMPLATE, legend={"orientation": "h", "y": -0.2})
    return fig


def cosine_vs_omega_figure(
    panels: Mapping[str, Sequence[Mapping]],
    title: str = "Cosine similarity of the adversarial and distillation gradients (TPAMI Fig. 7)",
) -> go.Figure:
    """TPAMI Fig. 7: the epoch-averaged cosine against the swept weight, on a log2 axis, one panel per player.

    ``panels`` maps a player (``"student"``: against ``omega_s``; ``"teacher"``: against ``omega_t``) to the rows
    of :func:`advdist_lab.gradient_experiments.cosine_vs_omega`; error bars are the standard deviation over seeds.
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

    ``rows`` are :func:`advdist_lab.gradient_experiments.speed_table`'s. Seeds that never reach it are counted in
    the hover text and drawn at no height; the bar is the mean over the seeds that do.
    """
    fig = go.Figure()
    for row in rows:
        method = row["method"]
        reached = [e for e in row["epochs"] if e is not None]
        color = _method_color(method)
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
                marker={"color": color, "size": 9, "line": {"width": 1, "color": "#222222"}},
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


# --------------------------------------------------------------------------------------------------------
# Hyperparameter sweeps: TPAMI Figs. 3 and 6 (advdist_lab.ablation)
# --------------------------------------------------------------------------------------------------------

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
                fillcolor=_band_color(color),
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

    ``rows`` are :func:`advdist_lab.ablation.fig3_rows`'s; ``hyperparameters`` picks and orders the panels
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

    ``rows`` and ``baseline_rows`` are the two lists of :func:`advdist_lab.ablation.fig6_rows`; a size without a
    baseline row has no dashed line. ``metric="test_accuracy"`` shows the student instead.
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


def tag_popularity_figure(counts: Mapping[str, Sequence[float]], title: str = "Tag popularity") -> go.Figure:
    """Rank-frequency of tags on log-log axes, one line per label set: ``counts[name]`` holds how many items carry
    each tag (any order). A long tail (TPAMI Sec. 5.2: YFCC's tags follow a power law) is a falling line."""
    fig = go.Figure()
    for name, values in counts.items():
        ordered = sorted((float(v) for v in values), reverse=True)
        if not ordered or ordered[0] <= 0:
            raise ValueError(f"counts[{name!r}] needs at least one positive count")
        ranks = [i + 1 for i, v in enumerate(ordered) if v > 0]
        fig.add_trace(go.Scatter(x=ranks, y=[v for v in ordered if v > 0], name=name, mode="lines+markers"))
    fig.update_layout(title=title, template=TEMPLATE, xaxis_title="tag rank", yaxis_title="items with the tag")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig
