"""Runs: one :class:`RunFolder` lifecycle for every kind of run, training runs, sweeps and their executors.

* :mod:`.folder`: :class:`RunFolder` (path checks, the folder's lock, the config check on resume, atomic
  checkpoints and results, a full disk in one line), ``result.json`` and checkpoint readers, the progress bar;
* :mod:`.training`: :func:`train`, one run of a :class:`~advdist_lab.methods.TrainConfig`;
* :mod:`.executors`: many runs, in this process or in worker processes, stopped cleanly by an interrupt;
* :mod:`.sweeps`: grids of overrides times seeds (TPAMI Figs. 3 and 6) and their summaries;
* :mod:`.knn`: the run of KNN tag voting (:mod:`advdist_lab.methods.knn`).

This package keeps the public API of the former module ``advdist_lab/runs.py`` (and, until the robust runners move
to the public names, its private ``_config_mismatch``, ``_maybe_kill``, ``_progress_bar``).
"""

from __future__ import annotations

import sys
import types

from ..files import atomic_torch_save, atomic_write_bytes, atomic_write_json
from . import training
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
from .folder import config_mismatch as _config_mismatch  # noqa: F401  old name (robust runners)
from .folder import maybe_kill as _maybe_kill  # noqa: F401  old name (robust runners)
from .folder import progress_bar as _progress_bar  # noqa: F401  old name (robust runners)
from .training import Trainer, load_data, teacher_cache_key, train  # noqa: F401  old patch points (see _OldPatchPoints)

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

_PATCH_POINTS = ("Trainer", "load_data")


class _OldPatchPoints(types.ModuleType):
    """Tests written for the former module patch ``advdist_lab.runs.Trainer`` and ``advdist_lab.runs.load_data``
    to stop training: setting them here sets them where :func:`train` looks them up (:mod:`.training`). Kept until
    those tests patch ``advdist_lab.runs.training``."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _PATCH_POINTS:
            setattr(training, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _OldPatchPoints
