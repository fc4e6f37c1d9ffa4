"""Exact theory on small label spaces: distributions, the exact-game solver, theorem checks, the estimator study.

The room's modules, each importing only those before it (one way, no circle):

* :mod:`.small_ops`: softmax, log-softmax, log-sigmoid for tiny tensors, and :func:`flush_denormals`.
* :mod:`.distributions`: exact distributions, divergences, optimal discriminators, the value functions of NGAN,
  ADIB, ADIM and KDGAN and their optima (TPAMI Eq. 1-6, Lemmas 4.1, 4.3, Theorems 4.2, 4.4, Lemmas 4.6, 4.7).
* :mod:`.solver`: the exact-game solver (gradient descent-ascent on logits) and its trajectories.
* :mod:`.theorems`: numerical checks of the lemmas and theorems against their closed forms.
* :mod:`.estimators`: the Gumbel-Softmax / score-function estimators against the exact gradient.

This package re-exports the public API that the former module ``advdist_lab.theory`` had, the solver's three
names included (``solve_game``, ``game_gradients``, ``GameTrajectory``), so ``from advdist_lab.theory import X``
and ``advdist_lab.theory.X`` keep working.
"""

from .distributions import (
    DIST_ATOL,
    DTYPE,
    KDGAN_DISTILLATION,
    LOG4,
    REDUCTIONS,
    adib_equilibrium_value,
    adib_optimal_value,
    adib_value,
    adim_divergence,
    adim_equilibrium_value,
    adim_optimal_value,
    adim_value,
    as_distribution,
    empirical_distribution,
    expected_log,
    generalized_js,
    js,
    kd_loss,
    kd_optimal_student,
    kdgan_distillation_loss,
    kdgan_optimal_value,
    kdgan_value,
    kl,
    lemma_limit,
    lemma_omega,
    lemma_scaled_divergence,
    mixture,
    ngan_equilibrium_value,
    ngan_optimal_value,
    ngan_value,
    optimal_discriminator_binary,
    optimal_discriminator_multiclass,
    random_distributions,
)
from .solver import GameTrajectory, game_gradients, solve_game

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
