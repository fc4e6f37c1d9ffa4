"""TPAMI Table 1's numbers and the formatting of tables. Old import path, kept until every caller has moved to
advdist_lab.experiments.table1 (the table) and advdist_lab.experiments.tables (formatting).

``PAPER_TABLE1`` is the old name of :data:`advdist_lab.experiments.table1.TPAMI_TABLE1`.
"""

from .experiments.table1 import (  # noqa: F401
    TABLE1_METHODS,
    aggregate,
    paper_table,
    table_rows,
    to_csv,
    to_markdown,
)
from .experiments.table1 import TPAMI_TABLE1 as PAPER_TABLE1  # noqa: F401
from .experiments.tables import markdown_table, mean_std  # noqa: F401

__all__ = [
    "PAPER_TABLE1",
    "TABLE1_METHODS",
    "aggregate",
    "markdown_table",
    "mean_std",
    "paper_table",
    "table_rows",
    "to_csv",
    "to_markdown",
]
