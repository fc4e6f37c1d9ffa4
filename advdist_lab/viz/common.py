"""What every figure of :mod:`advdist_lab.viz` shares: the colours, the template, the notebook renderer, and the
generic figures and colour helpers that more than one topic uses.

* :data:`COLORS`: one colour per player (real, student, teacher, mixture) and per method (kd, ngan, adib, ...);
* :data:`TEMPLATE`: the plotly template of every figure;
* :func:`use_notebook_renderer`: figures that render in JupyterLab and in the HTML copies of ``make course``;
* :func:`line_figure`: several named lines over a shared x axis;
* :func:`method_color` and :func:`band_color`: a series' colour from the method it names, and its translucent
  band (a spread over seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["COLORS", "TEMPLATE", "band_color", "line_figure", "method_color", "use_notebook_renderer"]

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


def method_color(name: str) -> str | None:
    """The colour of the method (or player) that ``name`` names first: ``"ADIM (n = 100)"`` is ADIM's; None for
    a name :data:`COLORS` does not know (plotly then picks one)."""
    return COLORS.get(name.split(" ")[0].lower())


def band_color(hex_color: str | None, alpha: float = 0.15) -> str:
    """``hex_color`` (``"#rrggbb"``) as a translucent ``rgba`` fill for a band around its line; grey for a colour
    that is not of that form (None included). ``alpha`` is the opacity, in ``[0, 1]``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (got {alpha!r})")
    if hex_color is None or not hex_color.startswith("#") or len(hex_color) != 7:
        return f"rgba(128, 128, 128, {alpha})"
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
