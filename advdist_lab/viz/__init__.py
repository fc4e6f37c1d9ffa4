"""Pure functions that return plotly figures, one module per topic; with :mod:`advdist_lab.widgets` and
:mod:`advdist_lab.course` the only part of the package that imports the notebook stack (plotly).

Every function takes results computed by the library (trajectories, lemma paths, dicts of numbers) and returns a
``plotly.graph_objects.Figure``; nothing here trains or solves. The modules, each importing only :mod:`.common`
and the rooms below (theory, metrics, robust), never :mod:`advdist_lab.widgets` or the CLI:

* :mod:`.common`: colours, the template, :func:`use_notebook_renderer` (figures that render in JupyterLab and in
  the HTML copies ``make course`` writes), :func:`line_figure`;
* :mod:`.game`: the exact game on the simplex, value curves, the game explorer's figure, Lemmas 4.6 / 4.7;
* :mod:`.training`: the training explorer's figure, training curves (TPAMI Figs. 4, 9), accuracy against ``n``;
* :mod:`.estimators`: the gradient-estimator study and Lemma 4.5;
* :mod:`.gradients`: gradient probes in training, TPAMI Figs. 5 and 7, training speed;
* :mod:`.ablation`: the hyperparameter sweeps, TPAMI Figs. 3 and 6 (and 11);
* :mod:`.tags`: tag recommendation (TPAMI Sec. 5.2);
* :mod:`.robust`: robust distillation (DFARD, DERD; notebooks 08 and 09), imported on its own
  (``from advdist_lab.viz import robust``) so that this package does not load :mod:`advdist_lab.robust`;
* :mod:`.table1_measured`: a measured Table 1 beside the paper's (bars with error bars), and :mod:`.privileged`:
  the student's views and the privileged table (notebook 10), each imported on its own.

This package re-exports every public name of the former module ``advdist_lab.viz``, so ``from advdist_lab import
viz; viz.X`` keeps working.
"""

from .ablation import HYPERPARAMETER_LABELS, SIZE_COLORS, hyperparameter_figure, teacher_mu_figure
from .common import COLORS, TEMPLATE, line_figure, use_notebook_renderer
from .estimators import ESTIMATOR_COLORS, estimator_figure, estimator_samples_figure, lemma_4_5_figure
from .game import (
    distribution_bars,
    game_explorer_figure,
    kl_curves,
    lemma_path_figure,
    ternary_trajectories,
    value_curve,
)
from .gradients import cosine_vs_omega_figure, epochs_to_accuracy_figure, gradient_variance_figure
from .tags import tag_popularity_figure
from .training import TRAINING_EXPLORER_SERIES, accuracy_vs_n, training_curves, training_explorer_figure

__all__ = [
    "COLORS",
    "ESTIMATOR_COLORS",
    "HYPERPARAMETER_LABELS",
    "SIZE_COLORS",
    "TEMPLATE",
    "TRAINING_EXPLORER_SERIES",
    "accuracy_vs_n",
    "cosine_vs_omega_figure",
    "distribution_bars",
    "epochs_to_accuracy_figure",
    "estimator_figure",
    "estimator_samples_figure",
    "game_explorer_figure",
    "gradient_variance_figure",
    "hyperparameter_figure",
    "kl_curves",
    "lemma_4_5_figure",
    "lemma_path_figure",
    "line_figure",
    "tag_popularity_figure",
    "teacher_mu_figure",
    "ternary_trajectories",
    "training_curves",
    "training_explorer_figure",
    "use_notebook_renderer",
    "value_curve",
]
