"""Deep model compression (TPAMI Sec. 5.1, Table 1 and Fig. 4), read off our runs: the settings each method
trains with, the ranking of the methods beside the paper's, the teachers, and when the Fig. 4 curves settle.

Notebook 04 prints these; every function takes the results or the table of :mod:`advdist_lab.experiments.table1`
(``{method: {n: {"mean", "std", "seeds", "values"}}}``, accuracies in percent) and returns numbers or text.

* :func:`settings_markdown` and :func:`method_weights`: the budget, pretraining, batch and weights of each method
  as it trains here (the resolved :class:`~advdist_lab.methods.TrainConfig`).
* :func:`ranking`, :func:`pairs_in_order`, :func:`nearest_size`, :func:`ranking_commentary`: which method ranks
  first at each ``n``, whether its lead exceeds the spread over seeds, ADIM against the best KD baseline and
  NGAN, and how many pairs of methods are ordered as in the paper's Table 1.
* :func:`teacher_results`, :func:`teacher_gaps`: the teachers at the end of each method (TPAMI Eq. 1's
  pretrained teacher as the row ``pretrained``).
* :func:`settling_summary`, :func:`fig4_commentary`: Fig. 4's curves, their final value, settling epoch and
  wobble (:mod:`advdist_lab.experiments.curves`), and the Gumbel-Softmax trick (ADIM against ADIM-NGS).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from advdist_lab.experiments.curves import mean_curve, settling_epoch, wobble
from advdist_lab.experiments.table1 import TPAMI_TABLE1, paper_table
from advdist_lab.experiments.tables import format_cell
from advdist_lab.hparams import check_positive_int
from advdist_lab.methods.config import TrainConfig, applicable

__all__ = [
    "FIG4_METHODS",
    "KD_METHODS",
    "fig4_commentary",
    "method_weights",
    "nearest_size",
    "pairs_in_order",
    "paper_dataset",
    "ranking",
    "ranking_commentary",
    "settings_markdown",
    "settling_summary",
    "teacher_gaps",
    "teacher_results",
    "temperature_summary",
]

KD_METHODS = ("codis", "distn", "noisy", "mimic")
"""The knowledge-distillation baselines of TPAMI Table 1, in its order."""

FIG4_METHODS = ("ngan", "adib", "adim-ngs", "adim")
"""The methods of TPAMI Fig. 4 (the student's test accuracy against the epoch, 100 MNIST images)."""

TEACHER_METHODS = ("codis", "adib", "adim")
"""The methods that train their teacher in the main loop (MIMIC, DISTN and NOISY keep Eq. 1's teacher frozen)."""


def method_weights(config: TrainConfig) -> str:
    """The method-specific weights of ``config`` (resolved first) as text: ``"T = 4.0, alpha = 0.9"`` for DISTN,
    ``"omega = (0.33, 0.33, 0.33), nu = 1.0, ..."`` for ADIM (Eq. 6); empty for the methods without weights."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig (got {type(config).__name__})")
    c = config.resolved()
    if c.method == "distn":
        return f"T = {c.distn_temperature}, alpha = {c.distn_alpha}"
    if c.method == "noisy":
        return f"sigma = {c.noisy_sigma}"
    if c.method == "codis":
        return f"w = {c.codis_weight}"
    distillation = f"nu = {c.nu}, mu = {c.mu}, upsilon = {c.upsilon}"
    if c.method == "adib":
        return f"omega_s = {c.omega_s:.2f}, omega_t = {c.omega_t:.2f}, {distillation}"
    if c.method in ("adim", "adim-ngs"):
        return f"omega = ({c.omega_r:.2f}, {c.omega_s:.2f}, {c.omega_t:.2f}), {distillation}"
    return ""


def settings_markdown(methods: Sequence[str], dataset: str, n_train: int, **overrides) -> str:
    """A markdown table of what each method trains with here: the passes per epoch ``k_d, k_t, k_s``
    (Algorithm 1), the pretraining epochs of teacher and student, the batch size, the gradient estimator and
    :func:`method_weights`. ``overrides`` are :class:`TrainConfig` fields, each applied to the methods that take
    it, as in :func:`advdist_lab.experiments.table1.plan` (validated by :class:`TrainConfig`)."""
    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods must be a non-empty sequence of method names (got {methods!r})")
    check_positive_int("n_train", n_train)
    rows = [
        "| method | k_d, k_t, k_s | pretraining epochs (T, S) | batch | estimator | weights |",
        "|---|---|---|---|---|---|",
    ]
    for method in methods:
        c = TrainConfig(method=method, dataset=dataset, n_train=n_train, **applicable(method, overrides)).resolved()
        teacher = c.teacher_pretrain_epochs if c.has_teacher and method != "codis" else 0
        rows.append(
            f"| {method.upper()} | {c.k_d}, {c.k_t}, {c.k_s} | {teacher}, {c.student_pretrain_epochs} "
            f"| {c.batch_size} | {c.estimator or ''} | {method_weights(c)} |"
        )
    return "\n".join(rows)


def temperature_summary(config: TrainConfig) -> str:
    """The Gumbel-Softmax temperature (Eq. 10) of ``config``'s schedule at its first and last epoch."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig (got {type(config).__name__})")
    epochs = check_positive_int("epochs", config.epochs)
    schedule = config.schedule
    first, last = schedule.at(0, epochs), schedule.at(epochs - 1, epochs)
    return f"Gumbel-Softmax temperature by epoch: {first:.2f} at epoch 1 ... {last:.2f} at epoch {epochs}"


# --------------------------------------------------------------------------------------------------------
# Table 1: the ranking
# --------------------------------------------------------------------------------------------------------


def ranking(table: Mapping[str, Mapping[int, Mapping]], n: int) -> list[str]:
    """The methods that have a cell at ``n``, by decreasing mean accuracy (ties keep the table's order)."""
    ranked = sorted((m for m in table if n in table[m]), key=lambda m: -table[m][n]["mean"])
    if not ranked:
        raise ValueError(f"no method of the table has a cell at n = {n}")
    return ranked


def pairs_in_order(order: Sequence[str], reference: Sequence[str]) -> tuple[int, int]:
    """``(agreeing, total)``: of the pairs of methods in ``order``, how many ``reference`` orders the same way."""
    missing = [m for m in order if m not in reference]
    if missing:
        raise ValueError(f"the reference ranking lacks {', '.join(missing)}")
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    return sum(reference.index(a) < reference.index(b) for a, b in pairs), len(pairs)


def nearest_size(sizes: Iterable[int], n: int) -> int:
    """The size in ``sizes`` nearest to ``n`` on a logarithmic scale (digits' n = 500 -> MNIST's 1,000)."""
    check_positive_int("n", n)
    sizes = list(sizes)
    if not sizes:
        raise ValueError("sizes must hold at least one training-set size")
    return min(sizes, key=lambda p: abs(math.log(p / n)))


def paper_dataset(dataset: str) -> str:
    """The dataset of TPAMI Table 1 to compare ``dataset`` with: itself if the paper has it, else MNIST."""
    return dataset if dataset in TPAMI_TABLE1 else "mnist"


def _cell(table: Mapping, method: str, n: int) -> str:
    cell = table[method][n]
    return f"{method.upper()} {format_cell(cell['mean'], cell['std'])}"


def ranking_commentary(table: Mapping[str, Mapping[int, Mapping]], sizes: Sequence[int], dataset: str) -> list[str]:
    """For each ``n`` of ``sizes``, lines that say from the numbers: which method ranks first and by how much,
    whether that lead exceeds the larger std over seeds of the two, our order, ADIM minus the best KD baseline and
    minus NGAN (where the table has them), and how many pairs are ordered as in TPAMI Table 1 at the nearest
    ``n`` of :func:`paper_dataset`."""
    if isinstance(sizes, int) or not sizes:
        raise ValueError(f"sizes must be a non-empty sequence of training-set sizes (got {sizes!r})")
    reference = paper_dataset(dataset)
    paper = paper_table(reference)
    paper_sizes = sorted(next(iter(paper.values())))
    lines = []
    for n in sizes:
        order = ranking(table, n)
        if len(order) < 2:
            raise ValueError(f"ranking needs at least two methods at n = {n} (got {', '.join(order)})")
        first, second = order[0], order[1]
        lead = table[first][n]["mean"] - table[second][n]["mean"]
        spread = max(table[first][n]["std"], table[second][n]["std"])
        if math.isnan(spread):
            verdict = "one seed: no spread measured"
        else:
            versus = "larger" if lead > spread else "not larger"
            verdict = f"{versus} than the larger std over seeds of the two ({spread:.2f})"
        lines.append(
            f"n = {n}: first {_cell(table, first, n)}, ahead of {_cell(table, second, n)} by {lead:.2f} points, "
            f"{verdict}"
        )
        lines.append("    our order:  " + " > ".join(m.upper() for m in order))
        kd = [m for m in KD_METHODS if m in order]
        if "adim" in order and kd and "ngan" in order:
            best_kd = max(kd, key=lambda m: table[m][n]["mean"])
            adim = table["adim"][n]["mean"]
            lines.append(
                f"    ADIM - best KD baseline ({best_kd.upper()}): {adim - table[best_kd][n]['mean']:+.2f}"
                f" points; ADIM - NGAN: {adim - table['ngan'][n]['mean']:+.2f} points"
            )
        column = nearest_size(paper_sizes, n)
        theirs = ranking(paper, column)
        agree, total = pairs_in_order([m for m in order if m in theirs], theirs)
        lines.append(f"    the paper's order on {reference} at n = {column}: " + " > ".join(m.upper() for m in theirs))
        lines.append(f"    pairs ordered as in the paper: {agree} of {total}")
    return lines


# --------------------------------------------------------------------------------------------------------
# The teachers
# --------------------------------------------------------------------------------------------------------


def teacher_results(results: Iterable[Mapping]) -> list[dict]:
    """Run results recast so that :func:`advdist_lab.experiments.table1.aggregate` tabulates the teachers: the
    final teacher of CODIS, ADIB and ADIM under its method, and the pretrained teacher of Eq. 1 (read from the
    MIMIC runs, which distil from it frozen) under ``pretrained``."""
    results = list(results)
    recast = [
        {**r, "test_accuracy": r["teacher_test_accuracy"]}
        for r in results
        if "teacher_test_accuracy" in r and r["config"]["method"] in TEACHER_METHODS
    ]
    recast += [
        {
            **r,
            "config": {**r["config"], "method": "pretrained"},
            "test_accuracy": r["pretraining"]["teacher"]["test_accuracy"],
        }
        for r in results
        if r["config"]["method"] == "mimic"
    ]
    return recast


def teacher_gaps(teachers: Mapping[str, Mapping[int, Mapping]], table: Mapping, sizes: Sequence[int]) -> list[str]:
    """Per ``n``: the pretrained teacher's accuracy minus the ADIM student's, in points (a student above its
    teacher is distillation doing better than copying)."""
    for name, source in (("pretrained", teachers), ("adim", table)):
        missing = [n for n in sizes if n not in source.get(name, {})]
        if missing:
            raise ValueError(f"{name} has no cell at n = {missing[0]}")
    return [
        f"n = {n}: pretrained teacher minus ADIM student: "
        f"{teachers['pretrained'][n]['mean'] - table['adim'][n]['mean']:+.2f} points"
        for n in sizes
    ]


# --------------------------------------------------------------------------------------------------------
# Fig. 4: the curves
# --------------------------------------------------------------------------------------------------------


def settling_summary(curves: Mapping[str, Sequence[Sequence[float]]], tolerance: float = 0.01) -> dict[str, dict]:
    """Per method (``{METHOD: [one curve per seed]}``, as :func:`advdist_lab.experiments.curves.curves_by_method`
    returns): ``{"final", "settles", "wobble"}`` of the mean curve: its last value, the first epoch from which it
    stays within ``tolerance`` of its final level (``None``: never) and its std over the second half."""
    summary = {}
    for method, runs in curves.items():
        values = mean_curve(runs)
        summary[method] = {
            "final": values[-1],
            "settles": settling_epoch(values, tolerance),
            "wobble": wobble(values),
            "epochs": len(values),
        }
    return summary


def _settles(entry: Mapping) -> str:
    if entry["settles"]:
        return f"settles at epoch {entry['settles']} of {entry['epochs']}"
    return f"does not settle within {entry['epochs']} epochs"


def fig4_commentary(summary: Mapping[str, Mapping]) -> list[str]:
    """Lines on :func:`settling_summary`: each method's final accuracy, settling epoch and wobble; the
    Gumbel-Softmax trick (ADIM against ADIM-NGS, where both are there) beside the paper's +1.50 points and about
    50% fewer epochs (MNIST, n = 100); and the method that wobbles most (the paper: NGAN is the least stable)."""
    if not summary:
        raise ValueError("summary must hold at least one method")
    lines = [
        f"{method:>8}: final {100 * s['final']:6.2f} %, {_settles(s)}, wobble {100 * s['wobble']:.2f} points"
        for method, s in summary.items()
    ]
    if "ADIM" in summary and "ADIM-NGS" in summary:
        with_gs, without_gs = summary["ADIM"], summary["ADIM-NGS"]
        lines.append(
            f"Gumbel-Softmax (ADIM vs ADIM-NGS): final accuracy {100 * (with_gs['final'] - without_gs['final']):+.2f} "
            f"points; ADIM {_settles(with_gs)}, ADIM-NGS {_settles(without_gs)} "
            "(the paper on MNIST n = 100: +1.50 points and about 50% fewer epochs)"
        )
    noisiest = max(summary, key=lambda m: summary[m]["wobble"])
    lines.append(f"largest wobble after the first half: {noisiest} (the paper: NGAN is the least stable)")
    return lines
