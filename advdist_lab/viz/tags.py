"""Figures of tag recommendation (TPAMI Sec. 5.2, Table 4, notebook 07).

* :func:`tag_popularity_figure`: the rank-frequency of tags on log-log axes, the long tail of YFCC's tags.

The curves of TPAMI Fig. 9 are :func:`advdist_lab.viz.training.training_curves` of P@3, and Fig. 11 is
:func:`advdist_lab.viz.ablation.teacher_mu_figure` with a tag metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from .common import TEMPLATE

__all__ = ["tag_popularity_figure"]


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
