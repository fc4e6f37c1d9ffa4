""":func:`train_batch`: the runs of a batch, each in its own run folder, exactly as solo runs keep them.

Each member has a :class:`~advdist_lab.runs.folder.RunFolder`; every folder is checked, locked and read (its
finished result or its checkpoint, compared with the member's config) before any work, so a refusal (a folder in
use, a finished run without ``resume``, another config) comes in one line naming the member's folder and nothing
has been trained. Then:

* a finished member's ``result.json`` is returned as it is (read back, not retrained);
* the unfinished members are grouped by the epoch of their checkpoint (``None``: no checkpoint, they start with
  pretraining); each group trains as one batch (:func:`~advdist_lab.runs.ensemble.members.run_members`) from its
  members' checkpoints stacked (:mod:`.state`). A batch killed after epoch ``k`` leaves every member's checkpoint of
  epoch ``k`` (or, killed while writing them, some of ``k - 1``): it resumes as one or two groups, and each member's
  history is the one an uninterrupted batch gives it (every epoch reseeds itself from the member's seed, dropout
  masks included; on CUDA, where the dropout masks are not the solo runs', too);
* every member's ``checkpoint.pt`` and ``result.json`` have the solo format (:func:`~advdist_lab.runs.training.train`'s
  keys; the players from :func:`~advdist_lab.runs.ensemble.member_state`, the member's slice of the Adam state), so
  a member folder resumes solo (``advdist-lab train --resume``) and tables read it back like a solo run's.

A member whose loss goes non-finite stops alone; the others finish and their results are written, then its
:class:`~advdist_lab.runs.ensemble.MemberNonFiniteError` is raised, saying what its folder keeps (as
:func:`~advdist_lab.runs.training.train` raises a run's :class:`~advdist_lab.methods.loop.NonFiniteLossError`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from ...environment import resolve_device
from ...methods.config import TrainConfig
from ..folder import RunFolder
from ..training import CHECKPOINT_KEYS, comparable_config
from .members import load_batch_data, run_members
from .trainer import BatchedTrainer, MemberNonFiniteError, check_members

__all__ = ["train_batch"]


def train_batch(
    configs: Sequence[TrainConfig],
    outs: Sequence[str | os.PathLike],
    *,
    resume: bool = False,
    teacher_cache: str | os.PathLike | None = None,
    progress: bool = False,
    stop: threading.Event | None = None,
    trainer_hook: Callable[[BatchedTrainer], None] | None = None,
) -> list[dict]:
    """Train ``configs[i]`` into ``outs[i]`` as members of one batch (module docstring); one result per config.

    ``configs`` may differ only in :data:`~advdist_lab.runs.ensemble.MEMBER_FIELDS`. ``resume``, ``teacher_cache``
    and ``stop`` as in :func:`~advdist_lab.runs.training.train`: with ``resume`` finished members are read back
    and unfinished ones continued; ``stop`` ends every member after the current epoch (``status = "stopped"``,
    checkpoints kept). ``trainer_hook`` is called on each group's :class:`BatchedTrainer` before it trains.
    """
    configs = list(configs)
    outs = list(outs)
    if not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise ValueError("train_batch needs at least one TrainConfig")
    if len(outs) != len(configs):
        raise ValueError(f"configs and outs must have the same length (got {len(configs)} and {len(outs)})")
    configs = [c.resolved().check_memory() for c in configs]
    folders = [RunFolder(out, comparable=comparable_config) for out in outs]  # checks every path, touches nothing
    if len({f.path.resolve() for f in folders}) != len(folders):
        raise ValueError("every member needs its own run folder (two members share one)")
    device = resolve_device(configs[0].device)
    data = load_batch_data(configs[0], device)
    check_members(configs, data)
    results: list[dict | None] = [None] * len(configs)
    with ExitStack() as held:
        for folder in folders:
            held.enter_context(folder)  # FolderInUseError names the folder; the ones taken so far are released
        groups: dict[int | None, list[int]] = {}
        states: list[dict | None] = [None] * len(configs)
        for i, (config, folder) in enumerate(zip(configs, folders, strict=True)):
            results[i] = folder.finished(config.to_dict(), resume)
            if results[i] is None:
                states[i] = folder.checkpoint(config.to_dict(), resume, device, CHECKPOINT_KEYS)
                groups.setdefault(None if states[i] is None else folder.checkpoint_epoch, []).append(i)
        errors: list[MemberNonFiniteError] = []
        for epoch in sorted(groups, key=lambda e: -1 if e is None else e):
            members = groups[epoch]
            trained = run_members(
                [configs[i] for i in members],
                data,
                device,
                folders=[folders[i] for i in members],
                states=None if epoch is None else [states[i] for i in members],
                teacher_cache=teacher_cache,
                progress=progress,
                stop=stop,
                trainer_hook=trainer_hook,
                numbers=members,
                failures=errors,
            )
            for i, result in zip(members, trained, strict=True):
                results[i] = result
        if errors:
            raise errors[0]
    return results  # type: ignore[return-value]
