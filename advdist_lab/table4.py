"""Image tag recommendation, TPAMI Table 4: every method on both label sets over several seeds, beside the paper's.

TPAMI (``000_...``) Sec. 5.2 compares the students of NGAN, ADIB and ADIM with KVOTE (KNN tag voting, reference
[30]), TPROP, TFEAT and REXMP on YFCC100M, with the 200 most popular tags and with 200 randomly selected tags, in
MAP, MRR, P@3, R@3, F@3 and NDCG@3 (Table 4; KDGAN ``003_...`` Table 2 reports the same runs, KDGAN being ADIB).
:func:`run_table4` trains (or reads back) every method x label set x seed on the YFCC-like data of
:mod:`advdist_lab.data.tags` (or a user's features, ``data_file``), each run in ``out/<label set>/<method>/seed<k>/``
(a run folder of :mod:`advdist_lab.runs`; KNN's of :func:`advdist_lab.knn.run_knn`), finished runs read back and
interrupted ones resumed; the pretrained teachers are shared by the methods of one label set and seed through
``out/teachers/``. It writes ``table4.md``, ``table4.csv`` and ``table4.json`` (atomically) and returns the table.

The layout is the paper's: one block per label set, one row per method, the six metrics across, ours as
``mean ± std`` over the seeds (sample std; one seed: the mean alone) with the paper's number beside each. Methods
of the paper that this project does not implement (TPROP, TFEAT, REXMP) have the paper's numbers only; our methods
that the paper's table lacks (the KD baselines, ADIM-NGS) have ours only. Our ``knn`` is the paper's KVOTE row.
Our numbers come from generated data, not YFCC100M: compare the ranking of the methods, not the values.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .files import atomic_write_bytes, atomic_write_json
from .hparams import check_choice, check_positive_int
from .knn import DEFAULT_K, KNN_METHOD, LABEL_SETS, KnnConfig, pool_size, run_knn
from .methods.config import ADVERSARIAL, METHODS, TrainConfig, applicable
from .runs import RESULT
from .tables import mean_std

TABLE4_METRICS = ("map", "mrr", "p@3", "r@3", "f@3", "ndcg@3")
"""The columns of TPAMI Table 4, in its order, as keys of ``result.json``."""

METRIC_NAMES = {"map": "MAP", "mrr": "MRR", "p@3": "P@3", "r@3": "R@3", "f@3": "F@3", "ndcg@3": "NDCG@3"}

LABEL_SET_TITLES = {"popular": "Most Popular Tags", "random": "Randomly Selected Tags"}
"""The blocks of TPAMI Table 4."""

TABLE4_METHODS = (KNN_METHOD, "ngan", "adib", "adim")
"""The rows of TPAMI Table 4 that this project implements (``knn`` is the paper's KVOTE): the default methods."""

ALL_METHODS = (KNN_METHOD, *METHODS)
"""Every method ``table4`` and ``advdist-lab tags`` accept."""

PAPER_TABLE4: dict[str, dict[str, dict[str, float]]] = {
    "popular": {
        "kvote": {"map": 0.5755, "mrr": 0.5852, "p@3": 0.2320, "r@3": 0.4400, "f@3": 0.2339, "ndcg@3": 0.5592},
        "tprop": {"map": 0.6177, "mrr": 0.6270, "p@3": 0.2420, "r@3": 0.5281, "f@3": 0.2811, "ndcg@3": 0.6103},
        "tfeat": {"map": 0.6417, "mrr": 0.6503, "p@3": 0.2560, "r@3": 0.5420, "f@3": 0.2871, "ndcg@3": 0.6371},
        "rexmp": {"map": 0.7015, "mrr": 0.7122, "p@3": 0.2720, "r@3": 0.6285, "f@3": 0.3324, "ndcg@3": 0.6999},
        "ngan": {"map": 0.7432, "mrr": 0.7555, "p@3": 0.2892, "r@3": 0.6676, "f@3": 0.3516, "ndcg@3": 0.7465},
        "adib": {"map": 0.7787, "mrr": 0.7905, "p@3": 0.3047, "r@3": 0.6971, "f@3": 0.3678, "ndcg@3": 0.7846},
        "adim": {"map": 0.7862, "mrr": 0.7980, "p@3": 0.3060, "r@3": 0.7032, "f@3": 0.3687, "ndcg@3": 0.7914},
    },
    "random": {
        "kvote": {"map": 0.3970, "mrr": 0.4092, "p@3": 0.1623, "r@3": 0.2790, "f@3": 0.1575, "ndcg@3": 0.3607},
        "tprop": {"map": 0.4512, "mrr": 0.4636, "p@3": 0.1883, "r@3": 0.3244, "f@3": 0.1810, "ndcg@3": 0.4225},
        "tfeat": {"map": 0.5149, "mrr": 0.5309, "p@3": 0.2002, "r@3": 0.4132, "f@3": 0.2195, "ndcg@3": 0.4990},
        "rexmp": {"map": 0.5205, "mrr": 0.5331, "p@3": 0.2228, "r@3": 0.4450, "f@3": 0.2427, "ndcg@3": 0.5377},
        "ngan": {"map": 0.5791, "mrr": 0.5911, "p@3": 0.2415, "r@3": 0.4904, "f@3": 0.2693, "ndcg@3": 0.5834},
        "adib": {"map": 0.6302, "mrr": 0.6452, "p@3": 0.2572, "r@3": 0.5403, "f@3": 0.2946, "ndcg@3": 0.6255},
        "adim": {"map": 0.6480, "mrr": 0.6623, "p@3": 0.2620, "r@3": 0.5462, "f@3": 0.2950, "ndcg@3": 0.6416},
    },
}
"""TPAMI Table 4 as printed ("Accuracy in image tag recommendation on YFCC"): the paper's numbers, not ours.

Transcribed from the text extraction of ``000_...`` (lines ~1487-1540), which lists the table column by column: for
KVOTE, TPROP, TFEAT, REXMP and NGAN twelve columns of five numbers (MAP, MRR, P@3, R@3, F@3, NDCG@3 of the most
popular tags, then the same six of the random tags), then for ADIB and ADIM twelve columns of two. Cross-checked
against KDGAN Table 2 (``003_...``), which prints P@3, F@3, MAP and MRR of the same runs (KNN = KVOTE, NaGAN = NGAN,
KDGAN = ADIB) with identical values. The paper reports no standard deviations for this table."""

PAPER_METHODS = ("kvote", "tprop", "tfeat", "rexmp", "ngan", "adib", "adim")
"""The rows of TPAMI Table 4, in its order."""

PAPER_NAMES = {"kvote": "KVOTE", "tprop": "TPROP", "tfeat": "TFEAT", "rexmp": "REXMP"}

ROW_ORDER = ("knn", "tprop", "tfeat", "rexmp", "mimic", "distn", "noisy", "codis", "ngan", "adib", "adim", "adim-ngs")
"""The rows of our layout: the paper's (``knn`` in KVOTE's place), our KD baselines before the adversarial methods."""

PAPER_ROW = {KNN_METHOD: "kvote"}
"""Our method -> the paper's row, where the names differ."""


def label_set_of(dataset: str) -> str:
    """``tags-popular`` -> ``popular``; ``ValueError`` for a dataset that is not a label set of Table 4."""
    for label_set, name in LABEL_SETS.items():
        if name == dataset:
            return label_set
    raise ValueError(f"dataset must be one of {', '.join(LABEL_SETS.values())} for Table 4 (got {dataset!r})")


def check_label_sets(label_sets: Iterable[str]) -> tuple[str, ...]:
    """Distinct label sets, each ``popular`` or ``random``."""
    if isinstance(label_sets, str):
        label_sets = (label_sets,)
    values = tuple(label_sets)
    if not values:
        raise ValueError("label_sets must name at least one of popular, random")
    for value in values:
        if value not in LABEL_SETS:
            raise ValueError(f"label set must be one of {', '.join(LABEL_SETS)} (got {value!r})")
    if len(set(values)) != len(values):
        raise ValueError(f"label_sets must be distinct (got {', '.join(values)})")
    return values


def check_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """Distinct methods, each ``knn`` or one of :data:`advdist_lab.methods.config.METHODS`."""
    if isinstance(methods, str):
        methods = (methods,)
    values = tuple(methods)
    if not values:
        raise ValueError(f"methods must name at least one of {', '.join(ALL_METHODS)}")
    for value in values:
        if value not in ALL_METHODS:
            raise ValueError(f"method must be one of {', '.join(ALL_METHODS)} (got {value!r})")
    if len(set(values)) != len(values):
        raise ValueError(f"methods must be distinct (got {', '.join(values)})")
    return values


KNN_FIELDS = ("n_train", "subset_seed", "data_file", "device")
"""The :class:`TrainConfig` overrides that a KNN run takes (the others configure training, which KNN has none of)."""


def tag_config(
    method: str,
    dataset: str,
    seed: int,
    *,
    knn_k: int = DEFAULT_K,
    knn_weighted: bool = True,
    strict: bool = False,
    **overrides,
):
    """The config of one tag run: a :class:`KnnConfig` for ``knn``, else a resolved :class:`TrainConfig`.

    ``overrides`` are :class:`TrainConfig` fields; each applies where the method takes it
    (:func:`advdist_lab.methods.config.applicable`; KNN takes :data:`KNN_FIELDS` only), or, with ``strict``
    (one run, ``advdist-lab tags``), every one is passed on, so that one the method does not take raises. Unless
    overridden, a trained method gets :data:`advdist_lab.methods.config.TAG_RUN_DEFAULTS`
    (``student_pretrain_epochs`` only for the adversarial methods, whose student starts pretrained) and every run
    the whole training pool as ``n_train``.
    """
    from .methods.config import TAG_RUN_DEFAULTS

    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {', '.join(ALL_METHODS)} (got {method!r})")
    overrides = dict(overrides)
    if overrides.get("n_train") is None:
        overrides["n_train"] = pool_size(dataset, overrides.get("data_file"))
    if method == KNN_METHOD:
        values = {k: v for k, v in overrides.items() if k in KNN_FIELDS}
        return KnnConfig(dataset=dataset, seed=seed, k=knn_k, weighted=knn_weighted, **values)
    defaults = {k: v for k, v in TAG_RUN_DEFAULTS.items() if k != "student_pretrain_epochs" or method in ADVERSARIAL}
    values = {**defaults, **overrides} if strict else applicable(method, {**defaults, **overrides})
    config = TrainConfig(method=method, dataset=dataset, seed=seed, **values)
    return config.resolved()


def plan(
    methods: Sequence[str] = TABLE4_METHODS,
    label_sets: Sequence[str] = tuple(LABEL_SETS),
    seeds: int = 3,
    *,
    knn_k: int = DEFAULT_K,
    knn_weighted: bool = True,
    **overrides,
) -> list:
    """The configs of a Table 4 run (label set, then seed, then method), all validated before any training."""
    check_positive_int("seeds", seeds)
    methods, label_sets = check_methods(methods), check_label_sets(label_sets)
    for name in ("method", "dataset", "seed"):
        if name in overrides:
            raise ValueError(f"{name} cannot be overridden in Table 4: it is set by the table's {name}s")
    n_train = {
        label_set: overrides.get("n_train") or pool_size(LABEL_SETS[label_set], overrides.get("data_file"))
        for label_set in label_sets
    }
    return [
        tag_config(
            method,
            LABEL_SETS[label_set],
            seed,
            knn_k=knn_k,
            knn_weighted=knn_weighted,
            **{**overrides, "n_train": n_train[label_set]},
        )
        for label_set in label_sets
        for seed in range(seeds)
        for method in methods
    ]


def run_folder(out: str | os.PathLike, config) -> Path:
    """``out/<label set>/<method>/seed<k>``."""
    return Path(out) / label_set_of(config.dataset) / config.method / f"seed{config.seed}"


def run_table4(
    seeds: int = 3,
    out: str | os.PathLike = "runs/table4",
    *,
    methods: Sequence[str] = TABLE4_METHODS,
    label_sets: Sequence[str] = tuple(LABEL_SETS),
    progress: bool = True,
    jobs: int | None = None,
    knn_k: int = DEFAULT_K,
    knn_weighted: bool = True,
    **overrides,
) -> dict:
    """Train (or reuse) every run of Table 4 and write ``table4.md``, ``table4.csv``, ``table4.json`` under ``out``.

    ``overrides`` are :class:`TrainConfig` fields applied to every run that takes them (``epochs``, ``device``,
    ``data_file``...); ``jobs`` worker processes train the runs (:func:`advdist_lab.sweeps.run_configs`; default
    :func:`advdist_lab.sweeps.default_jobs`: one single-threaded worker per core on the CPU); the KNN runs take
    seconds and run in this process. Returns ``{"table", "markdown", "results", "label_sets", "methods", "seeds"}``.
    """
    from .sweeps import run_configs

    configs = plan(methods, label_sets, seeds, knn_k=knn_k, knn_weighted=knn_weighted, **overrides)
    methods, label_sets = check_methods(methods), check_label_sets(label_sets)
    out = Path(out)
    folders = [run_folder(out, config) for config in configs]
    results: list[dict | None] = [None] * len(configs)
    knn = [i for i, config in enumerate(configs) if isinstance(config, KnnConfig)]
    trained = [i for i, config in enumerate(configs) if not isinstance(config, KnnConfig)]
    for i in knn:
        folder = folders[i]
        results[i] = run_knn(configs[i], folder, resume=(folder / RESULT).exists(), progress=False)
    if trained:
        done = run_configs(
            [configs[i] for i in trained],
            [folders[i] for i in trained],
            teachers=out / "teachers",
            jobs=jobs,
            progress=progress,
            description="table 4",
        )
        for i, result in zip(trained, done, strict=True):
            results[i] = result
    table = aggregate(results)
    seed_list = list(range(seeds))
    markdown = to_markdown(table, label_sets, methods, seeds=len(seed_list))
    atomic_write_bytes(out / "table4.md", markdown.encode())
    atomic_write_bytes(out / "table4.csv", to_csv(table, label_sets, methods).encode())
    atomic_write_json(
        out / "table4.json",
        {
            "label_sets": list(label_sets),
            "methods": list(methods),
            "seeds": seed_list,
            "metrics": list(TABLE4_METRICS),
            "ours": table,
            "paper": {label_set: PAPER_TABLE4[label_set] for label_set in label_sets},
            "runs": [
                {"folder": str(folder.relative_to(out)), "config": result["config"]}
                for folder, result in zip(folders, results, strict=True)
            ],
        },
    )
    return {
        "table": table,
        "markdown": markdown,
        "results": results,
        "label_sets": label_sets,
        "methods": methods,
        "seeds": seed_list,
    }


def aggregate(results: Iterable[dict]) -> dict[str, dict[str, dict[str, dict]]]:
    """Group tag-run results by label set and method, averaging each metric of Table 4 over the seeds::

        {"popular": {"adim": {"map": {"mean": ..., "std": ..., "seeds": [0, 1, 2], "values": [...]}, ...}}}

    The std is the sample standard deviation, ``None`` for one seed. A result without a metric raises.
    """
    groups: dict[str, dict[str, list[dict]]] = {}
    for result in results:
        config = result["config"]
        groups.setdefault(label_set_of(config["dataset"]), {}).setdefault(config["method"], []).append(result)
    table: dict[str, dict[str, dict[str, dict]]] = {}
    for label_set, by_method in groups.items():
        for method, members in by_method.items():
            members = sorted(members, key=lambda r: r["config"]["seed"])
            cells = {}
            for metric in TABLE4_METRICS:
                missing = [r["config"]["seed"] for r in members if r.get(metric) is None]
                if missing:
                    raise ValueError(f"the {method} run on {label_set} with seed {missing[0]} has no {metric}")
                values = [float(r[metric]) for r in members]
                mean, std = mean_std(values)
                cells[metric] = {
                    "mean": mean,
                    "std": None if math.isnan(std) else std,
                    "seeds": [r["config"]["seed"] for r in members],
                    "values": values,
                }
            table.setdefault(label_set, {})[method] = cells
    return table


def _row_name(method: str) -> str:
    if method == KNN_METHOD:
        return "KVOTE (knn)"
    return PAPER_NAMES.get(method, method.upper())


def _paper_row(method: str) -> str:
    return PAPER_ROW.get(method, method)


def _rows(table: dict, label_set: str, methods: Sequence[str] | None) -> list[str]:
    ours = set(table.get(label_set, {}))
    if methods is not None:
        ours &= set(methods)
    paper = set(PAPER_TABLE4.get(label_set, {}))
    rows = [m for m in ROW_ORDER if m in ours or _paper_row(m) in paper]
    return rows + sorted(m for m in ours if m not in ROW_ORDER)


def _ours(cell: dict | None) -> str:
    if cell is None:
        return "-"
    if cell["std"] is None:
        return f"{cell['mean']:.4f}"
    return f"{cell['mean']:.4f} ± {cell['std']:.4f}"


def block_rows(table: dict, label_set: str, methods: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one label set's block: per metric our ``mean ± std`` and the paper's number."""
    header = ["method"]
    for metric in TABLE4_METRICS:
        header += [METRIC_NAMES[metric], f"{METRIC_NAMES[metric]} (paper)"]
    rows = []
    for method in _rows(table, label_set, methods):
        ours = table.get(label_set, {}).get(method) if methods is None or method in methods else None
        paper = PAPER_TABLE4.get(label_set, {}).get(_paper_row(method))
        cells = [_row_name(method)]
        for metric in TABLE4_METRICS:
            cells.append(_ours(ours[metric]) if ours else "-")
            cells.append(f"{paper[metric]:.4f}" if paper else "-")
        rows.append(cells)
    return header, rows


def to_markdown(
    table: dict,
    label_sets: Sequence[str] = tuple(LABEL_SETS),
    methods: Sequence[str] | None = None,
    *,
    seeds: int | None = None,
) -> str:
    """Both blocks of Table 4 in markdown: ours (``mean ± std`` over ``seeds``) beside the paper's numbers."""
    from .tables import markdown_table

    over = f" over {seeds} seed(s)" if seeds is not None else ""
    parts = [
        "TPAMI Table 4, image tag recommendation: the student's MAP, MRR, P@3, R@3, F@3 and NDCG@3 on the test "
        f"items, ours (mean ± std{over}, on YFCC-like generated data) beside the paper's (YFCC100M).\n"
    ]
    for label_set in label_sets:
        header, rows = block_rows(table, label_set, methods)
        parts.append(markdown_table(header, rows, LABEL_SET_TITLES[label_set]))
    return "\n".join(parts)


def to_csv(table: dict, label_sets: Sequence[str] = tuple(LABEL_SETS), methods: Sequence[str] | None = None) -> str:
    """One line per label set, method and metric: our mean, std and per-seed values, and the paper's number."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label_set", "method", "metric", "mean", "std", "seeds", "values", "paper"])
    for label_set in label_sets:
        for method in _rows(table, label_set, methods):
            ours = table.get(label_set, {}).get(method) if methods is None or method in methods else None
            paper = PAPER_TABLE4.get(label_set, {}).get(_paper_row(method))
            for metric in TABLE4_METRICS:
                cell = ours[metric] if ours else None
                writer.writerow(
                    [
                        label_set,
                        method,
                        metric,
                        "" if cell is None else f"{cell['mean']:.6f}",
                        "" if cell is None or cell["std"] is None else f"{cell['std']:.6f}",
                        "" if cell is None else " ".join(map(str, cell["seeds"])),
                        "" if cell is None else " ".join(f"{v:.6f}" for v in cell["values"]),
                        "" if paper is None else f"{paper[metric]:.4f}",
                    ]
                )
    return buffer.getvalue()


def _order(cells: Mapping[str, float]) -> str:
    return " > ".join(f"{name} {value:.4f}" for name, value in sorted(cells.items(), key=lambda kv: -kv[1]))


def paper_comparison(table: Mapping, metric: str = "map") -> list[str]:
    """Per label set, the methods ranked by ``metric`` (the student's mean over seeds), ours beside the paper's,
    and how far ADIM is above the image-only KNN voter in each (TPAMI Sec. 5.2: ADIM best, KVOTE last)."""
    check_choice("metric", metric, TABLE4_METRICS)
    lines = []
    for label_set, by_method in table.items():
        ours = {_row_name(m): cells[metric]["mean"] for m, cells in by_method.items()}
        paper_methods = [m for m in by_method if _paper_row(m) in PAPER_TABLE4.get(label_set, {})]
        paper = {_row_name(m): PAPER_TABLE4[label_set][_paper_row(m)][metric] for m in paper_methods}
        name = METRIC_NAMES[metric]
        lines.append(f"{LABEL_SET_TITLES[label_set]}, {name}: ours {_order(ours)}; paper {_order(paper)}.")
        if "adim" in by_method and KNN_METHOD in by_method:
            gain = by_method["adim"][metric]["mean"] / by_method[KNN_METHOD][metric]["mean"] - 1
            paper_gain = PAPER_TABLE4[label_set]["adim"][metric] / PAPER_TABLE4[label_set]["kvote"][metric] - 1
            lines.append(
                f"{LABEL_SET_TITLES[label_set]}: ADIM's {name} is {100 * gain:+.1f}% against KNN voting "
                f"(paper: {100 * paper_gain:+.1f}% against KVOTE)."
            )
    return lines


def curves(results: Iterable[Mapping], label_set: str, key: str = "student_p@3") -> dict[str, list[list[float]]]:
    """``{METHOD: [one list of per-epoch values per seed]}`` of the trained runs of ``label_set`` (TPAMI Fig. 9
    plots the student's P@3 against the epochs on the most popular tags); KNN has no epochs and is left out."""
    check_label_sets([label_set])
    out: dict[str, list[list[float]]] = {}
    for result in results:
        config = result["config"]
        if config["method"] == KNN_METHOD or label_set_of(config["dataset"]) != label_set:
            continue
        out.setdefault(config["method"].upper(), []).append([float(entry[key]) for entry in result["history"]])
    return out


def curve_summary(curves_by_method: Mapping[str, Sequence[Sequence[float]]]) -> list[dict]:
    """Per method (the mean curve over seeds): the best value, its epoch, the last value and the fall from the
    best to the last (TPAMI Fig. 9: ADIM best in fewer epochs; NGAN unstable)."""
    rows = []
    for method, runs in curves_by_method.items():
        length = min(len(run) for run in runs)
        mean = [sum(run[i] for run in runs) / len(runs) for i in range(length)]
        best = max(range(length), key=lambda i: mean[i])
        rows.append(
            {
                "method": method,
                "best": mean[best],
                "best_epoch": best + 1,
                "last": mean[-1],
                "fall": mean[best] - mean[-1],
            }
        )
    return rows
