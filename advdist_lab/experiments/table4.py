"""Image tag recommendation, TPAMI Table 4: the paper's numbers, ours aggregated over seeds, and the two side by side.

TPAMI (``000_...``) Sec. 5.2 compares the students of NGAN, ADIB and ADIM with KVOTE (KNN tag voting, reference
[30]), TPROP, TFEAT and REXMP on YFCC100M, with the 200 most popular tags and with 200 randomly selected tags, in
MAP, MRR, P@3, R@3, F@3 and NDCG@3 (Table 4; KDGAN ``003_...`` Table 2 reports the same runs, KDGAN being ADIB).
The runs themselves are :mod:`advdist_lab.experiments.table4_runs` (:func:`~advdist_lab.experiments.table4_runs.
run_table4`); this module holds the paper's table, :func:`aggregate` of run results, the layout
(:func:`to_markdown`, :func:`to_csv`), the computed comparison with the paper (:func:`paper_comparison`) and the
curves of TPAMI Fig. 9 (:func:`curves`, :func:`curve_summary`, :func:`curve_summary_markdown`, :func:`curve_verdict`).

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
from collections.abc import Iterable, Mapping, Sequence

from advdist_lab.experiments.curves import curves_by_method, mean_curve
from advdist_lab.experiments.tables import format_cell, markdown_table, mean_std
from advdist_lab.hparams import check_choice
from advdist_lab.methods.config import METHODS
from advdist_lab.methods.knn import KNN_METHOD, LABEL_SETS

TABLE4_METRICS = ("map", "mrr", "p@3", "r@3", "f@3", "ndcg@3")
"""The columns of TPAMI Table 4, in its order, as keys of ``result.json``."""

METRIC_NAMES = {"map": "MAP", "mrr": "MRR", "p@3": "P@3", "r@3": "R@3", "f@3": "F@3", "ndcg@3": "NDCG@3"}

LABEL_SET_TITLES = {"popular": "Most Popular Tags", "random": "Randomly Selected Tags"}
"""The blocks of TPAMI Table 4."""

TABLE4_METHODS = (KNN_METHOD, "ngan", "adib", "adim")
"""The rows of TPAMI Table 4 that this project implements (``knn`` is the paper's KVOTE): the default methods."""

ALL_METHODS = (KNN_METHOD, *METHODS)
"""Every method ``table4`` and ``advdist-lab tags`` accept."""

TPAMI_TABLE4: dict[str, dict[str, dict[str, float]]] = {
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

TPAMI_TABLE4_METHODS = ("kvote", "tprop", "tfeat", "rexmp", "ngan", "adib", "adim")
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
    paper = set(TPAMI_TABLE4.get(label_set, {}))
    rows = [m for m in ROW_ORDER if m in ours or _paper_row(m) in paper]
    return rows + sorted(m for m in ours if m not in ROW_ORDER)


def _ours(cell: dict | None) -> str:
    if cell is None:
        return "-"
    return format_cell(cell["mean"], cell["std"], digits=4)


def block_rows(table: dict, label_set: str, methods: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one label set's block: per metric our ``mean ± std`` and the paper's number."""
    header = ["method"]
    for metric in TABLE4_METRICS:
        header += [METRIC_NAMES[metric], f"{METRIC_NAMES[metric]} (paper)"]
    rows = []
    for method in _rows(table, label_set, methods):
        ours = table.get(label_set, {}).get(method) if methods is None or method in methods else None
        paper = TPAMI_TABLE4.get(label_set, {}).get(_paper_row(method))
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
            paper = TPAMI_TABLE4.get(label_set, {}).get(_paper_row(method))
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
        paper_methods = [m for m in by_method if _paper_row(m) in TPAMI_TABLE4.get(label_set, {})]
        paper = {_row_name(m): TPAMI_TABLE4[label_set][_paper_row(m)][metric] for m in paper_methods}
        name = METRIC_NAMES[metric]
        lines.append(f"{LABEL_SET_TITLES[label_set]}, {name}: ours {_order(ours)}; paper {_order(paper)}.")
        if "adim" in by_method and KNN_METHOD in by_method:
            gain = by_method["adim"][metric]["mean"] / by_method[KNN_METHOD][metric]["mean"] - 1
            paper_gain = TPAMI_TABLE4[label_set]["adim"][metric] / TPAMI_TABLE4[label_set]["kvote"][metric] - 1
            lines.append(
                f"{LABEL_SET_TITLES[label_set]}: ADIM's {name} is {100 * gain:+.1f}% against KNN voting "
                f"(paper: {100 * paper_gain:+.1f}% against KVOTE)."
            )
    return lines


def curves(results: Iterable[Mapping], label_set: str, key: str = "student_p@3") -> dict[str, list[list[float]]]:
    """``{METHOD: [one list of per-epoch values per seed]}`` of the trained runs of ``label_set`` (TPAMI Fig. 9
    plots the student's P@3 against the epochs on the most popular tags); KNN has no epochs and is left out."""
    check_label_sets([label_set])
    trained = [
        result
        for result in results
        if result["config"]["method"] != KNN_METHOD and label_set_of(result["config"]["dataset"]) == label_set
    ]
    return curves_by_method(trained, key)


def curve_summary(curves_by_method: Mapping[str, Sequence[Sequence[float]]]) -> list[dict]:
    """Per method (the mean curve over seeds): the best value, its epoch, the last value and the fall from the
    best to the last (TPAMI Fig. 9: ADIM best in fewer epochs; NGAN unstable)."""
    rows = []
    for method, runs in curves_by_method.items():
        mean = mean_curve(runs)
        best = max(range(len(mean)), key=lambda i: mean[i])
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


def curve_summary_markdown(rows: Sequence[Mapping], name: str = "P@3") -> str:
    """:func:`curve_summary`'s rows as a markdown table (``name`` is the metric of the curves)."""
    return markdown_table(
        ["method", f"best {name}", "at epoch", f"last {name}", "fall from the best"],
        [[r["method"], r["best"], r["best_epoch"], r["last"], r["fall"]] for r in rows],
    )


def curve_verdict(rows: Sequence[Mapping], name: str = "P@3") -> str:
    """One line on :func:`curve_summary`'s rows: the best student (TPAMI Fig. 9: ADIM) and the largest fall from
    a method's best to its last epoch (the paper: NGAN is unstable)."""
    if not rows:
        raise ValueError("rows must hold at least one method")
    best = max(rows, key=lambda r: r["best"])
    unstable = max(rows, key=lambda r: r["fall"])
    return (
        f"ours: the best student is {best['method']} ({name} {best['best']:.4f} at epoch {best['best_epoch']}); "
        f"the largest fall from its best is {unstable['method']}'s ({unstable['fall']:.4f})"
    )
