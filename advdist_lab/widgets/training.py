"""The training explorer: a digits training run driven by sliders, in a background thread, with accuracy and
gradient variance streaming epoch by epoch into :func:`advdist_lab.viz.training.training_explorer_figure`;
Stop ends the run after the current epoch. The run is :func:`advdist_lab.runs.train` of the controls'
:class:`~advdist_lab.methods.TrainConfig`, the same as :func:`train_command`'s ``advdist-lab train`` line."""

from __future__ import annotations

import html
import shlex
import threading
from collections.abc import Mapping

import ipywidgets as widgets
import plotly.graph_objects as go

from ..hparams import SCHEDULE_KINDS, check_choice
from ..methods.config import METHODS, ONLY_FOR, TrainConfig
from ..viz.training import training_explorer_figure
from .controls import (
    STYLE,
    control_columns,
    dropdown,
    error_message,
    int_slider,
    log_slider,
    refusal,
    replace_traces,
    seed_box,
    set_initial,
    sync_omegas,
    weight_controls,
)

__all__ = ["TRAINING_DEFAULTS", "TrainingExplorer", "compact_number", "train_command", "train_command_html"]

TRAINING_DEFAULTS = {"method": "adim", "n_train": 100, "epochs": 30, "seed": 0}


def compact_number(value: float) -> str:
    """``value`` to 6 significant digits, as short as that allows (``:g``): ``0.333333``, ``0.3``, ``10``,
    ``1e-05``; the precision the explorer's readouts show and its runs use."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"value must be a number (got {value!r})")
    return f"{value:.6g}"


def _command_groups(values: Mapping[str, object]) -> list[list[str]]:
    if not isinstance(values, Mapping) or not all(isinstance(name, str) for name in values):
        raise ValueError(f"values must map TrainConfig field names to values (got {values!r})")
    groups = [["advdist-lab", "train"]]
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            groups.append([flag])
        else:
            groups.append([flag, compact_number(value) if isinstance(value, float) else str(value)])
    return groups


def train_command(values: Mapping[str, object]) -> str:
    """The ``advdist-lab train`` command line of :class:`~advdist_lab.methods.TrainConfig` field values: one
    ``--flag value`` per field (``True`` as a bare flag, floats to 6 significant digits by :func:`compact_number`;
    the explorer runs with those same rounded numbers)."""
    return shlex.join([word for group in _command_groups(values) for word in group])


def train_command_html(values: Mapping[str, object]) -> str:
    """:func:`train_command` as HTML: a ``<pre class="advdist-command">`` block that wraps only between flags (each
    ``--flag value`` stays on one line), in the theme's colours; copied, it is the one-line command."""
    groups = [html.escape(shlex.join(group)) for group in _command_groups(values)]
    spans = " ".join(f'<span style="white-space: nowrap">{group}</span>' for group in groups)
    style = (
        "white-space: pre-wrap; margin: 4px 0; padding: 6px 8px; font-size: 12px; line-height: 1.5; "
        "background: var(--jp-layout-color2, #f0f0f0); color: var(--jp-content-font-color1, inherit); "
        "border-radius: 2px"
    )
    return f'<div>the same run from the command line:</div><pre class="advdist-command" style="{style}">{spans}</pre>'


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
            "method": dropdown("method", METHODS, TRAINING_DEFAULTS["method"]),
            **weight_controls(nu_decades=3),
            "tau_schedule": dropdown("tau_schedule", SCHEDULE_KINDS, "exponential"),
            "tau_start": log_slider("tau_start", 10.0, -1, 2),
            "tau_end": log_slider("tau_end", 0.1, -2, 1),
            "n_train": int_slider("n_train", TRAINING_DEFAULTS["n_train"], 10, 1000, 10),
            "epochs": int_slider("epochs", TRAINING_DEFAULTS["epochs"], 1, 200),
            "seed": seed_box(),
        }
        self.message = widgets.HTML()
        self.command = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="epoch", style=STYLE)
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.result: dict | None = None
        self.history: list[dict] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        set_initial(self.controls, values)
        self.figure = go.FigureWidget(training_explorer_figure([], "press Run", self.controls["epochs"].value))
        self._changed()
        for control in self.controls.values():
            control.observe(lambda change: self._changed(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        c = self.controls
        columns = control_columns(
            [c["method"], c["omega_r"], c["omega_s"], c["omega_t"], c["nu"]],
            [c["mu"], c["upsilon"], c["tau_schedule"], c["tau_start"], c["tau_end"]],
            [c["n_train"], c["epochs"], c["seed"], widgets.HBox([self.run_button, self.stop_button])],
        )
        super().__init__([columns, self.progress, self.message, self.command, self.figure])
        self.add_class("advdist-training-explorer")

    # the run's configuration -----------------------------------------------------------------------------
    def _values(self) -> dict[str, object]:
        # floats to 6 significant digits: the numbers the command line shows are exactly the run's
        c = {
            name: float(compact_number(control.value)) if isinstance(control.value, float) else control.value
            for name, control in self.controls.items()
        }
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
        return train_command(self._values())

    def _changed(self) -> None:
        self._sync_enabled()
        self.command.value = train_command_html(self._values())
        if not self.history and not self.running:  # the empty figure's epoch axis follows the epochs slider
            with self._lock:
                replace_traces(self.figure, training_explorer_figure([], "press Run", self.controls["epochs"].value))

    def _sync_enabled(self) -> None:
        c = self.controls
        method = sync_omegas(c)
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
            self.message.value = refusal(ValueError("a run is in progress: press Stop first"))
            return False
        try:
            config = self.config()
            check_choice("device", self.device, ("cpu", "cuda", "mps", "auto"))
        except ValueError as error:
            self.message.value = refusal(error)
            return False
        from ..environment import configure_threads

        configure_threads(config.dataset, config.device, self.threads)
        self._stop.clear()
        self.history = []
        self.result = None
        self.progress.max, self.progress.value = config.epochs, 0
        self.progress.bar_style = ""
        self.command.value = train_command_html(self._values())
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
            replace_traces(self.figure, training_explorer_figure(self.history, title, config.epochs))

    def _epoch(self, config: TrainConfig, entry: dict) -> None:
        self.history.append(entry)
        self.progress.value = entry["epoch"]
        self.message.value = f"epoch {entry['epoch']}/{config.epochs}: student {entry['student_test_accuracy']:.3f}" + (
            f", teacher {entry['teacher_test_accuracy']:.3f}" if "teacher_test_accuracy" in entry else ""
        )
        self._draw(config)

    def _train(self, config: TrainConfig) -> None:
        from ..runs import train

        try:
            result = train(
                config, None, progress=False, callback=lambda entry: self._epoch(config, entry), stop=self._stop
            )
        except Exception as error:  # shown in the widget: the thread must not die with a traceback
            self.message.value = error_message(error)
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
