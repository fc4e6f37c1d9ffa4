"""Figures of run histories side by side (``advdist-lab report``) and the one HTML page that holds them.

Every function takes ``runs``, a mapping from a run's name (its folder) to its history (the list of per-epoch
dicts of a ``result.json``), and draws the runs overlaid, one colour per run (:func:`run_colors`):

* :func:`history_panels_figure`: chosen history keys against the epoch, one panel per group of keys and one dash
  per key. Each value sits at its own epoch, so the accuracies of a run trained with ``eval_every > 1`` (only some
  entries hold them) land where they belong;
* :func:`accuracy_figure`, :func:`loss_figure`, :func:`cosine_figure`: that figure for the test accuracies, each
  player's loss terms, and the cosine of the probed gradients (:mod:`advdist_lab.probes`);
* :func:`tau_figure`: ``tau`` by epoch through :func:`~advdist_lab.viz.training.training_curves`, when it varies;
* :func:`probe_curves` and :func:`variance_figures`: the probed gradient variances of each run, drawn by
  :func:`~advdist_lab.viz.gradients.gradient_variance_figure` (a panel per run);
* :func:`report_figures`: all of these for a set of runs, and :func:`report_html`: a self-contained page that
  embeds plotly.js once, so that it opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from ..probes import history_key
from .common import TEMPLATE
from .gradients import gradient_variance_figure
from .training import training_curves

__all__ = [
    "ACCURACY_KEYS",
    "LOSS_PARTS",
    "LOSS_PLAYERS",
    "accuracy_figure",
    "cosine_figure",
    "history_panels_figure",
    "loss_figure",
    "points",
    "probe_curves",
    "report_figures",
    "report_html",
    "run_colors",
    "tau_figure",
    "variance_figures",
    "whole_epochs",
]

ACCURACY_KEYS = {"student_test_accuracy": "student", "teacher_test_accuracy": "teacher"}
"""The history keys of the test accuracies and their labels."""

LOSS_PLAYERS = ("student", "teacher", "discriminator")
LOSS_PARTS = ("loss", "adversarial", "distillation", "supervised")
"""A player's loss terms in the history are ``<player>_<part>`` (:meth:`advdist_lab.methods.base.Terms.logged`):
the whole loss and its weighted parts, each the mean over the epoch's minibatches."""

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
PALETTE = qualitative.Plotly + qualitative.Dark24
RUNS_PER_VARIANCE_FIGURE = 4
"""The gradient-variance figures hold a panel per probed run, at most this many panels a figure."""

Runs = Mapping[str, Sequence[Mapping]]


def points(history: Sequence[Mapping], key: str) -> tuple[list[int], list[float]]:
    """The epochs whose history entry holds a number under ``key`` (``epoch``, else the entry's 1-based place),
    and those numbers; entries without it (an epoch that ``eval_every`` skipped) are left out."""
    epochs: list[int] = []
    values: list[float] = []
    for place, entry in enumerate(history, start=1):
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            epochs.append(entry.get("epoch", place))
            values.append(float(value))
    return epochs, values


def run_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per run name, in order, from plotly's qualitative palettes (repeating after 34 runs)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def history_panels_figure(
    runs: Runs, panels: Mapping[str, Mapping[str, str]], title: str, y_title: str, log_y: bool = False
) -> go.Figure | None:
    """The history keys of ``panels`` (``{panel title: {key: label}}``) against the epoch, every run overlaid.

    A trace is named ``"<run>: <label>"``; its colour is the run's (:func:`run_colors`), its dash the key's place
    in its panel. Panels that no run has a value for are left out; ``None`` when none is left.
    """
    kept = {
        panel: keys
        for panel, keys in panels.items()
        if any(points(history, key)[0] for history in runs.values() for key in keys)
    }
    if not kept:
        return None
    colors = run_colors(list(runs))
    fig = make_subplots(rows=1, cols=len(kept), subplot_titles=list(kept))
    for col, keys in enumerate(kept.values(), start=1):
        for name, history in runs.items():
            for place, (key, label) in enumerate(keys.items()):
                epochs, values = points(history, key)
                if not epochs:
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=values,
                        name=f"{name}: {label}",
                        legendgroup=name,
                        mode="lines+markers",
                        marker={"size": 5},
                        line={"color": colors[name], "dash": DASHES[place % len(DASHES)]},
                        hovertemplate="epoch %{x}: %{y:.4g}",
                    ),
                    row=1,
                    col=col,
                )
        fig.update_yaxes(type="log" if log_y else "linear", row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    # the legend on the right scrolls when it is long (many runs, many terms) instead of squashing the panels
    fig.update_layout(title=title, template=TEMPLATE, height=450, legend={"groupclick": "toggleitem"})
    return whole_epochs(fig, runs)


def whole_epochs(fig: go.Figure, runs: Runs) -> go.Figure:
    """``fig`` with a tick at every epoch while the runs have at most 12 (no tick at epoch 1.5)."""
    last = max((len(history) for history in runs.values()), default=0)
    if last <= 12:
        fig.update_xaxes(tick0=1, dtick=1)
    return fig


def accuracy_figure(runs: Runs) -> go.Figure | None:
    """The test accuracies of the student (solid) and the teacher (dashed) by epoch."""
    return history_panels_figure(
        runs, {"test accuracy": ACCURACY_KEYS}, "Test accuracy by epoch (student solid, teacher dashed)", "accuracy"
    )


def loss_figure(runs: Runs) -> go.Figure | None:
    """A panel per player (student, teacher, discriminator) with its loss and the loss's weighted parts."""
    panels = {
        player: {
            f"{player}_{part}": f"{player} {part}" for part in LOSS_PARTS if part == "loss" or player != "discriminator"
        }
        for player in LOSS_PLAYERS
    }
    return history_panels_figure(runs, panels, "Losses by epoch (means over the epoch's minibatches)", "loss")


def cosine_figure(runs: Runs) -> go.Figure | None:
    """The probed cosine of the adversarial and the distillation gradients by epoch, a panel per player."""
    panels = {player: {history_key(player, "grad_cosine"): f"{player} cosine"} for player in ("student", "teacher")}
    title = "Cosine of the adversarial and the distillation gradients (probes)"
    return history_panels_figure(runs, panels, title, "cosine similarity")


def tau_figure(runs: Runs) -> go.Figure | None:
    """``tau`` by epoch of every run whose entries all hold it, drawn by
    :func:`~advdist_lab.viz.training.training_curves` in the runs' colours (log y); ``None`` when it is constant
    in every run."""
    taus = {}
    for name, history in runs.items():
        epochs, values = points(history, "tau")
        if epochs and len(values) == len(history):
            taus[name] = [values]
    if not any(len(set(seeds[0])) > 1 for seeds in taus.values()):
        return None
    fig = training_curves(taus, "Temperature tau by epoch", y_title="tau")
    colors = run_colors(list(runs))
    fig.for_each_trace(lambda trace: trace.update(line_color=colors.get(trace.name)))
    fig.update_yaxes(type="log")
    return whole_epochs(fig, runs)


def probe_curves(runs: Runs, player: str = "student") -> dict[str, dict[str, list[float]]]:
    """The probed gradient variances of ``player`` per run, as
    :func:`~advdist_lab.viz.gradients.gradient_variance_figure` takes them: ``{run: {"adversarial", "distillation",
    "total", "tau"}}`` with the parts that every entry of the run holds; runs without probes are left out."""
    curves: dict[str, dict[str, list[float]]] = {}
    for name, history in runs.items():
        entry: dict[str, list[float]] = {}
        for part in ("adversarial", "distillation", "total"):
            epochs, values = points(history, history_key(player, f"grad_var_{part}"))
            if epochs and len(values) == len(history):
                entry[part] = values
        if not entry:
            continue
        _, taus = points(history, "tau")
        if len(taus) == len(history):
            entry["tau"] = taus
        curves[name] = entry
    return curves


def variance_figures(runs: Runs, player: str = "student") -> list[go.Figure]:
    """The variances of ``player``'s probed gradients, a panel per probed run (at most
    :data:`RUNS_PER_VARIANCE_FIGURE` a figure), by :func:`~advdist_lab.viz.gradients.gradient_variance_figure`;
    the panels are titled with the runs' names as they are. Empty when no run was probed."""
    curves = probe_curves(runs, player)
    names = list(curves)
    size = RUNS_PER_VARIANCE_FIGURE
    figures = []
    for start in range(0, len(names), size):
        chunk = names[start : start + size]
        title = f"Variance of the gradients w.r.t. the {player} (probes)"
        if len(names) > size:
            title += f", runs {start + 1}-{start + len(chunk)} of {len(names)}"
        fig = gradient_variance_figure({name: curves[name] for name in chunk}, title=title, show_total=True)
        for annotation, name in zip(fig.layout.annotations, chunk):
            annotation.text = name
        figures.append(whole_epochs(fig, runs))
    return figures


def report_figures(runs: Runs) -> list[go.Figure]:
    """Every figure of a report, in order: test accuracy, losses, ``tau`` (where it varies), the student's and the
    teacher's gradient variances and the gradients' cosine (where probed). Figures with nothing to draw are left
    out."""
    if not runs:
        raise ValueError("runs must hold at least one run's history")
    figures = [accuracy_figure(runs), loss_figure(runs), tau_figure(runs)]
    figures += variance_figures(runs, "student") + variance_figures(runs, "teacher")
    figures.append(cosine_figure(runs))
    return [fig for fig in figures if fig is not None]


def json_for_script(text: str) -> str:
    """JSON text made safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` (a run name may hold
    ``</script>``) become JSON escapes, which parse back to the same characters."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def summary_table(rows: Sequence[Mapping[str, object]]) -> str:
    """``rows`` (dicts with the same keys) as an HTML table, every cell escaped."""
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(key))}</th>" for key in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row.values()) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(figures: Sequence[go.Figure], title: str, rows: Sequence[Mapping[str, object]] = ()) -> str:
    """One self-contained HTML page: ``title``, the table ``rows`` (one per run) and ``figures``.

    plotly.js is embedded once, in the page's head; each figure is a ``div.plotly-graph-div`` whose data and
    layout are the JSON of a ``<script type="application/json">`` beside it, drawn on load. No network is needed.
    """
    parts = []
    for index, fig in enumerate(figures, start=1):
        name = f"figure-{index}"
        parts.append(
            f'<div class="plotly-graph-div" id="{name}" data-figure="{name}-json"></div>\n'
            f'<script type="application/json" id="{name}-json">{json_for_script(fig.to_json())}</script>'
        )
    escaped = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escaped}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
div.plotly-graph-div {{ margin-bottom: 2em; }}
</style>
</head>
<body>
<h1>{escaped}</h1>
{summary_table(rows)}
{chr(10).join(parts)}
<script type="text/javascript">
document.querySelectorAll("div.plotly-graph-div[data-figure]").forEach(function (div) {{
  var figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
  Plotly.newPlot(div, figure.data, figure.layout, {{responsive: true}});
}});
</script>
</body>
</html>
"""
