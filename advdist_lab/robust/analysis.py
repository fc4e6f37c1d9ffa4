"""What the robust-distillation runs show beside DFARD's tables (``001_...``) and DERD's supplement (``002_...``):
the verdicts notebooks 08 and 09 print, computed from run results.

Summaries are :func:`advdist_lab.robust.experiments.summarize`'s ``{row: {column: (mean, std)}}`` in percent;
results are the ``result.json`` dicts of :func:`~advdist_lab.robust.dfard.run_dfard` and
:func:`~advdist_lab.robust.derd.run_derd` (accuracies as fractions).

DFARD (notebook 08):

* :func:`reference_rows`, :func:`undefended_comparison`: the robust teacher and an undefended student trained on
  the real data, against which the data-free student is measured.
* :func:`selection_line`: how a run's student was chosen (the epoch, on the validation split) and tested (once),
  for notebooks 08 and 09.
* :func:`adaptive_terms_line`: ITA's temperature (Eq. 4) and AGB's lambda (Eq. 6-7) from the first to the last
  epoch.
* :func:`dfard_table`, :func:`dfard_table_markdown`, :func:`table1_bars`: DFARD's Tables 1, 3 and 4, ours beside
  the paper's; :func:`summary_average` and :func:`dfard_claims`: which of the paper's comparisons reproduce.

DERD (notebook 09):

* :func:`derd_stage_lines`: the two stages of DERD in the run's history.
* :func:`supplement_tables_markdown`, :func:`supplement_average`, :func:`derd_claims`: the supplement's Tables 2
  and 3 beside ours, and its three claims (two experts beat DFARD, the natural teacher helps, the generator beats
  model inversion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from advdist_lab.hparams import check_positive_int
from advdist_lab.robust.attacks.protocol import ATTACK_LABELS
from advdist_lab.robust.dfard import TABLE3_ROWS
from advdist_lab.robust.experiments import TABLE1_ROWS, TABLE4_ROWS, average_over_attacks, comparison_markdown
from advdist_lab.robust.paper_tables import (
    DERD_COLUMNS,
    DERD_TABLE2,
    DERD_TABLE3,
    DFARD_AVERAGE_GAINS,
    DFARD_COLUMNS,
    DFARD_TABLE1,
    DFARD_TABLE3,
    DFARD_TABLE4,
    DFARD_TABLE4_GAINS,
)
from advdist_lab.robust.validation import VALIDATION_PREFIX

__all__ = [
    "DERD_CLAIMS",
    "adaptive_terms_line",
    "common_columns",
    "derd_claims",
    "derd_stage_lines",
    "dfard_claims",
    "dfard_table",
    "dfard_table_markdown",
    "reference_rows",
    "summary_average",
    "supplement_average",
    "supplement_tables_markdown",
    "table1_bars",
    "undefended_comparison",
]

SETTING = ("RN-18", "CIFAR-10")
"""The setting of DFARD Table 1 that Tables 3 and 4 share and that we compare with (ResNet-18 on CIFAR-10)."""


# --------------------------------------------------------------------------------------------------------
# DFARD (notebook 08)
# --------------------------------------------------------------------------------------------------------


def reference_rows(teacher: Mapping | None, undefended: Mapping) -> dict[str, Mapping]:
    """The rows of the reference table: the robust teacher (named after its training method, when this
    notebook trained it) and the undefended student trained naturally on the real data."""
    rows: dict[str, Mapping] = {}
    if teacher is not None:
        name = "robust teacher (PGD-AT)" if teacher["config"]["method"] == "pgd-at" else "robust teacher"
        rows[name] = teacher
    rows["undefended student (real data)"] = undefended
    return rows


def undefended_comparison(dfard: Mapping, undefended: Mapping) -> str:
    """One line: the data-free DFARD student under PGD_S against the undefended student's, the clean accuracies
    (test split), the best epoch (chosen on the validation split) and the wall time."""
    gain = 100 * (dfard["pgd_s"] - undefended["pgd_s"])
    return (
        f"Under PGD_S the data-free DFARD student keeps {100 * dfard['pgd_s']:.1f}% against the undefended student's "
        f"{100 * undefended['pgd_s']:.1f}%: {gain:+.1f} points "
        f"({'the robust student wins' if gain > 0 else 'NOT better at this scale'}); clean accuracy "
        f"{100 * dfard['clean']:.1f}% against {100 * undefended['clean']:.1f}%. Best epoch {dfard['best_epoch']} of "
        f"{len(dfard['history'])} (chosen on the validation split); {dfard['wall_seconds']:.0f} s."
    )


def selection_line(label: str, result: Mapping) -> str:
    """One line on how ``result``'s student (a DFARD or DERD ``result.json``) was chosen and tested: the epoch
    picked on the validation split, its validation accuracy, the split's size, how often the test split was read
    and the chosen student's test accuracy under the same attack, with the validation-minus-test gap."""
    selection = result.get("selection")
    if not isinstance(selection, Mapping) or selection.get("split") != "validation":
        raise ValueError(f"the result of {label} has no validation selection (a run written before val_size?)")
    attack = selection["accuracy"].removeprefix(VALIDATION_PREFIX)
    name = ATTACK_LABELS.get(attack, attack)
    line = (
        f"{label}: epoch {result['best_epoch']} of {len(result['history'])} chosen on validation {name} "
        f"{100 * selection['best']:.1f}% ({selection['val_size']} images held out from the training split, "
        f"{selection['evaluated_each_epoch']} evaluated after every epoch); the test split read "
        + ("once" if selection["test_evaluations"] == 1 else f"{selection['test_evaluations']} times")
    )
    if result.get(attack) is None:
        return line + (
            ": no test accuracy (the run stopped)."
            if not selection["test_evaluations"]
            else f", {name} not among its final attacks."
        )
    gap = 100 * (selection["best"] - result[attack])
    return line + (
        f", by the chosen student on {result['evaluated_on']} images: {name} {100 * result[attack]:.1f}% "
        f"(validation minus test {gap:+.1f} points)."
    )


def adaptive_terms_line(history: Sequence[Mapping], num_classes: int = 10) -> str:
    """ITA's temperature and AGB's lambda from the first epoch of ``history`` to the last, and whether the
    temperature falls as the paper describes (an easy-to-hard course); lambda tends to ``1 / num_classes``."""
    check_positive_int("num_classes", num_classes)
    if not history:
        raise ValueError("history must hold at least one epoch")
    first, last = history[0], history[-1]
    direction = (
        "falls, the easy-to-hard course the paper describes"
        if last["tau"] < first["tau"]
        else "does NOT fall as the paper describes: the generator's adversarial term keeps finding images on which "
        "the student disagrees with the teacher as fast as the student learns"
    )
    return (
        f"tau: {first['tau']:.2f} in epoch 1 -> {last['tau']:.2f} in epoch {last['epoch']} ({direction}); lambda: "
        f"{first['lambda']:.3f} -> {last['lambda']:.3f} (1/C = {1 / num_classes:.3f}); teacher confidence on "
        f"generated images: {first['teacher_confidence']:.3f} -> {last['teacher_confidence']:.3f}"
    )


def dfard_table(number: str) -> tuple[dict, dict]:
    """``(rows, paper)`` of DFARD Table ``"1"``, ``"3"`` or ``"4"``: our rows (label -> DfardConfig overrides) and
    the paper's numbers (ResNet-18 on CIFAR-10)."""
    tables = {
        "1": (TABLE1_ROWS, DFARD_TABLE1[SETTING]),
        "3": (TABLE3_ROWS, DFARD_TABLE3),
        "4": (TABLE4_ROWS, DFARD_TABLE4),
    }
    if number not in tables:
        raise ValueError(f"DFARD's tables reproduced here are {', '.join(tables)} (got {number!r})")
    return tables[number]


def common_columns(summary: Mapping[str, Mapping], columns: Sequence[str] = DFARD_COLUMNS) -> tuple[str, ...]:
    """The columns of ``columns`` that every row of ``summary`` has (the attacks that were run)."""
    return tuple(c for c in columns if all(c in row for row in summary.values()))


def dfard_table_markdown(number: str, summary: Mapping[str, Mapping]) -> str:
    """DFARD Table ``number``: a title and ours (mean ± std, %) beside the paper's numbers in parentheses."""
    _, paper = dfard_table(number)
    title = f"**DFARD Table {number}: ours (mean ± std, %) and (the paper's, CIFAR-10)**"
    return title + "\n\n" + comparison_markdown(summary, paper, common_columns(summary))


def table1_bars(summary: Mapping[str, Mapping]) -> tuple[dict, dict]:
    """``(ours, paper)`` of DFARD Table 1 for a bar chart: ``{row: {column: percent}}``, ours the means over
    seeds, the paper's rows limited to ours."""
    ours = {row: {c: v[0] for c, v in values.items() if c in DFARD_COLUMNS} for row, values in summary.items()}
    paper = {
        row: dict(zip(DFARD_COLUMNS, values, strict=True))
        for row, values in DFARD_TABLE1[SETTING].items()
        if row in ours
    }
    return ours, paper


def summary_average(summary: Mapping[str, Mapping], row: str) -> float:
    """The mean over the attacks (Clean excluded) of ``row``'s means: DFARD's "average robustness", in percent."""
    if row not in summary:
        raise ValueError(f"the summary has no row {row!r} (it has {', '.join(summary)})")
    return average_over_attacks({c: v[0] for c, v in summary[row].items()})


def dfard_claims(summaries: Mapping[str, Mapping[str, Mapping]]) -> list[str]:
    """The paper's comparisons checked against ours, one markdown bullet each, for the tables in ``summaries``
    (``{"1": summary, "3": ..., "4": ...}``): Table 3's ablation rows against Vanilla, Table 1's Ours* against the
    best other generator loss, and Table 4's baselines with ITA against the same baseline in Table 1."""
    lines = []
    if "3" in summaries:
        ours, paper = summaries["3"], {k: dict(zip(DFARD_COLUMNS, v, strict=True)) for k, v in DFARD_TABLE3.items()}
        for row in ("w/ ITA (G)", "w/ ITA (GD)", "w/ AGB", "Ours"):
            ours_gain = summary_average(ours, row) - summary_average(ours, "Vanilla")
            paper_gain = average_over_attacks(paper[row]) - average_over_attacks(paper["Vanilla"])
            verdict = "same direction as the paper" if ours_gain * paper_gain > 0 else "does NOT reproduce"
            lines.append(
                f"* Table 3, {row} vs Vanilla, average robust accuracy: ours {ours_gain:+.2f} points, paper "
                f"{paper_gain:+.2f}: {verdict}."
            )
    if "1" in summaries:
        ours = summaries["1"]
        others = {row: summary_average(ours, row) for row in ours if row not in ("Ours", "Ours*")}
        if not others:
            raise ValueError("Table 1 needs a row besides Ours and Ours* to compare with")
        best = max(others, key=others.get)
        gain = summary_average(ours, "Ours*") - others[best]
        lines.append(
            f"* Table 1: Ours* vs the best other generator loss ({best}), average robust accuracy: ours {gain:+.2f} "
            f"points, paper {DFARD_AVERAGE_GAINS[SETTING]:+.2f} (over DeepInv)."
        )
    if "4" in summaries and "1" in summaries:
        for row in summaries["4"]:
            base_row = row.removesuffix("+ITA")
            ours_gain = summary_average(summaries["4"], row) - summary_average(summaries["1"], base_row)
            gains = DFARD_TABLE4_GAINS[row]
            lines.append(
                f"* Table 4, {row} vs {base_row}, average robust accuracy: ours {ours_gain:+.2f} points; the paper "
                f"reports +{gains['autoattack']:.2f} on AA and +{gains['cw_inf']:.2f} on CW_inf."
            )
    return lines


# --------------------------------------------------------------------------------------------------------
# DERD (notebook 09)
# --------------------------------------------------------------------------------------------------------

DERD_CLAIMS = (
    ("DERD (ours)", "DFARD", "2", "two experts beat DFARD's single teacher"),
    ("DERD (ours)", "w/o T_nat", "3", "the natural teacher helps"),
    ("DERD (ours)", "DERD_inv", "2", "the generator beats model inversion"),
)
"""The supplement's claims as ``(better row, worse row, its table, claim)``."""

_SUPPLEMENT = {"2": DERD_TABLE2, "3": DERD_TABLE3}


def derd_stage_lines(results: Mapping[str, Mapping], labels: Sequence[str] = ("DERD (ours)", "w/o T_nat")) -> list[str]:
    """The stages in ``results`` (``{label: result}``, one seed): where DERD's stage I ends, each run's wall
    time, and for each of ``labels`` the clean and PGD_T accuracy on the validation split (the history's
    ``val_clean`` and ``val_pgd_t``) at the end of stage I and of stage II."""
    derd = results.get("DERD (ours)")
    if derd is None:
        raise ValueError("results must hold the row 'DERD (ours)'")
    stage1 = derd["stage1_epochs"]
    lines = [
        f"DERD: stage I for epochs 1-{stage1}, stage II for {stage1 + 1}-{len(derd['history'])}; "
        + "; ".join(f"{label} {r['wall_seconds']:.0f} s" for label, r in results.items())
    ]
    for label in labels:
        history = results[label]["history"] if label in results else []
        by_stage = {s: [e for e in history if e.get("stage") == s] for s in (1, 2)}
        if by_stage[1] and by_stage[2]:
            one, two = by_stage[1][-1], by_stage[2][-1]
            lines.append(
                f"{label}: end of stage I clean {100 * one['val_clean']:.1f}%, PGD_T {100 * one['val_pgd_t']:.1f}%; "
                f"end of stage II clean {100 * two['val_clean']:.1f}%, PGD_T {100 * two['val_pgd_t']:.1f}% "
                "(validation split)"
            )
    return lines


def supplement_tables_markdown(summary: Mapping[str, Mapping]) -> list[str]:
    """The supplement's Tables 2 and 3, each with a title: our rows that the table has (mean ± std, %), the
    supplement's numbers in parentheses, and its "Ave" over all the columns we ran, Clean included."""
    columns = common_columns(summary)
    blocks = []
    for number, paper in _SUPPLEMENT.items():
        rows = {label: summary[label] for label in summary if label in paper}
        blocks.append(
            f"**DERD supplement Table {number}: ours (mean ± std, %) and (the supplement's)**\n\n"
            + comparison_markdown(rows, paper, columns, average_of=columns)
        )
    return blocks


def supplement_average(summary: Mapping[str, Mapping], label: str, paper: Mapping | None = None) -> float:
    """The mean over the columns every row of ``summary`` has (:func:`common_columns`), Clean included as the
    supplement's "Ave": ours (means over seeds) or, with ``paper``, the supplement's row ``label``."""
    columns = common_columns(summary)
    if not columns:
        raise ValueError("the summary has no column that every row has")
    if paper is not None:
        if label not in paper:
            raise ValueError(f"the supplement's table has no row {label!r}")
        return float(np.mean([paper[label][DERD_COLUMNS.index(c)] for c in columns]))
    if label not in summary:
        raise ValueError(f"the summary has no row {label!r} (it has {', '.join(summary)})")
    return float(np.mean([summary[label][c][0] for c in columns]))


def derd_claims(summary: Mapping[str, Mapping]) -> list[str]:
    """Each claim of :data:`DERD_CLAIMS` checked against ours: the gap in the average over the columns we ran,
    ours beside the supplement's, one markdown bullet each."""
    columns = common_columns(summary)
    lines = []
    for better, worse, number, claim in DERD_CLAIMS:
        paper = _SUPPLEMENT[number]
        ours_gap = supplement_average(summary, better) - supplement_average(summary, worse)
        paper_gap = supplement_average(summary, better, paper) - supplement_average(summary, worse, paper)
        verdict = "reproduces" if ours_gap > 0 else "does NOT reproduce"
        lines.append(
            f"* {claim}: {better} minus {worse}, Ave over {len(columns)} columns: ours {ours_gap:+.2f} points, "
            f"supplement {paper_gap:+.2f}: {verdict} at our scale."
        )
    return lines
