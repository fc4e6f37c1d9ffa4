"""Which runs of a list train together: the tasks of :func:`~advdist_lab.runs.executors.run_configs`.

Runs can be members of one batch when their resolved configs are equal but for
:data:`~advdist_lab.runs.ensemble.MEMBER_FIELDS` (seeds, and the weights of a grid) and their dataset has players
that :func:`~advdist_lab.runs.ensemble.stack_members` stacks and data that
:class:`~advdist_lab.runs.ensemble.BatchedTrainer` trains (no augmentation, no gradient probes; single-label or the
multi-label tags): :data:`BATCHABLE_DATASETS`. Everything else trains solo.

By default (:func:`default_members`) only :data:`BATCHED_BY_DEFAULT` batch: on the digits and synthetic data the
players are MLP-sized and a batch removes the per-step overhead (``bench/ensemble_speed.py``: 2.7-3.4x for ADIM at
32 members); MNIST's LeNet on the CPU was measured slower batched (0.7x at 4 members), so MNIST and Fashion-MNIST
batch only when asked.

On the tag data (TPAMI Sec. 5.2) a step is compute-bound on the CPU (256-wide MLPs over 200 tags, minibatches of
100), so a batch gains little but does not lose, and its members are their solo runs bit for bit: measured on this
2-core CPU (one thread, load about 2.4, ``tags-popular``, Table 4's pretraining, 2 epochs), ``M`` solo runs against
one batch of ``M``: ADIM 1.12x (``M = 3``), 1.07x (8), 1.11x (16), 1.12x (32) at n = 1,000-2,000 items, ADIB 1.19x
and 1.12x, NGAN 1.14x and 1.25x (``M = 3`` and 8); ``run_table4`` (3 seeds, both label sets, n = 2,000,
``jobs=1``) 15.9 s solo against 11.8 s with the seeds batched (1.35x), the same table bit for bit. The gain does not
grow with ``M``, while large batches balance a worker pool worse (Fig. 8's 52 runs in batches of 32 and 20 on two
workers would take longer than solo), so the tag data batch :data:`TAG_DEFAULT_MEMBERS` runs at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ...data import TAG_DATASETS
from ...hparams import check_positive_int
from ...methods.config import TrainConfig
from .trainer import MEMBER_FIELDS

__all__ = [
    "BATCHABLE_DATASETS",
    "BATCHED_BY_DEFAULT",
    "DEFAULT_MEMBERS",
    "TAG_DEFAULT_MEMBERS",
    "batch_key",
    "batch_tasks",
    "default_members",
    "resolve_members",
]

BATCHABLE_DATASETS = ("digits", "synthetic", "mnist", "fashion-mnist", *TAG_DATASETS)
"""Datasets whose runs can train as members (MLP, LeNet and the tag players, data without augmentation)."""

BATCHED_BY_DEFAULT = ("digits", "synthetic", *TAG_DATASETS)
"""Datasets whose runs train as members unless ``members=1`` is asked (module docstring)."""

DEFAULT_MEMBERS = 32
"""Members per batch on :data:`BATCHED_BY_DEFAULT`: the largest batch measured by ``bench/ensemble_speed.py``, also
its fastest (ADIM 3.4x, MIMIC 2.8x against solo runs)."""


TAG_DEFAULT_MEMBERS = 8
"""Members per batch on the tag data: as fast as larger batches there (module docstring), and small enough that
the batches of a sweep spread over a worker pool."""


def default_members(dataset: str) -> int:
    """:data:`TAG_DEFAULT_MEMBERS` on the tag data, :data:`DEFAULT_MEMBERS` on the other datasets of
    :data:`BATCHED_BY_DEFAULT`, else 1 (every run solo)."""
    if dataset in TAG_DATASETS:
        return TAG_DEFAULT_MEMBERS
    return DEFAULT_MEMBERS if dataset in BATCHED_BY_DEFAULT else 1


def resolve_members(dataset: str, members: int | None) -> int:
    """``members`` as a caller gave it (a positive integer, else ``ValueError``), or :func:`default_members` of
    ``dataset`` for ``None``: the one place where the commands and experiments pick their batch size."""
    return default_members(dataset) if members is None else check_positive_int("members", members)


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
    A group is cut into as few chunks as ``members`` allows, of sizes that differ by at most one (78 runs at 32
    members: 26, 26, 26, not 32, 32, 14), so that a pool's workers get batches of equal work.
    """
    if members == 1:
        return [[i] for i in range(len(configs))]
    groups: dict[object, list[int]] = {}
    for i, config in enumerate(configs):
        key = batch_key(config)
        groups.setdefault(("solo", i) if key is None else key, []).append(i)
    tasks: list[list[int]] = []
    for indices in groups.values():
        chunks = -(-len(indices) // members)
        base, extra = divmod(len(indices), chunks)
        start = 0
        for chunk in range(chunks):
            size = base + (1 if chunk < extra else 0)
            tasks.append(indices[start : start + size])
            start += size
    return tasks
