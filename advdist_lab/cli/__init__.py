"""The ``advdist-lab`` command (console script ``advdist_lab.cli:main``, also ``python -m advdist_lab.cli``).

::

    advdist-lab train --method adim --dataset digits --n-train 100 --epochs 50 --seed 0 --device auto --out runs/x
    advdist-lab table1 --dataset digits --seeds 5 --out runs/t1                  # TPAMI Table 1
    advdist-lab sweep --preset fig3 --seeds 3 --sizes 100,500                     # TPAMI Fig. 3 (fig6: Fig. 6)
    advdist-lab tags --method adim --label-set popular --seed 0 --out runs/t     # TPAMI Sec. 5.2, one run
    advdist-lab table4 --seeds 3 --out runs/table4                               # TPAMI Table 4
    advdist-lab robust-teacher --dataset digits --method pgd-at --out runs/rt   # DFARD's robust teacher
    advdist-lab robust-eval --model runs/rt --out runs/eval                      # DFARD Table 1 row of a model
    advdist-lab dfard --method dfard --teacher runs/rt --out runs/dfard           # DFARD Algorithm 1, DERD
    advdist-lab dfard-table --table 3 --teacher runs/rt --out runs/table3        # DFARD Tables 1, 3, 4
    advdist-lab data fetch all                                                   # MNIST, Fashion-MNIST offline
    advdist-lab privileged --dataset digits --view crop --seeds 5                # the privileged table
    advdist-lab table1-report results/t --runs runs/t1 --dataset mnist           # export a measured Table 1

Modules: :mod:`~advdist_lab.cli.options` (the one dataclass -> argparse option generator),
:mod:`~advdist_lab.cli.common` (threads, workers, lists, ``--out``, one-line errors), one module per command family
(:mod:`~advdist_lab.cli.train`: train, table1, sweep; :mod:`~advdist_lab.cli.tags`: tags, table4;
:mod:`~advdist_lab.cli.robust`: robust-teacher, robust-eval; :mod:`~advdist_lab.cli.dfard`: dfard, dfard-table;
:mod:`~advdist_lab.cli.data`: data; :mod:`~advdist_lab.cli.privileged`: privileged;
:mod:`~advdist_lab.cli.table1_report`: table1-report)
and :mod:`~advdist_lab.cli.commands` (the ``{command: handler}`` table, :func:`build_parser`, :func:`main`).
Bad values fail before any work with one line naming the constraint (exit status 2); a run that fails while
training (a non-finite loss, data that cannot be downloaded) exits with status 1.
"""

from .commands import COMMANDS, build_parser, main
from .train import TRAIN_HELP as HELP
from .train import parse_grid

__all__ = ["COMMANDS", "HELP", "build_parser", "main", "parse_grid"]
