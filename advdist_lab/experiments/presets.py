"""The presets of ``advdist-lab sweep --preset``: TPAMI Figs. 3, 6 and 8, one table for the command to read.

* ``fig3``: ADIM's student against ``omega_r``, ``omega_s``, ``omega_t``, ``nu`` and ``mu`` on digits (MNIST in the
  paper), :func:`advdist_lab.experiments.ablation.run_fig3`;
* ``fig6``: the teacher against ``mu`` with ``mu = 0`` as reference, :func:`~advdist_lab.experiments.ablation.run_fig6`;
* ``fig8``: Fig. 3's sweep on the tag data (the most popular tags), the student's P@3,
  :func:`advdist_lab.experiments.tag_figures.run_fig8`.

:func:`run_preset` runs one by name with the command's values (TrainConfig fields, the sizes and seeds) and returns
``{"points", "results", "summary", "rows"}`` (and ``"baseline"`` for ``fig6``); :func:`default_out` is its
default folder, ``runs/sweep-ablation-<dataset>``, shared by the presets of one dataset so that ``fig6`` reuses
``fig3``'s ``mu`` runs (and ``fig6 --dataset tags-popular`` Fig. 8's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from advdist_lab.experiments import ablation, tag_figures

__all__ = ["SWEEP_PRESETS", "SweepPreset", "default_out", "preset_dataset", "run_preset"]


@dataclass(frozen=True)
class SweepPreset:
    """A preset: what it sweeps (``help``), the dataset it defaults to, the training-set sizes (``None``: the
    whole pool of the dataset) and seeds it defaults to, and ``run(out, sizes, seeds, jobs=, progress=, **values)``."""

    help: str
    dataset: str
    sizes: tuple[int, ...] | None
    seeds: int
    run: Callable[..., dict]
    datasets: tuple[str, ...] | None = None  # the datasets it takes (None: any)


def _run_fig8(out, sizes, seeds, *, jobs=None, progress=True, **values) -> dict:
    if sizes is not None and len(sizes) != 1:
        raise ValueError(f"--preset fig8 sweeps one training-set size (got {len(sizes)}: {list(sizes)})")
    return tag_figures.run_fig8(out, sizes[0] if sizes else None, seeds, jobs=jobs, progress=progress, **values)


def _run_sized(run: Callable[..., dict]) -> Callable[..., dict]:
    def sized(out, sizes, seeds, **options) -> dict:
        return run(out, ablation.FIG3_SIZES if sizes is None else sizes, seeds, **options)

    return sized


SWEEP_PRESETS: dict[str, SweepPreset] = {
    "fig3": SweepPreset(
        "ADIM's student against omega_r, omega_s, omega_t, nu and mu (TPAMI Fig. 3)",
        "digits",
        ablation.FIG3_SIZES,
        ablation.FIG3_SEEDS,
        _run_sized(ablation.run_fig3),
    ),
    "fig6": SweepPreset(
        "the teacher against mu with mu = 0 as reference (TPAMI Fig. 6)",
        "digits",
        ablation.FIG3_SIZES,
        ablation.FIG3_SEEDS,
        _run_sized(ablation.run_fig6),
    ),
    "fig8": SweepPreset(
        "Fig. 3's sweep on the tag data: ADIM's student's P@3 against its hyperparameters, the most popular tags "
        "(TPAMI Fig. 8)",
        tag_figures.FIG8_DATASET,
        None,
        tag_figures.FIG8_SEEDS,
        _run_fig8,
        datasets=("tags-popular", "tags-random"),
    ),
}
"""Every preset of ``advdist-lab sweep --preset``, by name."""


def _preset(name: object) -> SweepPreset:
    if name not in SWEEP_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(SWEEP_PRESETS)} (got {name!r})")
    return SWEEP_PRESETS[name]  # type: ignore[index]


def preset_dataset(name: str, values: Mapping[str, object]) -> str:
    """The dataset a preset runs on: ``values["dataset"]`` if given (checked against the preset's datasets), else the
    preset's own."""
    preset = _preset(name)
    dataset = values.get("dataset", preset.dataset)
    if preset.datasets is not None and dataset not in preset.datasets:
        raise ValueError(f"--preset {name} needs a dataset among {', '.join(preset.datasets)} (got {dataset!r})")
    return str(dataset)


def default_out(name: str, values: Mapping[str, object]) -> str:
    """The default folder of a preset: ``runs/sweep-ablation-<dataset>``."""
    return f"runs/sweep-ablation-{preset_dataset(name, values)}"


def run_preset(
    name: str,
    out: str | os.PathLike,
    sizes: Sequence[int] | None = None,
    seeds: int | Sequence[int] | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
    **values,
) -> dict:
    """Run the preset ``name`` under ``out``: ``sizes`` (``None``: the preset's), ``seeds`` (``None``: the preset's),
    ``values`` the TrainConfig fields of every run (``method`` must be ADIM's or absent; ``n_train`` and ``seed``
    are the preset's). Every point is validated before any training."""
    preset = _preset(name)
    values = dict(values)
    if values.pop("method", "adim") != "adim":
        raise ValueError(f"--preset {name} sweeps ADIM: --method must be adim (or left out)")
    for field, option in (("n_train", "sizes"), ("seed", "seeds")):
        if field in values:
            raise ValueError(f"--preset {name} takes {field} from {option}, not from the config")
    values["dataset"] = preset_dataset(name, values)
    sizes = None if sizes is None else tuple(sizes)
    seeds = preset.seeds if seeds is None else seeds
    return preset.run(out, sizes, seeds, jobs=jobs, progress=progress, **values)
