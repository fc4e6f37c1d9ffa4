"""Tests of :mod:`advdist_lab.robust.analysis`: the verdicts notebooks 08 (DFARD) and 09 (DERD) print, on small
hand-made summaries and results whose answers are worked out in the comments."""

from __future__ import annotations

import re

import pytest

from advdist_lab.robust import analysis
from advdist_lab.robust.paper_tables import DERD_TABLE2, DFARD_COLUMNS, DFARD_TABLE1, DFARD_TABLE3


def summary_row(clean: float, attack: float, std: float = 0.0) -> dict:
    """A summary row (percent): ``clean`` and the same accuracy ``attack`` under each of the five attacks."""
    return {"clean": (clean, std), **{c: (attack, std) for c in DFARD_COLUMNS[1:]}, "best_epoch": (3.0, 0.0)}


def test_reference_rows_and_the_undefended_comparison() -> None:
    teacher = {"config": {"method": "pgd-at"}}
    undefended = {"pgd_s": 0.05, "clean": 0.97}
    assert list(analysis.reference_rows(teacher, undefended)) == [
        "robust teacher (PGD-AT)",
        "undefended student (real data)",
    ]
    assert list(analysis.reference_rows({"config": {"method": "trades"}}, undefended))[0] == "robust teacher"
    assert list(analysis.reference_rows(None, undefended)) == ["undefended student (real data)"]
    dfard = {"pgd_s": 0.30, "clean": 0.80, "best_epoch": 4, "history": [{}] * 5, "wall_seconds": 12.4}
    assert analysis.undefended_comparison(dfard, undefended) == (
        "Under PGD_S the data-free DFARD student keeps 30.0% against the undefended student's 5.0%: +25.0 points "
        "(the robust student wins); clean accuracy 80.0% against 97.0%. Best epoch 4 of 5 (chosen on the validation "
        "split); 12 s."
    )


def test_adaptive_terms_line_reads_tau_and_lambda() -> None:
    history = [
        {"epoch": 1, "tau": 3.0, "lambda": 0.9, "teacher_confidence": 0.2},
        {"epoch": 2, "tau": 1.5, "lambda": 0.3, "teacher_confidence": 0.6},
    ]
    line = analysis.adaptive_terms_line(history)
    assert line == (
        "tau: 3.00 in epoch 1 -> 1.50 in epoch 2 (falls, the easy-to-hard course the paper describes); lambda: "
        "0.900 -> 0.300 (1/C = 0.100); teacher confidence on generated images: 0.200 -> 0.600"
    )
    rising = analysis.adaptive_terms_line(history[::-1], num_classes=4)
    assert "(does NOT fall as the paper describes" in rising and "(1/C = 0.250)" in rising
    with pytest.raises(ValueError, match="at least one epoch"):
        analysis.adaptive_terms_line([])


def test_dfard_tables_and_their_markdown() -> None:
    rows, paper = analysis.dfard_table("3")
    assert "Vanilla" in rows and paper is DFARD_TABLE3
    assert analysis.dfard_table("1")[1] is DFARD_TABLE1[("RN-18", "CIFAR-10")]
    with pytest.raises(ValueError, match="tables reproduced here are 1, 3, 4"):
        analysis.dfard_table("2")
    summary = {"Vanilla": {"clean": (50.0, 1.0), "fgsm": (30.0, 0.5)}, "Ours": summary_row(60.0, 35.0)}
    assert analysis.common_columns(summary) == ("clean", "fgsm")
    text = analysis.dfard_table_markdown("3", summary)
    assert text.startswith("**DFARD Table 3: ours (mean ± std, %) and (the paper's, CIFAR-10)**\n\n")
    assert "| Vanilla | 50.0 ± 1.0 (58.35) | 30.0 ± 0.5 (30.68) |" in text


def test_table1_bars_limits_the_paper_to_our_rows() -> None:
    ours, paper = analysis.table1_bars({"DAFL": summary_row(50.0, 20.0), "Ours": summary_row(60.0, 30.0)})
    assert ours["DAFL"] == {"clean": 50.0, **{c: 20.0 for c in DFARD_COLUMNS[1:]}}  # best_epoch is not a column
    assert set(paper) == {"DAFL", "Ours"} and paper["Ours"]["clean"] == 66.44 and paper["DAFL"]["autoattack"] == 22.25


def test_summary_average_and_dfard_claims() -> None:
    summary = {"Vanilla": {"clean": (50.0, 0.0), "fgsm": (30.0, 0.0), "pgd_s": (20.0, 0.0), "autoattack": (10.0, 0.0)}}
    assert analysis.summary_average(summary, "Vanilla") == pytest.approx(20.0)  # (30 + 20 + 10) / 3: Clean left out
    with pytest.raises(ValueError, match="no row 'Ours'"):
        analysis.summary_average(summary, "Ours")
    table3 = {
        "Vanilla": summary_row(50.0, 20.0),
        "w/ ITA (G)": summary_row(50.0, 19.0),
        "w/ ITA (GD)": summary_row(50.0, 21.0),
        "w/ AGB": summary_row(50.0, 22.0),
        "Ours": summary_row(50.0, 23.0),
    }
    table1 = {"DAFL": summary_row(40.0, 15.0), "ZSKT": summary_row(40.0, 18.0), "Ours*": summary_row(45.0, 19.5)}
    table4 = {"DAFL+ITA": summary_row(41.0, 16.0)}
    lines = analysis.dfard_claims({"1": table1, "3": table3, "4": table4})
    # the paper's Table 3: w/ ITA (G) averages (31.05 + 28.59 + 29.90 + 24.87 + 24.21) / 5 = 27.724 over the five
    # attacks, Vanilla 27.528: +0.196
    assert lines[0] == (
        "* Table 3, w/ ITA (G) vs Vanilla, average robust accuracy: ours -1.00 points, paper +0.20: does NOT reproduce."
    )
    assert lines[3].startswith("* Table 3, Ours vs Vanilla, average robust accuracy: ours +3.00 points, paper +")
    assert lines[3].endswith(": same direction as the paper.")
    assert lines[4] == (
        "* Table 1: Ours* vs the best other generator loss (ZSKT), average robust accuracy: ours +1.50 points, "
        "paper +1.98 (over DeepInv)."
    )
    assert lines[5] == (
        "* Table 4, DAFL+ITA vs DAFL, average robust accuracy: ours +1.00 points; the paper reports +2.11 on AA and "
        "+1.88 on CW_inf."
    )
    assert len([line for line in lines if re.match(r"^\* Table 3, .* vs Vanilla, average robust accuracy", line)]) == 4
    assert analysis.dfard_claims({}) == []


def derd_result(clean1: float, clean2: float, stage1: int = 1) -> dict:
    history = [
        {"stage": 1, "val_clean": clean1, "val_pgd_t": 0.05},
        {"stage": 2, "val_clean": clean2, "val_pgd_t": 0.25},
        {"stage": 2, "val_clean": clean2, "val_pgd_t": 0.30},
    ]
    return {"stage1_epochs": stage1, "history": history, "wall_seconds": 10.0}


def test_derd_stage_lines() -> None:
    results = {"DERD (ours)": derd_result(0.6, 0.7), "w/o T_nat": derd_result(0.5, 0.55), "DFARD": derd_result(0, 0)}
    results["DFARD"]["history"] = [{"val_clean": 0.5, "val_pgd_t": 0.2}]
    assert analysis.derd_stage_lines(results) == [
        "DERD: stage I for epochs 1-1, stage II for 2-3; DERD (ours) 10 s; w/o T_nat 10 s; DFARD 10 s",
        "DERD (ours): end of stage I clean 60.0%, PGD_T 5.0%; end of stage II clean 70.0%, PGD_T 30.0% "
        "(validation split)",
        "w/o T_nat: end of stage I clean 50.0%, PGD_T 5.0%; end of stage II clean 55.0%, PGD_T 30.0% "
        "(validation split)",
    ]
    with pytest.raises(ValueError, match="'DERD \\(ours\\)'"):
        analysis.derd_stage_lines({"DFARD": results["DFARD"]})


DERD_SUMMARY = {  # three columns ran: clean, fgsm, pgd_s
    "DERD (ours)": {"clean": (60.0, 1.0), "fgsm": (30.0, 1.0), "pgd_s": (24.0, 1.0), "best_epoch": (3.0, 0.0)},
    "w/o T_nat": {"clean": (57.0, 1.0), "fgsm": (30.0, 1.0), "pgd_s": (24.0, 1.0), "best_epoch": (3.0, 0.0)},
    "DERD_inv": {"clean": (60.0, 1.0), "fgsm": (33.0, 1.0), "pgd_s": (24.0, 1.0), "best_epoch": (3.0, 0.0)},
    "DFARD": {"clean": (54.0, 1.0), "fgsm": (30.0, 1.0), "pgd_s": (21.0, 1.0), "best_epoch": (3.0, 0.0)},
}


def test_supplement_average_tables_and_claims() -> None:
    assert analysis.supplement_average(DERD_SUMMARY, "DERD (ours)") == pytest.approx(38.0)  # (60 + 30 + 24) / 3
    # DERD_inv in the supplement's Table 2: (62.44 + 50.42 + 42.51) / 3 over the same three columns
    assert analysis.supplement_average(DERD_SUMMARY, "DERD_inv", DERD_TABLE2) == pytest.approx(51.79)
    with pytest.raises(ValueError, match="no row 'Ours'"):
        analysis.supplement_average(DERD_SUMMARY, "Ours", DERD_TABLE2)
    two, three = analysis.supplement_tables_markdown(DERD_SUMMARY)
    assert two.startswith("**DERD supplement Table 2: ours (mean ± std, %) and (the supplement's)**")
    assert "| DERD_inv | 60.0 ± 1.0 (62.44) | 33.0 ± 1.0 (50.42) | 24.0 ± 1.0 (42.51) | 39.0 (51.79) |" in two
    assert "w/o T_nat" in three and "DERD_inv" not in three
    lines = analysis.derd_claims(DERD_SUMMARY)
    assert [line.split(":")[0] for line in lines] == [
        "* two experts beat DFARD's single teacher",
        "* the natural teacher helps",
        "* the generator beats model inversion",
    ]
    # ours: DERD 38 against DFARD 35 (+3), against w/o T_nat 37 (+1), against DERD_inv 39 (-1)
    assert "Ave over 3 columns: ours +3.00 points" in lines[0] and lines[0].endswith(": reproduces at our scale.")
    assert "ours +1.00 points" in lines[1]
    assert "ours -1.00 points" in lines[2] and lines[2].endswith("does NOT reproduce at our scale.")
    assert all(re.search(r": ours [-+]\d+\.\d\d points, supplement [-+]\d+\.\d\d: ", line) for line in lines)


def test_selection_line_says_where_the_epoch_was_chosen_and_how_often_the_test_split_was_read() -> None:
    selection = {"split": "validation", "val_size": 500, "evaluated_each_epoch": 500, "accuracy": "val_pgd_t"}
    result = {"best_epoch": 3, "history": [{}] * 5, "pgd_t": 0.40, "evaluated_on": 500}
    result["selection"] = {**selection, "best": 0.45, "test_evaluations": 1}
    assert analysis.selection_line("DFARD", result) == (
        "DFARD: epoch 3 of 5 chosen on validation PGD_T 45.0% (500 images held out from the training split, 500 "
        "evaluated after every epoch); the test split read once, by the chosen student on 500 images: PGD_T "
        "40.0% (validation minus test +5.0 points)."
    )
    stopped = {**result, "pgd_t": None, "selection": {**result["selection"], "test_evaluations": 0}}
    assert analysis.selection_line("DFARD", stopped).endswith("read 0 times: no test accuracy (the run stopped).")
    with pytest.raises(ValueError, match="no validation selection"):
        analysis.selection_line("old", {"best_epoch": 1, "history": []})
