"""TPAMI Table 4 (image tag recommendation). Old import path, kept until every caller has moved to
advdist_lab.experiments.table4 (the table) and advdist_lab.experiments.table4_runs (its runs).

``PAPER_TABLE4`` and ``PAPER_METHODS`` are the old names of :data:`~advdist_lab.experiments.table4.TPAMI_TABLE4`
and :data:`~advdist_lab.experiments.table4.TPAMI_TABLE4_METHODS`.
"""

from .experiments.table4 import (  # noqa: F401
    ALL_METHODS,
    LABEL_SET_TITLES,
    METRIC_NAMES,
    PAPER_NAMES,
    PAPER_ROW,
    ROW_ORDER,
    TABLE4_METHODS,
    TABLE4_METRICS,
    aggregate,
    block_rows,
    check_label_sets,
    check_methods,
    curve_summary,
    curves,
    label_set_of,
    paper_comparison,
    to_csv,
    to_markdown,
)
from .experiments.table4 import TPAMI_TABLE4 as PAPER_TABLE4  # noqa: F401
from .experiments.table4 import TPAMI_TABLE4_METHODS as PAPER_METHODS  # noqa: F401
from .experiments.table4_runs import KNN_FIELDS, plan, run_folder, run_table4, tag_config  # noqa: F401

__all__ = [
    "ALL_METHODS",
    "KNN_FIELDS",
    "LABEL_SET_TITLES",
    "METRIC_NAMES",
    "PAPER_METHODS",
    "PAPER_NAMES",
    "PAPER_ROW",
    "PAPER_TABLE4",
    "ROW_ORDER",
    "TABLE4_METHODS",
    "TABLE4_METRICS",
    "aggregate",
    "block_rows",
    "check_label_sets",
    "check_methods",
    "curve_summary",
    "curves",
    "label_set_of",
    "paper_comparison",
    "plan",
    "run_folder",
    "run_table4",
    "tag_config",
    "to_csv",
    "to_markdown",
]
