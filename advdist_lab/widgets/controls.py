"""The controls both explorers share, and how they report and redraw: ipywidgets built one way, no explorer.

* :func:`float_slider`, :func:`log_slider`, :func:`int_slider`, :func:`dropdown`, :func:`seed_box` and
  :func:`derived_number`: labelled controls of one width, sliders that act on release;
* :func:`weight_controls`: omega_r, omega_s (omega_t derived), nu, mu, upsilon (TPAMI Eq. 4, 6);
* :func:`sync_omegas`: enable the weights the chosen method takes and show the derived omega_t;
* :func:`set_initial`: a constructor's ``**values`` set on the controls, unknown or derived names refused;
* :func:`refusal` and :func:`error_message`: the HTML an explorer shows instead of a traceback;
* :func:`replace_traces`: a ``FigureWidget`` redrawn from a static figure of :mod:`advdist_lab.viz`;
* :func:`control_columns`: the controls laid out in columns.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

from ..methods.config import ONLY_FOR

__all__ = [
    "DESCRIPTION_WIDTH",
    "STYLE",
    "control_columns",
    "derived_number",
    "dropdown",
    "error_message",
    "float_slider",
    "int_slider",
    "log_slider",
    "refusal",
    "replace_traces",
    "seed_box",
    "set_initial",
    "sync_omegas",
    "weight_controls",
]

DESCRIPTION_WIDTH = 104
"""The width (px) of every control's description: the longest name of both explorers, ``tau_schedule`` (12
characters), whole in a wide sans-serif font: 8 px a character at JupyterLab's 13 px, and 8 px to spare."""
STYLE = {"description_width": f"{DESCRIPTION_WIDTH}px"}
"""The style of every control: room for the hyperparameter's whole name before it, the same for all, so the
controls of a column line up."""
_WIDE = widgets.Layout(width="320px")


def _slider(kind: type, name: str, value: float, low: float, high: float, step: float, **extra) -> widgets.Widget:
    if not low < high or step <= 0:
        raise ValueError(f"slider {name} needs low < high and step > 0 (got {low!r}, {high!r}, {step!r})")
    return kind(
        value=value,
        min=low,
        max=high,
        step=step,
        description=name,
        continuous_update=False,
        style=STYLE,
        layout=_WIDE,
        **extra,
    )


def float_slider(name: str, value: float, low: float, high: float, step: float) -> widgets.FloatSlider:
    """A slider over ``low .. high`` in steps of ``step``, acting on release."""
    return _slider(widgets.FloatSlider, name, value, low, high, step, readout_format=".3g")


def log_slider(name: str, value: float, low: float, high: float) -> widgets.FloatLogSlider:
    """A slider over ``10**low .. 10**high`` in tenths of a decade."""
    return _slider(widgets.FloatLogSlider, name, value, low, high, 0.1, base=10, readout_format=".3g")


def int_slider(name: str, value: int, low: int, high: int, step: int = 1) -> widgets.IntSlider:
    """An integer slider over ``low .. high`` in steps of ``step``."""
    return _slider(widgets.IntSlider, name, value, low, high, step)


def derived_number(name: str) -> widgets.FloatText:
    """A read-only number: the weight that the simplex determines from the other two."""
    return widgets.FloatText(description=name, disabled=True, style=STYLE, layout=_WIDE)


def dropdown(name: str, options: Sequence[str], value: str) -> widgets.Dropdown:
    """A choice among ``options``, ``value`` first."""
    return widgets.Dropdown(options=list(options), value=value, description=name, style=STYLE, layout=_WIDE)


def seed_box(value: int = 0) -> widgets.BoundedIntText:
    """The seed, any integer in ``[0, 2**31 - 1]``."""
    return widgets.BoundedIntText(value=value, min=0, max=2**31 - 1, description="seed", style=STYLE)


def weight_controls(nu_decades: int) -> dict[str, widgets.Widget]:
    """The weights both explorers share: omega_r and omega_s (omega_t derived, shown read-only), nu on a log
    slider from 1e-3 to ``10**nu_decades``, mu from 1e-4 to 100, upsilon from 0 to 2 (Eq. 4, 6)."""
    return {
        "omega_r": float_slider("omega_r", 1 / 3, 0.0, 1.0, 0.01),
        "omega_s": float_slider("omega_s", 1 / 3, 0.0, 1.0, 0.01),
        "omega_t": derived_number("omega_t"),
        "nu": log_slider("nu", 1.0, -3, nu_decades),
        "mu": log_slider("mu", 0.01, -4, 2),
        "upsilon": float_slider("upsilon", 1.0, 0.0, 2.0, 0.05),
    }


def sync_omegas(controls: Mapping[str, widgets.Widget]) -> str:
    """Enable the weights the chosen method takes and show ``omega_t`` as the simplex derives it (ADIM Eq. 6:
    ``1 - omega_r - omega_s``; ADIB Eq. 4: ``1 - omega_s``; 0 for a method without weights). Returns the method."""
    method = controls["method"].value
    controls["omega_r"].disabled = method not in ONLY_FOR["omega_r"]
    controls["omega_s"].disabled = method not in ONLY_FOR["omega_s"]
    if method in ONLY_FOR["omega_r"]:
        omega_t = 1.0 - controls["omega_r"].value - controls["omega_s"].value
    elif method in ONLY_FOR["omega_s"]:
        omega_t = 1.0 - controls["omega_s"].value
    else:
        omega_t = 0.0
    controls["omega_t"].value = round(omega_t, 4)  # shown only: the games and runs derive it exactly
    return method


def refusal(error: Exception) -> str:
    """The HTML of a refused setting: ``refused: <the ValueError's message>``."""
    return f"<span style='color:#b00020'><b>refused</b>: {html.escape(str(error))}</span>"


def error_message(error: Exception) -> str:
    """The HTML of an unexpected error, with its type: shown in the widget instead of a traceback."""
    return f"<span style='color:#b00020'><b>error</b> ({type(error).__name__}): {html.escape(str(error))}</span>"


def set_initial(controls: Mapping[str, widgets.Widget], values: Mapping[str, object]) -> None:
    """Set ``values`` on the controls of the same names; ValueError for an unknown name or a derived weight."""
    unknown = sorted(set(values) - set(controls))
    if unknown:
        raise ValueError(f"unknown controls: {', '.join(unknown)} (known: {', '.join(controls)})")
    for name, value in values.items():
        if controls[name].disabled and name.startswith("omega"):
            raise ValueError(f"{name} is derived from the other weights and cannot be set")
        controls[name].value = value


def replace_traces(figure: go.FigureWidget, new: go.Figure) -> None:
    """Copy ``new``'s traces and title into ``figure``: in place when the traces line up, else all anew; and the
    axis ranges and tick steps that ``new`` fixes, or the autorange it sets explicitly (axes it leaves alone keep
    the user's zoom)."""
    with figure.batch_update():
        same = len(figure.data) == len(new.data) and all(a.type == b.type for a, b in zip(figure.data, new.data))
        if same:
            for old, trace in zip(figure.data, new.data):
                values = trace.to_plotly_json()
                values.pop("type", None)
                old.update(values, overwrite=True)
        else:
            figure.data = ()
            figure.add_traces(list(new.data))
        figure.layout.title = new.layout.title
        layout = new.layout.to_plotly_json()
        axes = {}  # axis ranges (and tick steps) that the figure builder fixes or computes from the data
        for axis, settings in layout.items():
            if axis.startswith(("xaxis", "yaxis")):
                fixed = {key: settings[key] for key in ("range", "dtick", "autorange") if key in settings}
                if "range" in fixed:
                    fixed.setdefault("autorange", False)  # an autorange set before would override the range
                elif fixed.get("autorange") is True:
                    fixed["range"] = None  # the builder lets plotly autorange: a range fixed before goes
                if fixed:
                    axes[axis] = fixed
        if axes:
            figure.update_layout(axes)


def control_columns(*columns: Sequence[widgets.Widget]) -> widgets.HBox:
    """The controls side by side, one vertical column per sequence."""
    return widgets.HBox([widgets.VBox(list(column)) for column in columns])
