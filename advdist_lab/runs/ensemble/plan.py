"""Which runs of a list train together: the tasks of :func:`~advdist_lab.runs.executors.run_configs`.

Runs can be members of one batch when their resolved configs are equal but for
:data:`~advdist_lab.runs.ensemble.MEMBER_FIELDS` (seeds, and the weights of a grid) and their dataset has players
that :func:`~advdist_lab.runs.ensemble.stack_members` stacks and data that
:class:`~advdist_lab.runs.ensemble.BatchedTrainer` trains (single-label, no augmentation, no gradient probes):
:data:`BATCHABLE_DATASETS`. Everything else trains solo.

By default (:func:`default_members`) only :data:`BATCHED_BY_DEFAULT` batch: on the digits and synthetic data the
players are MLP-sized and a batch removes the per-step overhead (``bench/ensemble_speed.py``: 2.7-3.4x for ADIM at
32 members); MNIST's LeNet on the CPU was measured slower batched (0.7x at 4 members) and its dropout members are
independent runs, not the twins of their solo runs, so MNIST and Fashion-MNIST batch only when asked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ...methods.config import TrainConfig
from .trainer import MEMBER_FIELDS

__all__ = ["BATCHABLE_DATASETS", "BATCHED_BY_DEFAULT", "DEFAULT_MEMBERS", "batch_key", "batch_tasks", "default_members"]

BATCHABLE_DATASETS = ("digits", "synthetic", "mnist", "fashion-mnist")
"""Datasets whose runs can train as members (MLP and LeNet players, single-label data without augmentation)."""

BATCHED_BY_DEFAULT = ("digits", "synthetic")
"""Datasets whose runs train as members unless ``members=1`` is asked (module docstring)."""

DEFAULT_MEMBERS = 32
"""Members per batch on :data:`BATCHED_BY_DEFAULT`: the largest batch measured by ``bench/ensemble_speed.py``, also
its fastest (ADIM 3.4x, MIMIC 2.8x against solo runs)."""


def default_members(dataset: str) -> int:
    """:data:`DEFAULT_MEMBERS` on :data:`BATCHED_BY_DEFAULT`, else 1 (every run solo)."""
    return DEFAULT_MEMBERS if dataset in BATCHED_BY_DEFAULT else 1


def batch_key(config: TrainConfig) -> str | None:
    """Equal keys: the runs can be members of one batch; ``None``: the run trains solo."""
    resolved = config.resolved()
    if resolved.dataset not in BATCHABLE_DATASETS or resolved.probe_gradients:
        return None
    shared = {k: v for k, v in resolved.to_dict().items() if k not in MEMBER_FIELDS}
    return json.dumps(shared, sort_keys=True, default=str)


def batch_tasks(configs: Sequence[TrainConfig], members: int) -> list[list[int]]:
    """The indices of ``configs`` grouped into tasks: runs that can share a batch (:func:`batch_key`) in chunks of
    at most ``members``, in the order of their first run; every other run alone. ``members = 1``: one task per run.
    """
    if members == 1:
        return [[i] for i in range(len(configs))]
    groups: dict[object, list[int]] = {}
    for i, config in enumerate(configs):
        key = batch_key(config)
        groups.setdefault(("solo", i) if key is None else key, []).append(i)
    tasks: list[list[int]] = []
    for indices in groups.values():
        tasks.extend(indices[start : start + members] for start in range(0, len(indices), members))
    return tasks
