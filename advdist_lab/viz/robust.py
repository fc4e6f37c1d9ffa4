"""Plotly figures of robust distillation (notebooks 08 and 09): pure functions of results, nothing trains here.

* :func:`generated_images_figure`: a grid of generated (or real) images, one row per class;
* :func:`adaptive_terms_figure`: DFARD's ``tau`` (Eq. 4) and ``lambda`` (Eq. 7) over the epochs, with the
  teacher's confidence on the generated data (what AGB reacts to);
* :func:`robust_curves_figure`: the student's clean and robust accuracies per epoch, one line per run and
  attack;
* :func:`robust_bars_figure`: DFARD Table 1 as grouped bars, ours beside the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..robust.attacks import ATTACK_LABELS
from ..robust.validation import VALIDATION_PREFIX
from .common import TEMPLATE

__all__ = ["adaptive_terms_figure", "generated_images_figure", "robust_bars_figure", "robust_curves_figure"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def generated_images_figure(
    images: torch.Tensor, labels: torch.Tensor, title: str = "generated images", max_per_class: int = 8
) -> go.Figure:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` with labels ``(N,)``: one row per class, up to ``max_per_class``."""
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be at least 1 (got {max_per_class!r})")
    if images.dim() != 4 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"images must be (N, C, H, W) with labels (N,) (got {tuple(images.shape)} and {tuple(labels.shape)})"
        )
    classes = sorted(set(int(v) for v in labels))
    columns = min(max_per_class, max(int((labels == c).sum()) for c in classes))
    fig = make_subplots(
        rows=len(classes), cols=columns, horizontal_spacing=0.005, vertical_spacing=0.005, row_titles=None
    )
    images = images.detach().cpu().clamp(0, 1)
    for row, c in enumerate(classes, start=1):
        for col, image in enumerate(images[labels.cpu() == c][:columns], start=1):
            if image.shape[0] == 1:
                trace = go.Heatmap(z=image[0].flip(0).numpy(), colorscale="gray_r", showscale=False, zmin=0, zmax=1)
            else:
                trace = go.Image(z=(image.permute(1, 2, 0).numpy() * 255).astype("uint8"))
            fig.add_trace(trace, row=row, col=col)
        fig.update_yaxes(title_text=str(c), row=row, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=60 + 52 * len(classes),
        width=80 + 52 * columns,
        margin={"l": 40, "r": 10, "t": 50, "b": 10},
    )
    return fig


def adaptive_terms_figure(histories: Mapping[str, Sequence[Mapping]], title: str = "ITA and AGB") -> go.Figure:
    """Three panels over the epochs: ``tau`` (generation; dashed: ``tau_distill``), ``lambda`` and the teacher's
    mean confidence on the generated images, one line per run in ``histories`` (name -> history)."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("tau (Eq. 4)", "lambda (Eq. 7)", "teacher confidence"))
    for i, (name, history) in enumerate(histories.items()):
        color = _PALETTE[i % len(_PALETTE)]
        epochs = [e["epoch"] for e in history]
        panels = (("tau", 1), ("lambda", 2), ("teacher_confidence", 3))
        for key, col in panels:
            if all(key in e for e in history):
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=[e[key] for e in history],
                        name=name,
                        legendgroup=name,
                        showlegend=col == 1,
                        line={"color": color},
                    ),
                    row=1,
                    col=col,
                )
        if all("tau_distill" in e for e in history):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[e["tau_distill"] for e in history],
                    name=f"{name} (distillation)",
                    legendgroup=name,
                    showlegend=False,
                    line={"color": color, "dash": "dot"},
                ),
                row=1,
                col=1,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, template=TEMPLATE, height=360)
    return fig


def robust_curves_figure(
    histories: Mapping[str, Sequence[Mapping]],
    attacks: Sequence[str] = ("clean", "pgd_s", "pgd_t"),
    title: str = "student accuracy per epoch",
    references: Mapping[str, float] | None = None,
    prefix: str = "",
) -> go.Figure:
    """One panel per attack (accuracy in %, per epoch), one line per run; ``references`` (label -> accuracy as a
    fraction) draws horizontal lines, e.g. an undefended model's PGD_S accuracy. ``prefix``: the history keys are
    ``prefix + attack``; ``"val_"`` (:data:`advdist_lab.robust.validation.VALIDATION_PREFIX`) plots a DFARD or
    DERD run's validation accuracies, the panels titled "(validation)"."""
    keys = {a: prefix + a for a in attacks}
    present = [a for a in attacks if any(all(keys[a] in e for e in h) for h in histories.values())]
    if not present:
        raise ValueError(f"no history holds any of {', '.join(keys.values())}")
    suffix = " (validation)" if prefix == VALIDATION_PREFIX else ""
    titles = [ATTACK_LABELS.get(a, a) + suffix for a in present]
    fig = make_subplots(rows=1, cols=len(present), subplot_titles=titles)
    for i, (name, history) in enumerate(histories.items()):
        color = _PALETTE[i % len(_PALETTE)]
        for col, attack in enumerate(present, start=1):
            if not all(keys[attack] in e for e in history):
                continue
            fig.add_trace(
                go.Scatter(
                    x=[e["epoch"] for e in history],
                    y=[100 * e[keys[attack]] for e in history],
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    line={"color": color},
                ),
                row=1,
                col=col,
            )
    for label, value in (references or {}).items():
        for col in range(1, len(present) + 1):
            fig.add_hline(
                y=100 * value,
                line={"dash": "dash", "color": "#555"},
                annotation_text=label if col == 1 else None,
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="accuracy (%)", col=1)
    fig.update_layout(title=title, template=TEMPLATE, height=360)
    return fig


def robust_bars_figure(
    ours: Mapping[str, Mapping[str, float]],
    paper: Mapping[str, Mapping[str, float]] | None = None,
    columns: Sequence[str] = ("clean", "fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack"),
    title: str = "DFARD Table 1: ours and the paper's",
) -> go.Figure:
    """Grouped bars per attack, one group per row; ``ours`` and ``paper`` map row -> column -> accuracy in %.
    With ``paper``, two panels side by side (ours at our scale, the paper's on CIFAR-10)."""
    panels = [("ours", ours)] + ([("paper (CIFAR-10)", paper)] if paper else [])
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[name for name, _ in panels], shared_yaxes=True)
    for col, (_, table) in enumerate(panels, start=1):
        for i, (row, values) in enumerate(table.items()):
            fig.add_trace(
                go.Bar(
                    x=[ATTACK_LABELS.get(c, c) for c in columns if c in values],
                    y=[values[c] for c in columns if c in values],
                    name=row,
                    legendgroup=row,
                    showlegend=col == 1 or row not in ours,
                    marker_color=_PALETTE[i % len(_PALETTE)],
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(title_text="accuracy (%)", col=1)
    fig.update_layout(title=title, template=TEMPLATE, barmode="group", height=380)
    return fig
