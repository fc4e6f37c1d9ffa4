"""KNN tag voting (the KVOTE baseline of TPAMI Table 4).

Old import path, kept until every caller has moved to advdist_lab.methods.knn (the voting, KnnConfig) and
advdist_lab.runs.knn (run_knn, the run in a run folder).
"""

from __future__ import annotations

from .methods.knn import (  # noqa: F401
    DEFAULT_K,
    KNN_METHOD,
    LABEL_SETS,
    KnnConfig,
    evaluate_knn,
    knn_scores,
    load_knn_data,
    pool_size,
)
from .runs.knn import run_knn  # noqa: F401

__all__ = [
    "DEFAULT_K",
    "KNN_METHOD",
    "LABEL_SETS",
    "KnnConfig",
    "evaluate_knn",
    "knn_scores",
    "load_knn_data",
    "pool_size",
    "run_knn",
]
