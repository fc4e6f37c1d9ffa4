"""TPAMI Table 1's runs. Old import path, kept until every caller has moved to advdist_lab.experiments.table1."""

from .experiments.table1 import plan, run_folder, run_table1, train_runs  # noqa: F401

__all__ = ["plan", "run_folder", "run_table1", "train_runs"]
