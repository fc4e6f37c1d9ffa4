"""Interactive explorers for JupyterLab: sliders over the hyperparameters, live plotly figures.

Both explorers are thin layers over library functions: the figures come from :mod:`advdist_lab.viz`
(:func:`~advdist_lab.viz.game.game_explorer_figure`, :func:`~advdist_lab.viz.training.training_explorer_figure`),
the numbers from :func:`advdist_lab.theory.solver.solve_game` and :func:`advdist_lab.runs.train`. A notebook with
``INTERACTIVE = False`` calls the same functions and shows static figures. Widgets import viz, never the reverse.

* :class:`GameExplorer` (:mod:`.game`): the exact-distribution game of :mod:`advdist_lab.theory` on 3 labels (NGAN
  Eq. 3, ADIB Eq. 4, ADIM Eq. 6). Every control change re-solves the game and redraws the figure in place.
* :class:`TrainingExplorer` (:mod:`.training`): a digits training run in a background thread, with accuracy and
  gradient variance streaming into the figure epoch by epoch; Stop ends it after the current epoch.
* :mod:`.controls`: the sliders, messages and in-place redraw both share.

Both have public ``controls`` (a dict of the widgets by hyperparameter name), ``figure`` (the plotly
``FigureWidget``) and ``message`` (an HTML widget where refused values and errors appear, never as a traceback),
so tests and users can drive them from code: ``explorer.controls["nu"].value = 10``.

This package re-exports every public name of the former module ``advdist_lab.widgets``.
"""

from .game import ESTIMATORS, GAME_METHODS, GameExplorer
from .training import TRAINING_DEFAULTS, TrainingExplorer, train_command

__all__ = ["ESTIMATORS", "GAME_METHODS", "TRAINING_DEFAULTS", "GameExplorer", "TrainingExplorer", "train_command"]
