"""Interactive explorers for JupyterLab: sliders over the hyperparameters, live plotly figures.

Both explorers are thin layers over library functions: the figures come from :mod:`advdist_lab.viz`
(:func:`~advdist_lab.viz.game_explorer_figure`, :func:`~advdist_lab.viz.training_explorer_figure`), the numbers
from :func:`advdist_lab.game.solve_game` and :func:`advdist_lab.runs.train`. A notebook with ``INTERACTIVE =
False`` calls the same functions and shows static figures.

* :class:`GameExplorer`: the exact-distribution game of :mod:`advdist_lab.theory` on 3 labels (NGAN Eq. 3, ADIB
  Eq. 4, ADIM Eq. 6). Every control change re-solves the game and redraws the figure in place.
* :class:`TrainingExplorer`: a digits training run in a background thread, with accuracy and gradient variance
  streaming into the figure epoch by epoch; Stop ends it after the current epoch.

Both have public ``controls`` (a dict of the widgets by hyperparameter name), ``figure`` (the plotly
``FigureWidget``) and ``message`` (an HTML widget where refused values and errors appear, never as a traceback),
so tests and users can drive them from code: ``explorer.controls["nu"].value = 10``.
"""

from __future__ import annotations

import html
import shlex
import threading
import time
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

from . import viz
from .game import solve_game
from .hparams import SCHEDULE_KINDS, check_choice
from .methods.config import METHODS, ONLY_FOR, TrainConfig

GAME_METHODS = ("ngan", "adib", "adim")
ESTIMATORS = ("exact", "gumbel-softmax")
_STYLE = {"description_width": "80px"}
_WIDE = widgets.Layout(width="320px")


def _slider(kind: type, name: str, value: float, low: float, high: float, step: float, **extra) -> widgets.Widget:
    return kind(
        value=value,
        min=low,
        max=high,
        step=step,
        description=name,
        continuous_update=False,
        style=_STYLE,
        layout=_WIDE,
        **extra,
    )


def _float(name: str, value: float, low: float, high: float, step: float) -> widgets.FloatSlider:
    return _slider(widgets.FloatSlider, name, value, low, high, step, readout_format=".3g")


def _log(name: str, value: float, low: int, high: int) -> widgets.FloatLogSlider:
    """A slider over ``10**low .. 10**high`` in tenths of a decade."""
    return _slider(widgets.FloatLogSlider, name, value, low, high, 0.1, base=10, readout_format=".3g")


def _int(name: str, value: int, low: int, high: int, step: int = 1) -> widgets.IntSlider:
    return _slider(widgets.IntSlider, name, value, low, high, step)


def _derived(name: str) -> widgets.FloatText:
    """A read-only number: the weight that the simplex determines from the other two."""
    return widgets.FloatText(description=name, disabled=True, style=_STYLE, layout=_WIDE)


def _weight_controls(nu_decades: int) -> dict[str, widgets.Widget]:
    """The weights both explorers share: omega_r and omega_s (omega_t derived, shown read-only), nu on a log
    slider from 1e-3 to ``10**nu_decades``, mu from 1e-4 to 100, upsilon from 0 to 2 (Eq. 4, 6)."""
    return {
        "omega_r": _float("omega_r", 1 / 3, 0.0, 1.0, 0.01),
        "omega_s": _float("omega_s", 1 / 3, 0.0, 1.0, 0.01),
        "omega_t": _derived("omega_t"),
        "nu": _log("nu", 1.0, -3, nu_decades),
        "mu": _log("mu", 0.01, -4, 2),
        "upsilon": _float("upsilon", 1.0, 0.0, 2.0, 0.05),
    }


def _dropdown(name: str, options: Sequence[str], value: str) -> widgets.Dropdown:
    return widgets.Dropdown(options=list(options), value=value, description=name, style=_STYLE, layout=_WIDE)


def _sync_omegas(controls: Mapping[str, widgets.Widget]) -> str:
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


def _refusal(error: Exception) -> str:
    return f"<span style='color:#b00020'><b>refused</b>: {html.escape(str(error))}</span>"


def _error(error: Exception) -> str:
    return f"<span style='color:#b00020'><b>error</b> ({type(error).__name__}): {html.escape(str(error))}</span>"


def _set_initial(controls: Mapping[str, widgets.Widget], values: Mapping[str, object]) -> None:
    unknown = sorted(set(values) - set(controls))
    if unknown:
        raise ValueError(f"unknown controls: {', '.join(unknown)} (known: {', '.join(controls)})")
    for name, value in values.items():
        if controls[name].disabled and name.startswith("omega"):
            raise ValueError(f"{name} is derived from the other weights and cannot be set")
        controls[name].value = value


def _replace_traces(figure: go.FigureWidget, new: go.Figure) -> None:
    """Copy ``new``'s traces and title into ``figure``: in place when the traces line up, else all anew."""
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
        ranges = {  # axis ranges that the figure builder computes from the data
            axis: {"range": settings["range"]}
            for axis, settings in layout.items()
            if axis.startswith("yaxis") and "range" in settings
        }
        if ranges:
            figure.update_layout(ranges)


class GameExplorer(widgets.VBox):
    """Sliders over the exact 3-label game (TPAMI Sections 3-4) with its trajectories and value, redrawn live.

    Controls (``controls[name]``): ``method`` (ngan, adib, adim); ``omega_r`` and ``omega_s`` (sliders) with
    ``omega_t`` derived and shown (ADIM: ``1 - omega_r - omega_s``; ADIB: ``1 - omega_s``, no ``omega_r``; NGAN: no
    weights); ``nu``, ``mu``, ``upsilon`` (Eq. 4, 6); ``estimator`` (exact gradients, or the Gumbel-Softmax trick
    of Eq. 10 at temperature ``tau`` with ``samples`` relaxed samples per step); ``lr`` and ``lr_d`` (the step
    sizes of the players and of the discriminator), ``d_steps``, ``steps`` and ``seed`` (the players' start).

    Weights off the simplex cannot be solved: the explorer shows why in ``message`` and keeps the last figure.
    ``last_redraw_seconds`` is the time of the last solve plus redraw (``bench/explorer_speed.py`` reports it).
    """

    def __init__(self, p_r: Sequence[float] = (0.6, 0.3, 0.1), **values: object) -> None:
        self.p_r = tuple(float(v) for v in p_r)
        if len(self.p_r) != 3:
            raise ValueError(f"the game explorer plays on 3 labels: p_r needs 3 entries (got {len(self.p_r)})")
        self.controls: dict[str, widgets.Widget] = {
            "method": _dropdown("method", GAME_METHODS, "adim"),
            **_weight_controls(nu_decades=2),
            "estimator": _dropdown("estimator", ESTIMATORS, "exact"),
            "tau": _log("tau", 1.0, -2, 1),
            "samples": _int("samples", 1, 1, 64),
            "lr": _log("lr", 0.3, -2, 0.5),
            "lr_d": _log("lr_d", 0.3, -2, 0.5),
            "d_steps": _int("d_steps", 1, 1, 10),
            "steps": _int("steps", 600, 50, 3000, 50),
            "seed": widgets.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=_STYLE),
        }
        self.message = widgets.HTML()
        self.trajectory = None
        self.last_redraw_seconds = float("nan")
        self._quiet = True
        _set_initial(self.controls, values)
        self._sync_enabled()
        started = time.perf_counter()
        self.trajectory = self.solve()
        self.figure = go.FigureWidget(viz.game_explorer_figure(self.trajectory))
        self.last_redraw_seconds = time.perf_counter() - started
        self._quiet = False
        self._show_state()
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        c = self.controls
        columns = widgets.HBox(
            [
                widgets.VBox([c["method"], c["omega_r"], c["omega_s"], c["omega_t"], c["nu"]]),
                widgets.VBox([c["mu"], c["upsilon"], c["estimator"], c["tau"], c["samples"]]),
                widgets.VBox([c["lr"], c["lr_d"], c["d_steps"], c["steps"], c["seed"]]),
            ]
        )
        super().__init__([columns, self.message, self.figure])
        self.add_class("advdist-game-explorer")

    # settings -------------------------------------------------------------------------------------------
    def settings(self) -> dict[str, object]:
        """The current control values, as :func:`advdist_lab.game.solve_game` takes them."""
        c = {name: control.value for name, control in self.controls.items()}
        method = c["method"]
        omega: object = None
        if method == "adim":
            omega = (c["omega_r"], c["omega_s"], 1.0 - c["omega_r"] - c["omega_s"])
        elif method == "adib":
            omega = (c["omega_s"], 1.0 - c["omega_s"])
        return {
            "method": method,
            "omega": omega,
            "nu": c["nu"],
            "mu": c["mu"],
            "upsilon": c["upsilon"],
            "tau": c["tau"] if c["estimator"] == "gumbel-softmax" else None,
            "samples": c["samples"],
            "lr": c["lr"],
            "lr_d": c["lr_d"],
            "d_steps": c["d_steps"],
            "steps": c["steps"],
            "seed": c["seed"],
            "record_every": max(1, c["steps"] // 100),
        }

    def solve(self):
        """Solve the game at the current settings; ``ValueError`` for settings the game refuses."""
        return solve_game(self.p_r, **self.settings())

    # reacting to the controls ----------------------------------------------------------------------------
    def _sync_enabled(self) -> None:
        c = self.controls
        _sync_omegas(c)
        c["tau"].disabled = c["samples"].disabled = c["estimator"].value == "exact"

    def _show_state(self) -> None:
        trajectory = self.trajectory
        gap = float(trajectory.optimal_value[-1]) - trajectory.equilibrium_value
        self.message.value = (
            f"solved {int(trajectory.steps[-1])} steps in {self.last_redraw_seconds * 1000:.0f} ms · "
            f"V* - equilibrium = {gap:.2e} · KL(p_r || p_s) = {float(trajectory.kl_to_real('student')[-1]):.2e}"
        )

    def _changed(self, change: dict) -> None:
        if self._quiet or change["owner"] is self.controls["omega_t"]:
            return
        self._sync_enabled()
        self.redraw()

    def redraw(self) -> bool:
        """Re-solve and redraw; on refused settings show why in ``message`` and keep the figure. True if redrawn."""
        started = time.perf_counter()
        try:
            trajectory = self.solve()
        except ValueError as error:
            self.message.value = _refusal(error)
            return False
        except Exception as error:  # a widget callback must never end in a traceback
            self.message.value = _error(error)
            return False
        self.trajectory = trajectory
        _replace_traces(self.figure, viz.game_explorer_figure(trajectory))
        self.last_redraw_seconds = time.perf_counter() - started
        self._show_state()
        return True


TRAINING_DEFAULTS = {"method": "adim", "n_train": 100, "epochs": 30, "seed": 0}


class TrainingExplorer(widgets.VBox):
    """A digits training run driven by sliders: Run trains in a background thread, Stop ends it cleanly.

    Controls (``controls[name]``): ``method`` (every method of :data:`~advdist_lab.methods.METHODS`), ``omega_r``
    and ``omega_s`` with ``omega_t`` derived (as :class:`GameExplorer`), ``nu``, ``mu``, ``upsilon``, the
    Gumbel-Softmax temperature schedule ``tau_schedule``, ``tau_start``, ``tau_end``, and ``n_train``, ``epochs``,
    ``seed``. Every run probes the student's gradients (``probe_gradients``, which changes no bit of training),
    so the figure shows accuracy and gradient variance epoch by epoch, with a progress bar.

    :meth:`config` is the :class:`~advdist_lab.methods.TrainConfig` of the controls and :meth:`cli_command` the
    ``advdist-lab train`` command line that trains the same run: its ``result.json`` has the same history.
    ``result`` holds the last run's result (``status`` "finished" or "stopped"). ``threads`` (default: one on the
    CPU, as the CLI) is the torch thread count the run uses.
    """

    def __init__(self, dataset: str = "digits", device: str = "cpu", threads: int | None = None, **values) -> None:
        self.dataset = dataset
        self.device = device
        self.threads = threads
        self.controls: dict[str, widgets.Widget] = {
            "method": _dropdown("method", METHODS, TRAINING_DEFAULTS["method"]),
            **_weight_controls(nu_decades=3),
            "tau_schedule": _dropdown("tau_schedule", SCHEDULE_KINDS, "exponential"),
            "tau_start": _log("tau_start", 10.0, -1, 2),
            "tau_end": _log("tau_end", 0.1, -2, 1),
            "n_train": _int("n_train", TRAINING_DEFAULTS["n_train"], 10, 1000, 10),
            "epochs": _int("epochs", TRAINING_DEFAULTS["epochs"], 1, 200),
            "seed": widgets.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=_STYLE),
        }
        self.message = widgets.HTML()
        self.command = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="epoch", style=_STYLE)
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.figure = go.FigureWidget(viz.training_explorer_figure([], "press Run"))
        self.result: dict | None = None
        self.history: list[dict] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        _set_initial(self.controls, values)
        self._sync_enabled()
        for control in self.controls.values():
            control.observe(lambda change: self._sync_enabled(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        c = self.controls
        columns = widgets.HBox(
            [
                widgets.VBox([c["method"], c["omega_r"], c["omega_s"], c["omega_t"], c["nu"]]),
                widgets.VBox([c["mu"], c["upsilon"], c["tau_schedule"], c["tau_start"], c["tau_end"]]),
                widgets.VBox([c["n_train"], c["epochs"], c["seed"], widgets.HBox([self.run_button, self.stop_button])]),
            ]
        )
        super().__init__([columns, self.progress, self.message, self.command, self.figure])
        self.add_class("advdist-training-explorer")

    # the run's configuration -----------------------------------------------------------------------------
    def _values(self) -> dict[str, object]:
        c = {name: control.value for name, control in self.controls.items()}
        method = c["method"]
        values = {
            "method": method,
            "dataset": self.dataset,
            "device": self.device,
            "n_train": c["n_train"],
            "epochs": c["epochs"],
            "seed": c["seed"],
            "nu": c["nu"],
            "mu": c["mu"],
            "upsilon": c["upsilon"],
            "tau_schedule": c["tau_schedule"],
            "tau_start": c["tau_start"],
            "tau_end": c["tau_end"],
            "probe_gradients": True,
        }
        # omega_t is never passed: TrainConfig completes it on the simplex exactly as the CLI does.
        for name in ("omega_r", "omega_s"):
            if method in ONLY_FOR[name]:
                values[name] = c[name]
        return values

    def config(self) -> TrainConfig:
        """The resolved :class:`TrainConfig` of the controls; ``ValueError`` names a refused value."""
        return TrainConfig(**self._values()).resolved()

    def cli_command(self) -> str:
        """The ``advdist-lab train`` command that trains the same run (same numbers) from the command line."""
        parts = ["advdist-lab", "train"]
        for name, value in self._values().items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                parts.append(flag)
            else:
                parts += [flag, repr(value) if isinstance(value, float) else str(value)]
        return shlex.join(parts)

    def _sync_enabled(self) -> None:
        c = self.controls
        method = _sync_omegas(c)
        adversarial = method in ONLY_FOR["estimator"] or method == "adim-ngs"
        for name in ("tau_schedule", "tau_start", "tau_end"):
            c[name].disabled = not adversarial
        c["tau_end"].disabled = c["tau_end"].disabled or c["tau_schedule"].value == "constant"

    # running ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> bool:
        """Start a run in a background thread; False (with the reason in ``message``) if it cannot start."""
        if self.running:
            self.message.value = _refusal(ValueError("a run is in progress: press Stop first"))
            return False
        try:
            config = self.config()
            check_choice("device", self.device, ("cpu", "cuda", "mps", "auto"))
        except ValueError as error:
            self.message.value = _refusal(error)
            return False
        from .environment import configure_threads

        configure_threads(config.dataset, config.device, self.threads)
        self._stop.clear()
        self.history = []
        self.result = None
        self.progress.max, self.progress.value = config.epochs, 0
        self.progress.bar_style = ""
        self.command.value = f"<code>{html.escape(self.cli_command())}</code>"
        self.message.value = f"pretraining, then {config.epochs} epochs of {config.method} ..."
        self._draw(config)
        self.run_button.disabled, self.stop_button.disabled = True, False
        self._thread = threading.Thread(target=self._train, args=(config,), daemon=True, name="advdist-explorer")
        self._thread.start()
        return True

    def stop(self) -> None:
        """End the run after its current epoch (a no-op when none runs)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> dict | None:
        """Wait for the run to end (at most ``timeout`` seconds) and return its result (None if still running)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return None if self.running else self.result

    def _draw(self, config: TrainConfig) -> None:
        with self._lock:
            title = f"{config.method.upper()} on {config.dataset}, n = {config.n_train}, seed {config.seed}"
            _replace_traces(self.figure, viz.training_explorer_figure(self.history, title))

    def _epoch(self, config: TrainConfig, entry: dict) -> None:
        self.history.append(entry)
        self.progress.value = entry["epoch"]
        self.message.value = f"epoch {entry['epoch']}/{config.epochs}: student {entry['student_test_accuracy']:.3f}" + (
            f", teacher {entry['teacher_test_accuracy']:.3f}" if "teacher_test_accuracy" in entry else ""
        )
        self._draw(config)

    def _train(self, config: TrainConfig) -> None:
        from .runs import train

        try:
            result = train(
                config, None, progress=False, callback=lambda entry: self._epoch(config, entry), stop=self._stop
            )
        except Exception as error:  # shown in the widget: the thread must not die with a traceback
            self.message.value = _error(error)
            self.progress.bar_style = "danger"
        else:
            self.result = result
            done = len(result["history"])
            if result["status"] == "stopped":
                self.message.value = f"stopped after {done} of {config.epochs} epochs"
                self.progress.bar_style = "warning"
            else:
                teacher = result.get("teacher_test_accuracy")
                self.message.value = (
                    f"finished: student {result['test_accuracy']:.4f}"
                    + (f", teacher {teacher:.4f}" if teacher is not None else "")
                    + f" after {done} epochs ({result['wall_seconds']:.1f} s)"
                )
                self.progress.bar_style = "success"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
