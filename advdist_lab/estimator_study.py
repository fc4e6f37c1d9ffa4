"""The gradient-estimator study. Old import path, kept until every caller has moved to
advdist_lab.theory.estimators."""

from .theory.estimators import (  # noqa: F401
    DEFAULT_SAMPLE_COUNTS,
    DEFAULT_TAUS,
    REWARDS,
    BiasVariance,
    EstimatorCase,
    bias_variance,
    discriminator_case,
    estimates,
    estimator_label,
    estimator_sweep,
)

__all__ = [
    "DEFAULT_SAMPLE_COUNTS",
    "DEFAULT_TAUS",
    "REWARDS",
    "BiasVariance",
    "EstimatorCase",
    "bias_variance",
    "discriminator_case",
    "estimates",
    "estimator_label",
    "estimator_sweep",
]
