"""Runs: one :class:`RunFolder` lifecycle for every kind of run, training runs, sweeps and their executors.

* :mod:`.folder`: :class:`RunFolder` (path checks, the folder's lock, the config check on resume, atomic
  checkpoints and results, a full disk in one line), ``result.json`` and checkpoint readers, the progress bar;
* :mod:`.training`: :func:`train`, one run of a :class:`~advdist_lab.methods.TrainConfig`;
* :mod:`.executors`: many runs on an executor (this process, worker processes (:mod:`.pool`) or a Ray cluster
  (:mod:`.cluster`)), under one bar (:mod:`.progress`), stopped cleanly by an interrupt;
* :mod:`.sweeps`: grids of overrides times seeds (TPAMI Figs. 3 and 6) and their summaries;
* :mod:`.knn`: the run of KNN tag voting (:mod:`advdist_lab.methods.knn`).

This package keeps the public API of the former module ``advdist_lab/runs.py``. Tests that stop training patch
where :func:`train` looks its collaborators up: ``advdist_lab.runs.training.Trainer`` and ``.load_data``.
"""

from __future__ import annotations

from ..files import atomic_torch_save, atomic_write_bytes, atomic_write_json
from .folder import (
    CHECKPOINT,
    KILL_AFTER_EPOCH_ENV,
    LOCK,
    RESULT,
    CheckpointError,
    DamagedResultError,
    FolderInUseError,
    RunExistsError,
    RunFolder,
    UnusableFolderError,
    check_out,
    config_mismatch,
    load_result,
    maybe_kill,
    notebook_folder,
    progress_bar,
    read_checkpoint,
    read_finished,
    read_result,
)
from .training import teacher_cache_key, train

__all__ = [
    "CHECKPOINT",
    "KILL_AFTER_EPOCH_ENV",
    "LOCK",
    "RESULT",
    "CheckpointError",
    "DamagedResultError",
    "FolderInUseError",
    "RunExistsError",
    "RunFolder",
    "UnusableFolderError",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_out",
    "config_mismatch",
    "load_result",
    "maybe_kill",
    "notebook_folder",
    "progress_bar",
    "read_checkpoint",
    "read_finished",
    "read_result",
    "teacher_cache_key",
    "train",
]
