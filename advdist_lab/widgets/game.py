"""The game explorer: sliders over the exact 3-label game of :mod:`advdist_lab.theory` (NGAN Eq. 3, ADIB Eq. 4,
ADIM Eq. 6); every control change re-solves the game (:func:`advdist_lab.theory.solver.solve_game`) and redraws
:func:`advdist_lab.viz.game.game_explorer_figure` in place."""

from __future__ import annotations

import time
from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

from ..theory.solver import solve_game
from ..viz.game import game_explorer_figure
from .controls import (
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

__all__ = ["ESTIMATORS", "GAME_METHODS", "GameExplorer"]

GAME_METHODS = ("ngan", "adib", "adim")
ESTIMATORS = ("exact", "gumbel-softmax")


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
            "method": dropdown("method", GAME_METHODS, "adim"),
            **weight_controls(nu_decades=2),
            "estimator": dropdown("estimator", ESTIMATORS, "exact"),
            "tau": log_slider("tau", 1.0, -2, 1),
            "samples": int_slider("samples", 1, 1, 64),
            "lr": log_slider("lr", 0.3, -2, 0.5),
            "lr_d": log_slider("lr_d", 0.3, -2, 0.5),
            "d_steps": int_slider("d_steps", 1, 1, 10),
            "steps": int_slider("steps", 600, 50, 3000, 50),
            "seed": seed_box(),
        }
        self.message = widgets.HTML()
        self.trajectory = None
        self.last_redraw_seconds = float("nan")
        self._quiet = True
        set_initial(self.controls, values)
        self._sync_enabled()
        started = time.perf_counter()
        self.trajectory = self.solve()
        self.figure = go.FigureWidget(game_explorer_figure(self.trajectory))
        self.last_redraw_seconds = time.perf_counter() - started
        self._quiet = False
        self._show_state()
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        c = self.controls
        columns = control_columns(
            [c["method"], c["omega_r"], c["omega_s"], c["omega_t"], c["nu"]],
            [c["mu"], c["upsilon"], c["estimator"], c["tau"], c["samples"]],
            [c["lr"], c["lr_d"], c["d_steps"], c["steps"], c["seed"]],
        )
        super().__init__([columns, self.message, self.figure])
        self.add_class("advdist-game-explorer")

    # settings -------------------------------------------------------------------------------------------
    def settings(self) -> dict[str, object]:
        """The current control values, as :func:`advdist_lab.theory.solver.solve_game` takes them."""
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
        sync_omegas(c)
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
            self.message.value = refusal(error)
            return False
        except Exception as error:  # a widget callback must never end in a traceback
            self.message.value = error_message(error)
            return False
        self.trajectory = trajectory
        replace_traces(self.figure, game_explorer_figure(trajectory))
        self.last_redraw_seconds = time.perf_counter() - started
        self._show_state()
        return True
