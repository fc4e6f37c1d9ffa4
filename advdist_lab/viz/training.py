"""Figures of training runs: the training explorer's live figure, training curves (TPAMI Figs. 4 and 9) and a
Table 1 as accuracy against the training-set size.

* :func:`training_explorer_figure`: accuracy and gradient variance by epoch from a run's history, the figure
  :class:`advdist_lab.widgets.TrainingExplorer` streams epochs into;
* :func:`training_curves`: per method the mean over seeds with the seeds' min-max band;
* :func:`accuracy_vs_n`: a Table 1 (:func:`advdist_lab.experiments.table1.aggregate`) as lines over ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import COLORS, TEMPLATE, band_color, method_color

__all__ = [
    "EMPTY_VARIANCE_RANGE",
    "TRAINING_EXPLORER_SERIES",
    "accuracy_range",
    "accuracy_vs_n",
    "training_curves",
    "training_explorer_figure",
]

TRAINING_EXPLORER_SERIES = (
    ("student_test_accuracy", "student", COLORS["student"], 1),
    ("teacher_test_accuracy", "teacher", COLORS["teacher"], 1),
    ("grad_var_adversarial", "adversarial", COLORS["ngan"], 2),
    ("grad_var_distillation", "distillation", COLORS["kd"], 2),
)
"""History keys of the training explorer's figure: (key, legend name, colour, panel)."""
EMPTY_VARIANCE_RANGE = (1e-6, 1.0)
"""The variance axis of a training explorer's figure without any variance yet (before a run): where the probes'
variances usually lie, rather than plotly's 0.1 to 10^4 of an empty log axis."""


def training_explorer_figure(
    history: Sequence[Mapping], title: str = "training", epochs: int | None = None
) -> go.Figure:
    """Test accuracy of the student and the teacher (left) and the variance of the student's adversarial and
    distillation gradients (right, log y in powers of ten; :mod:`advdist_lab.probes`) against the epoch, from a
    run's history.

    Every series of :data:`TRAINING_EXPLORER_SERIES` always has a trace (empty when the history lacks the key: a
    method without a teacher, or no probes), so a live figure keeps its traces while epochs stream in. The
    accuracy axis is fixed to the accuracies' range (:func:`accuracy_range`), so an empty figure (before a run)
    shows it right, and the variance axis spans :data:`EMPTY_VARIANCE_RANGE` until there are variances (then it
    autoranges, ``autorange=True`` set explicitly for a live figure to copy); ``epochs`` (the run's length, when
    known) fixes the epoch axis to ``[0, epochs]``, so the curves grow across it.
    """
    if not isinstance(history, Sequence) or not all(isinstance(entry, Mapping) for entry in history):
        raise ValueError("history must be a sequence of mappings (a run's history entries)")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a positive integer or None (got {epochs!r})")
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("test accuracy", "variance of the student's gradient (probes)"),
        horizontal_spacing=0.16,  # room for the variance axis' title beside its 10^-6 tick labels
    )
    epochs_seen = [entry["epoch"] for entry in history]
    accuracies, variances = [], []
    for key, name, color, panel in TRAINING_EXPLORER_SERIES:
        points = [(e, entry[key]) for e, entry in zip(epochs_seen, history) if entry.get(key) is not None]
        (accuracies if panel == 1 else variances).extend(v for _, v in points)
        fig.add_trace(
            go.Scatter(
                x=[e for e, _ in points],
                y=[v for _, v in points],
                name=name,
                mode="lines+markers",
                marker={"size": 4},
                line={"color": color, "dash": "solid" if panel == 1 else "dot"},
                cliponaxis=False,  # a marker on a fixed axis' edge (accuracy 1, the last epoch) shows whole
            ),
            row=1,
            col=panel,
        )
    fig.update_layout(title=title, template=TEMPLATE, height=400, legend={"orientation": "h", "y": -0.2})
    fig.update_annotations(yshift=8)  # the subplot titles clear of the top tick labels
    fig.update_xaxes(title_text="epoch")
    if epochs is not None:  # whole epochs: about ten ticks at 1, 2 or 5 times a power of ten
        dtick = min(step * 10**power for power in range(10) for step in (1, 2, 5) if step * 10**power >= epochs / 10)
        fig.update_xaxes(range=[0, epochs], dtick=dtick)
    fig.update_yaxes(title_text="accuracy", range=list(accuracy_range(accuracies)), row=1, col=1)
    fig.update_yaxes(title_text="variance", type="log", exponentformat="power", row=1, col=2)
    if variances:
        fig.update_yaxes(autorange=True, row=1, col=2)
    else:
        fig.update_yaxes(range=[math.log10(v) for v in EMPTY_VARIANCE_RANGE], row=1, col=2)  # log axes: log10 units
    return fig


def accuracy_range(accuracies: Sequence[float]) -> tuple[float, float]:
    """The fixed range of an accuracy axis: ``(0, 1)`` for fractions (the runs' histories), ``(0, 100)`` when a
    value above 1 shows percentages (Table 1's)."""
    values = [float(v) for v in accuracies]
    if any(v != v or v < 0 for v in values):
        raise ValueError(f"accuracies must be non-negative numbers (got {values!r})")
    return (0.0, 100.0) if any(v > 1 for v in values) else (0.0, 1.0)


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
