"""Exact theory on small label spaces: distributions, the exact-game solver, theorem checks, the estimator study.

The room's modules, each importing only those before it (one way, no circle):

* :mod:`.small_ops`: softmax, log-softmax, log-sigmoid for tiny tensors, and :func:`flush_denormals`.
* :mod:`.distributions`: input checks, divergences, KD's loss (TPAMI Eq. 1, 2), optimal discriminators
  (Lemmas 4.1, 4.3), and the unchecked per-context kernels the other modules share.
* :mod:`.value_functions`: NGAN, ADIB, ADIM (Eq. 3, 4, 6), their optima and equilibria (Theorems 4.2, 4.4) and
  the limits of Lemmas 4.6, 4.7.
* :mod:`.kdgan`: KDGAN's value function and optimum (KDGAN Eq. 3-5).
* :mod:`.dynamics`: the exact games' values and closed-form gradients on logits.
* :mod:`.trajectory`: the record of one game and what it measures.
* :mod:`.solver`: the exact-game solver (gradient descent-ascent on logits) and one-hyperparameter sweeps.
* :mod:`.theorems`: numerical checks of the lemmas and theorems against their closed forms.
* :mod:`.variance_lemma`: Lemma 4.5 (the variance of a convex combination) by Monte Carlo.
* :mod:`.estimators`: the Gumbel-Softmax / score-function estimators against the exact gradient.

This package re-exports the public API that the former module ``advdist_lab.theory`` had, the solver's three
names included (``solve_game``, ``game_gradients``, ``GameTrajectory``), so ``from advdist_lab.theory import X``
and ``advdist_lab.theory.X`` keep working.
"""

from .distributions import (
    DIST_ATOL,
    DTYPE,
    LOG4,
    REDUCTIONS,
    as_distribution,
    empirical_distribution,
    expected_log,
    generalized_js,
    js,
    kd_loss,
    kd_optimal_student,
    kl,
    mixture,
    optimal_discriminator_binary,
    optimal_discriminator_multiclass,
    random_distributions,
)
from .dynamics import game_gradients
from .kdgan import KDGAN_DISTILLATION, kdgan_distillation_loss, kdgan_optimal_value, kdgan_value
from .solver import solve_game
from .trajectory import GameTrajectory
from .value_functions import (
    adib_equilibrium_value,
    adib_optimal_value,
    adib_value,
    adim_divergence,
    adim_equilibrium_value,
    adim_optimal_value,
    adim_value,
    lemma_limit,
    lemma_omega,
    lemma_scaled_divergence,
    ngan_equilibrium_value,
    ngan_optimal_value,
    ngan_value,
)

__all__ = [
    "DIST_ATOL",
    "DTYPE",
    "KDGAN_DISTILLATION",
    "LOG4",
    "REDUCTIONS",
    "GameTrajectory",
    "adib_equilibrium_value",
    "adib_optimal_value",
    "adib_value",
    "adim_divergence",
    "adim_equilibrium_value",
    "adim_optimal_value",
    "adim_value",
    "as_distribution",
    "empirical_distribution",
    "expected_log",
    "game_gradients",
    "generalized_js",
    "js",
    "kd_loss",
    "kd_optimal_student",
    "kdgan_distillation_loss",
    "kdgan_optimal_value",
    "kdgan_value",
    "kl",
    "lemma_limit",
    "lemma_omega",
    "lemma_scaled_divergence",
    "mixture",
    "ngan_equilibrium_value",
    "ngan_optimal_value",
    "ngan_value",
    "optimal_discriminator_binary",
    "optimal_discriminator_multiclass",
    "random_distributions",
    "solve_game",
]
