"""Numerical checks of the lemmas and theorems. Old import path, kept until every caller has moved to
advdist_lab.theory.theorems (and advdist_lab.theory.variance_lemma for Lemma 4.5)."""

from .theory.theorems import (  # noqa: F401
    Check,
    LemmaPoint,
    kdgan_eq_4,
    kdgan_eq_5,
    lemma_4_1,
    lemma_4_3,
    lemma_4_6_4_7,
    lemma_path,
    maximise,
    minimise_players,
    numerical_discriminator,
    theorem_4_2,
    theorem_4_4,
)
from .theory.variance_lemma import (  # noqa: F401
    LEMMA_4_5_LAMBDAS,
    LEMMA_4_5_PRESETS,
    Lemma45Result,
    lemma_4_5,
    lemma_4_5_monte_carlo,
)

__all__ = [
    "LEMMA_4_5_LAMBDAS",
    "LEMMA_4_5_PRESETS",
    "Check",
    "Lemma45Result",
    "LemmaPoint",
    "kdgan_eq_4",
    "kdgan_eq_5",
    "lemma_4_1",
    "lemma_4_3",
    "lemma_4_5",
    "lemma_4_5_monte_carlo",
    "lemma_4_6_4_7",
    "lemma_path",
    "maximise",
    "minimise_players",
    "numerical_discriminator",
    "theorem_4_2",
    "theorem_4_4",
]
