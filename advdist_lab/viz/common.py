"""What every figure of :mod:`advdist_lab.viz` shares: the colours, the templates (light and dark, following
JupyterLab's theme), the notebook renderer, and the generic figures and colour helpers that more than one topic
uses.

* :data:`COLORS`: one colour per player (real, student, teacher, mixture) and per method (kd, ngan, adib, ...);
* :data:`TEMPLATE`: the plotly template every figure names; it draws :data:`LIGHT_TEMPLATE` until
  :func:`use_theme` picks :data:`DARK_TEMPLATE`;
* :func:`pick_theme` and :func:`jupyterlab_theme`: light or dark, from ``ADVDIST_LAB_THEME`` or JupyterLab's
  user settings; :func:`use_theme` applies one, :func:`theme_color` gives its neutral colours;
* :func:`use_notebook_renderer`: figures that render in JupyterLab and in the HTML copies of ``make course``;
* :func:`line_figure`: several named lines over a shared x axis;
* :func:`method_color` and :func:`band_color`: a series' colour from the method it names, and its translucent
  band (a spread over seeds).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "COLORS",
    "DARK_TEMPLATE",
    "LIGHT_TEMPLATE",
    "TEMPLATE",
    "THEMES",
    "THEME_VARIABLE",
    "band_color",
    "current_theme",
    "jupyterlab_settings_dir",
    "jupyterlab_theme",
    "line_figure",
    "method_color",
    "pick_theme",
    "theme_color",
    "use_notebook_renderer",
    "use_theme",
]

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
"""The colour of each player and method; ``"real"`` (``p_r``, reference lines) is the theme's foreground, which
:func:`use_theme` sets."""

THEMES = ("light", "dark")
LIGHT_TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
"""The light template: plotly's ``plotly_white``, what every figure has always drawn with."""
DARK_TEMPLATE = go.layout.Template(pio.templates["plotly_dark"])
"""The dark template: plotly's ``plotly_dark``, whose background (#111111) is JupyterLab Dark's."""
TEMPLATE = "advdist_lab"
"""The name every figure passes as ``template``: plotly looks the name up when a figure is built, so figures
built after :func:`use_theme` draw with the theme's template (light until then)."""
THEME_VARIABLE = "ADVDIST_LAB_THEME"
"""The environment variable that overrides the theme: ``light``, ``dark`` or ``auto`` (JupyterLab's)."""
_THEME_COLORS = {
    "light": {"foreground": "#222222", "muted": "#555555", "neutral": "#777777"},
    "dark": {"foreground": "#e0e0e0", "muted": "#aaaaaa", "neutral": "#999999"},
}
_THEME_SETTINGS = Path("@jupyterlab", "apputils-extension", "themes.jupyterlab-settings")
_state = {"theme": "light"}
pio.templates[TEMPLATE] = LIGHT_TEMPLATE


def _check_theme(theme: object, what: str = "theme") -> str:
    if theme not in THEMES:
        raise ValueError(f"{what} must be one of {', '.join(THEMES)} (got {theme!r})")
    return theme


def current_theme() -> str:
    """The theme the figures are drawn in now: ``"light"`` (the default) or ``"dark"``."""
    return _state["theme"]


def theme_color(name: str) -> str:
    """A neutral colour of the current theme: ``"foreground"`` (text-like, the real distribution), ``"muted"``
    (secondary lines) or ``"neutral"`` (legend keys that stand for no player)."""
    colors = _THEME_COLORS[current_theme()]
    if name not in colors:
        raise ValueError(f"name must be one of {', '.join(colors)} (got {name!r})")
    return colors[name]


def jupyterlab_settings_dir() -> Path:
    """JupyterLab's user-settings folder: ``$JUPYTERLAB_SETTINGS_DIR``, else ``<jupyter config dir>/lab/
    user-settings`` (:func:`jupyter_core.paths.jupyter_config_dir`, which honours ``JUPYTER_CONFIG_DIR``)."""
    explicit = os.environ.get("JUPYTERLAB_SETTINGS_DIR")
    if explicit:
        return Path(explicit)
    try:
        from jupyter_core.paths import jupyter_config_dir

        config = Path(jupyter_config_dir())
    except ImportError:  # the notebooks extra is missing: jupyter_core's default without it
        config = Path(os.environ.get("JUPYTER_CONFIG_DIR") or Path.home() / ".jupyter")
    return config / "lab" / "user-settings"


def _strip_json_comments(text: str) -> str:
    """JSON from JupyterLab's settings text: ``//`` and ``/* */`` comments and trailing commas removed."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_string:
            step = 2 if ch == "\\" else 1  # an escaped character, \" included, stays in the string
            out.append(text[i : i + step])
            in_string = ch != '"'
            i += step
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            if ch in "}]":  # drop a trailing comma before the closing bracket
                k = len(out) - 1
                while k >= 0 and out[k].isspace():
                    k -= 1
                if k >= 0 and out[k] == ",":
                    del out[k]
            in_string = ch == '"'
            out.append(ch)
            i += 1
    return "".join(out)


def jupyterlab_theme(settings_dir: str | os.PathLike | None = None) -> str:
    """``"dark"`` if the theme in JupyterLab's user settings names a dark one (``"JupyterLab Dark"``, any name
    with "dark"), else ``"light"``: also when no theme was ever chosen (no settings file, JupyterLab's default is
    Light) or the file cannot be read. ``settings_dir`` defaults to :func:`jupyterlab_settings_dir`.

    The file is ``@jupyterlab/apputils-extension/themes.jupyterlab-settings`` (JSON with comments), key
    ``"theme"``. With JupyterLab's "adaptive theme" the browser's preference decides, which a kernel cannot see:
    the ``"theme"`` key still does here."""
    if settings_dir is not None and not isinstance(settings_dir, (str, os.PathLike)):
        raise ValueError(f"settings_dir must be a folder path or None (got {settings_dir!r})")
    path = Path(settings_dir if settings_dir is not None else jupyterlab_settings_dir()) / _THEME_SETTINGS
    try:
        settings = json.loads(_strip_json_comments(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return "light"
    name = settings.get("theme") if isinstance(settings, dict) else None
    return "dark" if isinstance(name, str) and "dark" in name.lower() else "light"


def pick_theme() -> str:
    """The theme for a notebook's figures: ``$ADVDIST_LAB_THEME`` (``light`` or ``dark``) when set, else JupyterLab's
    (:func:`jupyterlab_theme`) in a kernel that a Jupyter server started (it sets ``JPY_SESSION_NAME``), else
    ``"light"``: a headless run (papermill, nbconvert, ``make course``, a script) draws light figures, so the HTML
    copies and the site look the same on every machine. ``ADVDIST_LAB_THEME=auto`` (or empty) is unset."""
    override = os.environ.get(THEME_VARIABLE, "").strip().lower()
    if override and override != "auto":
        return _check_theme(override, f"{THEME_VARIABLE} (light, dark or auto)")
    return jupyterlab_theme() if os.environ.get("JPY_SESSION_NAME") else "light"


def use_theme(theme: str | None = None) -> str:
    """Draw the figures built from now on in ``theme`` (``"light"`` or ``"dark"``; None: :func:`pick_theme`).

    :data:`TEMPLATE` then names the theme's template, plotly's default template is :data:`TEMPLATE` (figures
    made without this package follow too), and ``COLORS["real"]`` is the theme's foreground. Figures built
    earlier keep their template. Returns the theme."""
    theme = pick_theme() if theme is None else _check_theme(theme)
    _state["theme"] = theme
    pio.templates[TEMPLATE] = DARK_TEMPLATE if theme == "dark" else LIGHT_TEMPLATE
    pio.templates.default = TEMPLATE
    COLORS["real"] = theme_color("foreground")
    return theme


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
