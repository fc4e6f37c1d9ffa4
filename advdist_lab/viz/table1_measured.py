"""A measured TPAMI Table 1 beside the paper's, as bars with error bars: one panel per training-set size ``n``,
the paper's mean ± std and ours per method (:func:`advdist_lab.experiments.measured.comparison_rows`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import TEMPLATE

__all__ = ["PAPER_COLOR", "OURS_COLOR", "paper_vs_measured_figure"]

PAPER_COLOR = "#9e9e9e"
OURS_COLOR = "#1f77b4"


def _std(cell: Mapping | None) -> float:
    std = float(cell["std"]) if cell else 0.0
    return 0.0 if math.isnan(std) else std


def paper_vs_measured_figure(rows: Sequence[Mapping], title: str) -> go.Figure:
    """Bars of ``rows`` (``comparison_rows``' dicts: ``method``, ``n``, ``ours``, ``paper``, ``seeds``,
    ``planned``): per ``n`` a panel, per method the paper's bar (grey) and ours (blue), each with its std over
    seeds as an error bar; ours is labelled with its seeds (``3/5``) and missing where no seed finished."""
    if not rows:
        raise ValueError("rows must hold at least one (method, n) row")
    sizes = list(dict.fromkeys(r["n"] for r in rows))
    fig = make_subplots(rows=1, cols=len(sizes), subplot_titles=[f"n = {n:,}" for n in sizes], shared_yaxes=True)
    for col, n in enumerate(sizes, start=1):
        these = [r for r in rows if r["n"] == n]
        methods = [r["method"].upper() for r in these]
        for name, key, color in (("paper", "paper", PAPER_COLOR), ("ours", "ours", OURS_COLOR)):
            fig.add_trace(
                go.Bar(
                    x=methods,
                    y=[r[key]["mean"] if r[key] else None for r in these],
                    error_y={"type": "data", "array": [_std(r[key]) for r in these], "visible": True},
                    name=name,
                    marker_color=color,
                    legendgroup=name,
                    showlegend=col == 1,
                    text=[f"{r['seeds']}/{r['planned']}" for r in these] if key == "ours" else None,
                    textposition="outside" if key == "ours" else None,
                ),
                row=1,
                col=col,
            )
    means = [r[k]["mean"] for r in rows for k in ("ours", "paper") if r[k]]
    low = max(0.0, 5 * math.floor((min(means) - 5) / 5)) if means else 0.0
    fig.update_yaxes(range=[low, 100])  # bars from zero would hide gaps of a few points
    fig.update_layout(title=title, barmode="group", template=TEMPLATE, yaxis_title="student test accuracy (%)")
    return fig
