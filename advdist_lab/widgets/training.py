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

__all__ = ["TRAINING_DEFAULTS", "TrainingExplorer", "train_command"]

TRAINING_DEFAULTS = {"method": "adim", "n_train": 100, "epochs": 30, "seed": 0}


def train_command(values: Mapping[str, object]) -> str:
    """The ``advdist-lab train`` command line of :class:`~advdist_lab.methods.TrainConfig` field values: one
    ``--flag value`` per field (``True`` as a bare flag, floats as ``repr`` so that the numbers are exact)."""
    parts = ["advdist-lab", "train"]
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        else:
            parts += [flag, repr(value) if isinstance(value, float) else str(value)]
    return shlex.join(parts)


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
        self.figure = go.FigureWidget(training_explorer_figure([], "press Run"))
        self.result: dict | None = None
        self.history: list[dict] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        set_initial(self.controls, values)
        self._sync_enabled()
        for control in self.controls.values():
            control.observe(lambda change: self._sync_enabled(), names="value")
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
        return train_command(self._values())

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
            replace_traces(self.figure, training_explorer_figure(self.history, title))

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
