"""Figures of the privileged setting (notebook 10, :mod:`advdist_lab.experiments.privileged`): what the student
sees beside the full image, and each method's difference to the student trained alone on its view.

Imported on its own (``from advdist_lab.viz import privileged``), like :mod:`.robust`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from ..data.views import POOLING, VIEW_TEXTS, view_shape
from ..experiments.privileged import HELPS, REFERENCE, TEACHER
from .common import COLORS, TEMPLATE, method_color

__all__ = ["delta_figure", "view_as_image", "views_figure"]


def view_as_image(x_student: torch.Tensor, input_shape: Sequence[int], view: str) -> torch.Tensor:
    """The student's views ``(N, C, h, w)`` drawn in the frame of the full image ``input_shape = (C, H, W)``: a
    pooled view repeats each of its pixels over the block it averages, a crop is padded with ``nan`` (nothing seen,
    drawn blank) below the rows it keeps."""
    expected = view_shape(tuple(input_shape), view)
    if x_student.dim() != 4 or tuple(x_student.shape[1:]) != expected:
        raise ValueError(
            f"x_student must be (N, *{expected}), the {view} view of images of shape {tuple(input_shape)} "
            f"(got {tuple(x_student.shape)})"
        )
    x_student = x_student.detach().cpu().float()
    if view in POOLING:
        return F.interpolate(x_student, scale_factor=POOLING[view], mode="nearest")
    if view == "crop":
        blank = torch.full((len(x_student), input_shape[0], input_shape[1] - expected[1], input_shape[2]), math.nan)
        return torch.cat([x_student, blank], dim=2)
    return x_student


def views_figure(
    x: torch.Tensor, views: Mapping[str, torch.Tensor], labels: Sequence[int] | None = None, title: str = ""
) -> go.Figure:
    """A few grey-scale images ``x`` ``(N, 1, H, W)`` in ``[0, 1]`` (first row: what the teacher and the
    discriminator see) and, one row per entry of ``views`` (``{view name: x_student}``), what the student sees
    (:func:`view_as_image`). ``labels`` titles the columns."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be grey-scale images of shape (N, 1, H, W) (got {tuple(x.shape)})")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"labels must have one entry per image (got {len(labels)} for {len(x)} images)")
    rows = [("full image (teacher, discriminator)", x.detach().cpu().float())]
    rows += [(f"{name}: {VIEW_TEXTS[name]}", view_as_image(xs, tuple(x.shape[1:]), name)) for name, xs in views.items()]
    columns = len(x)
    fig = make_subplots(
        rows=len(rows),
        cols=columns,
        horizontal_spacing=0.01,
        vertical_spacing=0.04,
        column_titles=[str(int(v)) for v in labels] if labels is not None else None,
    )
    for row, (_, images) in enumerate(rows, start=1):
        for col in range(columns):
            z = images[col, 0].flip(0).numpy()
            heatmap = go.Heatmap(z=z, colorscale="gray_r", showscale=False, zmin=0, zmax=1, hoverongaps=False)
            fig.add_trace(heatmap, row=row, col=col + 1)
        fig.update_yaxes(title_text=rows[row - 1][0].split(":")[0], row=row, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, scaleanchor=None)
    fig.update_layout(
        title=title or "What each player sees: the full image and the student's views",
        template=TEMPLATE,
        height=90 + 95 * len(rows),
        width=120 + 90 * columns,
        margin={"l": 70, "r": 10, "t": 70, "b": 10},
    )
    return fig


def delta_figure(table: Mapping[str, Mapping[int, Mapping]], sizes: Sequence[int], title: str = "") -> go.Figure:
    """Each method's difference to the student alone (points, ``delta`` of
    :func:`~advdist_lab.experiments.privileged.privileged_table`) with the pooled standard deviation as error bar,
    one group of bars per ``n``; a bar is solid when the verdict is "helps", pale otherwise. The teacher's
    advantage (teacher minus student alone) is drawn as a black diamond per ``n``; zero is the student alone."""
    fig = go.Figure()
    methods = [m for m in table if m not in (TEACHER, REFERENCE)]
    groups = [f"n = {n:,}" for n in sizes]
    for method in methods:
        cells = [table[method].get(n) for n in sizes]
        deltas = [c["delta"] if c else None for c in cells]
        errors = [0.0 if not c or math.isnan(c["pooled"]) else c["pooled"] for c in cells]
        opacity = [1.0 if c and c["verdict"] == HELPS else 0.35 for c in cells]
        fig.add_trace(
            go.Bar(
                x=groups,
                y=deltas,
                name=method.upper(),
                marker={"color": method_color(method), "opacity": opacity},
                error_y={"type": "data", "array": errors, "visible": True},
                hovertext=[c["verdict"] if c else "" for c in cells],
            )
        )
    if TEACHER in table:
        advantage = [
            table[TEACHER][n]["mean"] - table[REFERENCE][n]["mean"]
            if n in table[TEACHER] and n in table.get(REFERENCE, {})
            else None
            for n in sizes
        ]
        fig.add_trace(
            go.Scatter(
                x=groups,
                y=advantage,
                mode="markers",
                name="teacher (full image)",
                marker={"symbol": "diamond", "size": 12, "color": COLORS["real"]},
            )
        )
    fig.add_hline(y=0.0, line_dash="dash", line_color=COLORS["student"], annotation_text="student alone")
    fig.update_layout(
        title=title or "Difference to the student alone (points); solid: helps (delta > pooled std)",
        yaxis_title="test accuracy minus the student alone's (points)",
        barmode="group",
        template=TEMPLATE,
    )
    return fig
