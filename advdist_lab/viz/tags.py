"""Figures of tag recommendation (TPAMI Sec. 5.2, Table 4, notebook 07).

* :func:`tag_popularity_figure`: the rank-frequency of tags on log-log axes, the long tail of YFCC's tags.
* :func:`tag_hyperparameter_figure`: TPAMI Fig. 8, the student's P@3 against ADIM's hyperparameters
  (:func:`advdist_lab.viz.ablation.hyperparameter_figure` of a tag metric);
* :func:`tag_gradient_variance_figure`: TPAMI Fig. 10, the variance of the student's adversarial and distillation
  gradients on the tag data (:func:`advdist_lab.viz.gradients.gradient_variance_figure`).

The curves of TPAMI Fig. 9 are :func:`advdist_lab.viz.training.training_curves` of P@3, and Fig. 11 is
:func:`advdist_lab.viz.ablation.teacher_mu_figure` with a tag metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from ..metrics import TAG_METRICS
from .ablation import hyperparameter_figure
from .common import TEMPLATE
from .gradients import gradient_variance_figure

__all__ = ["tag_gradient_variance_figure", "tag_hyperparameter_figure", "tag_popularity_figure"]

_TAG_LABELS = {"p@3": "P@3", "r@3": "R@3", "f@3": "F@3", "ndcg@3": "NDCG@3", "map": "MAP", "mrr": "MRR"}


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


def tag_hyperparameter_figure(
    rows: Sequence[Mapping],
    metric: str = "p@3",
    title: str = "Effects of the hyper-parameters in ADIM, most popular tags (TPAMI Fig. 8)",
) -> go.Figure:
    """TPAMI Fig. 8: one panel per hyperparameter, the student's ``metric`` (%, default P@3 as the paper) against
    its value on a log x axis, mean over seeds with a ±std band. ``rows`` are
    :func:`advdist_lab.experiments.tag_figures.run_fig8`'s (Fig. 3's rows with the tag metrics)."""
    if metric not in TAG_METRICS:
        raise ValueError(f"metric must be one of the student's tag metrics {', '.join(TAG_METRICS)} (got {metric!r})")
    label = _TAG_LABELS.get(metric, metric)
    return hyperparameter_figure(rows, title=title, metric=metric, y_title=f"{label} of the student (%)")


def tag_gradient_variance_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    methods: Sequence[str] | None = None,
    title: str = "Variance of the gradients w.r.t. the student, most popular tags (TPAMI Fig. 10)",
) -> go.Figure:
    """TPAMI Fig. 10: per method a panel, the variance of the student's adversarial and distillation gradients by
    epoch on a log y axis. ``curves`` are :func:`advdist_lab.experiments.tag_figures.run_fig10`'s; ``methods``
    picks and orders the panels (default: those of ``curves``, ADIM-NGS and ADIM last as the paper's (a), (b))."""
    if not curves:
        raise ValueError("curves must hold at least one method's variances")
    if methods is None:
        order = ("ngan", "adim-ngs", "adim")
        methods = [m for m in curves if m not in order] + [m for m in order if m in curves]
    return gradient_variance_figure(curves, methods, title=title)
