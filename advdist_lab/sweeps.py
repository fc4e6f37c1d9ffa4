"""Many training runs, each cached in its own run folder: rerunning reuses finished runs, resumes unfinished ones.

:func:`run_configs` trains a list of :class:`~advdist_lab.methods.TrainConfig` into their folders (a run folder of
:mod:`advdist_lab.runs` each), in this process or spread over worker processes. Tables (:mod:`advdist_lab.table1`)
and the experiments of the notebooks are lists of configs handed to it, so an interrupted experiment continues
where it stopped and a finished one is read back instead of trained again.

With ``jobs > 1`` every worker runs one torch thread: on the CPU the digits models are so small that two
single-threaded runs side by side finish sooner than one run on two threads. Every run is seeded by its own config,
so the results do not depend on ``jobs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from .hparams import check_positive_int
from .methods.config import SMALL_DATASETS, TrainConfig
from .runs import CHECKPOINT, RESULT, train


def default_jobs(dataset: str, device: str = "auto") -> int:
    """Worker processes for many runs: one per CPU core for the small datasets on the CPU, otherwise 1."""
    import torch

    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    if dataset not in SMALL_DATASETS or not on_cpu:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def train_cached(config: TrainConfig, folder: str | os.PathLike, teachers: str | os.PathLike | None = None) -> dict:
    """The result of ``config`` in ``folder``: read back if finished, resumed if interrupted, else trained."""
    folder = Path(folder)
    exists = (folder / RESULT).exists() or (folder / CHECKPOINT).exists()
    return train(config, folder, resume=exists, progress=False, teacher_cache=teachers)


def run_configs(
    configs: Sequence[TrainConfig],
    folders: Sequence[str | os.PathLike],
    *,
    teachers: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: bool = True,
    description: str = "runs",
    on_result: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Train (or reuse) ``configs[i]`` in ``folders[i]``; the results in the order of ``configs``.

    Every config is validated before any training starts. ``teachers`` is a folder of pretrained teachers shared
    by the runs (:func:`advdist_lab.runs.train`'s ``teacher_cache``). ``jobs`` worker processes (default:
    :func:`default_jobs` for the first config's dataset and device). ``on_result(i, result)`` is called as each
    run finishes, in the order they finish.
    """
    configs = list(configs)
    folders = [Path(f) for f in folders]
    if len(configs) != len(folders):
        raise ValueError(f"configs and folders must have the same length (got {len(configs)} and {len(folders)})")
    if len(set(folders)) != len(folders):
        raise ValueError("every config needs its own folder (two configs share one)")
    for config in configs:
        if not isinstance(config, TrainConfig):
            raise ValueError(f"configs must be TrainConfig objects (got {type(config).__name__})")
        config.resolved()
    if jobs is None:
        jobs = default_jobs(configs[0].dataset, configs[0].device) if configs else 1
    check_positive_int("jobs", jobs)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), desc=description, disable=not progress, dynamic_ncols=True)
    results: list[dict | None] = [None] * len(configs)

    def finished(i: int, result: dict) -> None:
        results[i] = result
        bar.update(1)
        if on_result is not None:
            on_result(i, result)

    try:
        if jobs == 1 or len(configs) <= 1:
            for i, (config, folder) in enumerate(zip(configs, folders, strict=True)):
                finished(i, train_cached(config, folder, teachers))
        else:
            context = get_context("spawn")
            with ProcessPoolExecutor(
                min(jobs, len(configs)), mp_context=context, initializer=_init_worker, initargs=(1,)
            ) as pool:
                futures = {
                    pool.submit(train_cached, config, folder, teachers): i
                    for i, (config, folder) in enumerate(zip(configs, folders, strict=True))
                }
                for future in as_completed(futures):
                    finished(futures[future], future.result())
    finally:
        bar.close()
    return results
