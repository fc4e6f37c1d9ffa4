"""The ensemble dimension: runs that share a method, a dataset and architectures trained as one batched model.

* :mod:`.layers`: the players of ``M`` runs as one module with a leading member dimension (batched matmuls,
  grouped convolutions), stacked from solo modules and unstacked back (:func:`stack_members`,
  :func:`member_state`);
* :mod:`.trainer`: :class:`BatchedTrainer`, the shared loop of :class:`~advdist_lab.methods.loop.Trainer` for
  ``M`` members, each with its own seeds, minibatch order and noise, stopped alone on a non-finite loss;
* :mod:`.members`: :func:`train_members`, each member's result in the format of
  :func:`~advdist_lab.runs.training.train` (:func:`run_members`: the one loop of a batch);
* :mod:`.state`: a member's checkpoint in the solo format, and solo checkpoints stacked back into a batch;
* :mod:`.folders`: :func:`train_batch`, one run folder per member, resumed and read back as solo runs are;
* :mod:`.plan`: which runs of a list share a batch (the tasks of ``run_configs(..., members=K)``, ``--members``).

A member's history equals its solo run's to float rounding (``tests/test_ensemble.py``).
"""

from __future__ import annotations

from .folders import train_batch
from .layers import member_state, stack_members
from .members import run_members, train_members
from .trainer import MEMBER_FIELDS, BatchedTrainer, MemberNonFiniteError, epoch_generators

__all__ = [
    "MEMBER_FIELDS",
    "BatchedTrainer",
    "MemberNonFiniteError",
    "epoch_generators",
    "member_state",
    "run_members",
    "stack_members",
    "train_batch",
    "train_members",
]
