"""Figures of training runs: the training explorer's live figure, training curves (TPAMI Figs. 4 and 9) and a
Table 1 as accuracy against the training-set size.

* :func:`training_explorer_figure`: accuracy and gradient variance by epoch from a run's history, the figure
  :class:`advdist_lab.widgets.TrainingExplorer` streams epochs into;
* :func:`training_curves`: per method the mean over seeds with the seeds' min-max band;
* :func:`accuracy_vs_n`: a Table 1 (:func:`advdist_lab.experiments.table1.aggregate`) as lines over ``n``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import COLORS, TEMPLATE, band_color, method_color

__all__ = ["TRAINING_EXPLORER_SERIES", "accuracy_vs_n", "training_curves", "training_explorer_figure"]

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
        color = method_color(name)
        if len(runs) > 1:
            fig.add_trace(
                go.Scatter(
                    x=epochs + epochs[::-1],
                    y=[max(c) for c in columns] + [min(c) for c in columns][::-1],
                    fill="toself",
                    fillcolor=band_color(color),
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
                line={"color": method_color(name) or COLORS["real"], "dash": "dash", "width": 1.5},
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
    """A Table 1 (``{method: {n: {"mean", "std"}}}``, as :func:`advdist_lab.experiments.table1.aggregate`
    returns) as lines.

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
                line={"color": method_color(method)},
                error_y={"type": "data", "array": [0.0 if s != s else s for s in stds], "visible": True},
            )
        )
    fig.update_layout(
        title=title, xaxis_title="training-set size n (log)", yaxis_title=y_title, xaxis_type="log", template=TEMPLATE
    )
    return fig
