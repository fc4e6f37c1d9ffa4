"""The analyses notebooks 06, 07 and 09 used to compute themselves, now in the library: the exact-game sweeps'
tables and sentences (theory.sweep_report), the tag baselines' tables (data.tags_baselines) and the run of DERD's
variants over seeds (robust.experiments.run_variants)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from advdist_lab.data.tags_baselines import (
    PROBES,
    item_preview,
    item_preview_table,
    probe_ordering_line,
    probe_report,
    probe_table,
)
from advdist_lab.data.tags_features import TagFeatures
from advdist_lab.experiments.tables import markdown_table
from advdist_lab.robust.derd.config import DerdConfig
from advdist_lab.robust.dfard import DfardConfig
from advdist_lab.robust.experiments import row_folder, run_variants
from advdist_lab.theory.solver import sweep_game
from advdist_lab.theory.sweep_report import (
    excursion_growth_line,
    excursion_table,
    slowest_student_line,
    speed_table,
    temperature_table,
)

P_R = (0.6, 0.3, 0.1)

# ---------------------------------------------------------------------------------------- exact-game sweeps (06)


@pytest.fixture(scope="module")
def omega_rows():
    return sweep_game(P_R, "omega_s", (0.05, 1 / 3, 0.8), method="adim", lr=0.3, steps=200, record_every=5)


@pytest.fixture(scope="module")
def mu_rows():
    start = {"p_t0": (0.55, 0.33, 0.12), "p_s0": (0.1, 0.2, 0.7)}
    return sweep_game(P_R, "mu", (0.01, 10.0), method="adim", lr=0.1, steps=200, **start)


def test_speed_table_holds_the_sweep_and_its_equilibrium_values(omega_rows):
    header, cells = speed_table(omega_rows, "omega_s")
    assert header == ["omega_s", "student steps", "teacher steps", "final KL(p_r‖p_s)", "V*", "equilibrium value"]
    assert [c[0] for c in cells] == [0.05, 1 / 3, 0.8]
    # Theorem 4.4: the equilibrium value is sum_i omega_i log omega_i (omega_s = 1/3 plays the uniform weights)
    assert cells[1][5] == pytest.approx(-np.log(3))
    assert cells[0][5] == pytest.approx(0.05 * np.log(0.05) + 2 * 0.475 * np.log(0.475))
    # 200 steps are too few to reach 1e-4, so no player "stays within" yet; the student slows as omega_s falls
    assert [c[1] for c in cells] == [None, None, None]
    assert cells[0][3] == pytest.approx(0.2123, abs=1e-3) and cells[1][3] == pytest.approx(0.03425, abs=1e-4)
    assert cells[0][3] > cells[1][3] > cells[2][3]
    text = markdown_table(header, cells)
    assert "| omega_s | student steps |" in text and "| 0.05 | - | - | 0.2123 |" in text


def test_slowest_line_is_read_off_the_rows(omega_rows):
    line = slowest_student_line(omega_rows, "omega_s", 200, reference=1 / 3)
    assert line == (
        f"slowest student at omega_s = 0.05: KL(p_r||p_s) = {omega_rows[0]['student_kl']:.2e} after 200 steps; "
        f"at omega_s = 0.333 it is {omega_rows[1]['student_kl']:.2e}"
    )
    assert "2.12e-01" in line and "3.42e-02" in line
    assert slowest_student_line(omega_rows, "omega_s", 200).endswith("after 200 steps")
    # the slowest follows the data, not the position: reversed rows name the same value
    assert slowest_student_line(omega_rows[::-1], "omega_s", 200) == slowest_student_line(omega_rows, "omega_s", 200)


def test_excursion_table_and_growth_line(mu_rows):
    header, cells = excursion_table(mu_rows, "mu")
    assert header == ["mu", "teacher's worst KL(p_r‖p_t)", "final KL(p_r‖p_t)", "final KL(p_r‖p_s)"]
    assert cells[0][1] == pytest.approx(0.0720, abs=1e-3) and cells[1][1] == pytest.approx(0.3087, abs=1e-3)
    assert all(c[1] >= c[2] for c in cells)  # the worst KL along the way bounds the final one
    line = excursion_growth_line(mu_rows, "mu")
    ratio = mu_rows[1]["teacher_worst_kl"] / mu_rows[0]["teacher_worst_kl"]
    assert line == f"the teacher's excursion from p_r grows {ratio:.1f}-fold from mu = 0.01 to mu = 10"
    assert re.search(r"grows 4\.3-fold", line)
    swapped = [dict(r, teacher_worst_kl=r["teacher_worst_kl"] ** -1) for r in mu_rows]
    assert "shrinks" in excursion_growth_line(swapped, "mu")


def test_temperature_table_names_exact_gradients():
    rows = sweep_game(P_R, "tau", (None, 10.0), method="adim", lr=0.3, steps=60, samples=2, record_every=5)
    header, cells = temperature_table(rows)
    assert header[0] == "tau" and [c[0] for c in cells] == ["exact", 10.0]
    for row, cell in zip(rows, cells, strict=True):
        assert cell[3] == pytest.approx(row["optimal_value"] - row["equilibrium_value"])
    assert "| tau |" in markdown_table(header, cells)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda rows: speed_table([], "omega_s"), "rows must hold at least one sweep_game row"),
        (lambda rows: speed_table(rows, "mu"), r"rows\[0\] lacks mu"),
        (lambda rows: speed_table({"omega_s": 1}, "omega_s"), "rows must be a sequence"),
        (lambda rows: speed_table([3], "omega_s"), r"rows\[0\] must be a mapping"),
        (lambda rows: excursion_table(rows, ""), "name must be a non-empty string"),
        (lambda rows: slowest_student_line(rows, "omega_s", 0), "steps must be"),
        (lambda rows: slowest_student_line(rows, "omega_s", 10, reference=0.4), "reference must be one of the swept"),
        (lambda rows: excursion_growth_line(rows[:1], "omega_s"), "at least two values"),
        (lambda rows: excursion_growth_line([rows[0], rows[0]], "omega_s"), "two distinct values"),
        (
            lambda rows: excursion_growth_line([dict(r, teacher_worst_kl=None) for r in rows], "omega_s"),
            "teacher_worst_kl'] must be a finite number",
        ),
    ],
)
def test_sweep_report_refuses_what_is_not_a_sweep(omega_rows, call, message):
    with pytest.raises(ValueError, match=message):
        call(omega_rows)


# ------------------------------------------------------------------------------------------- tag baselines (07)


@pytest.fixture(scope="module")
def features() -> TagFeatures:
    """40 items, 4 tags, one each: the text is the tag (one-hot), the image is noise."""
    rng = np.random.default_rng(0)
    label = np.arange(40) % 4
    tags = np.eye(4, dtype=np.uint8)[label]
    text = np.eye(4)[label] + 0.01 * rng.standard_normal((40, 4))
    split = np.array([0] * 30 + [1] * 10)
    return TagFeatures(rng.standard_normal((40, 3)), text, tags, split, ("a", "b", "c", "d"))


def test_item_preview_table_lays_out_the_preview(features):
    rows = item_preview(features, items=3, l2=1e-3)
    header, cells = item_preview_table(rows)
    assert header == ["item", "tags", "from the image", "hits", "from the text", "hits"]
    assert [c[0] for c in cells] == [30, 31, 32]
    assert [c[1] for c in cells] == ["c", "d", "a"]  # items 30, 31, 32 carry tags 30 % 4, 31 % 4, 32 % 4
    assert [c[4].split(", ")[0] for c in cells] == ["c", "d", "a"]  # the text probe ranks the true tag first
    assert [c[5] for c in cells] == [1, 1, 1]
    assert "| 30 | c | " in markdown_table(header, cells)
    with pytest.raises(ValueError, match=r"rows\[0\] lacks image_top2"):
        item_preview_table(rows, k=2)
    with pytest.raises(ValueError, match="rows must be a non-empty sequence"):
        item_preview_table([])


def test_probe_table_and_ordering_line(features):
    report = probe_report(features, l2=1e-3)
    header, cells = probe_table(report)
    assert header == ["probe", "P@3", "MAP", "MRR"] and [c[0] for c in cells] == list(PROBES)
    text = dict((c[0], c[1:]) for c in cells)
    assert text["text"][1] == pytest.approx(1.0) and text["text"][2] == pytest.approx(1.0)  # the true tag first
    assert text["text"][0] == pytest.approx(1 / 3)  # one right tag among three
    line = probe_ordering_line(report, "tiny")
    values = [report[p]["p@3"] for p in PROBES]
    expected = "<" if values[1] > values[0] else ">="
    assert line.startswith(f"tiny: P@3 popularity {values[0]:.3f} {expected} image {values[1]:.3f}")
    assert line.endswith(f"text {values[2]:.3f} <= image+text {values[3]:.3f}") or " > image+text" in line


def test_ordering_line_says_when_a_view_knows_less():
    report = {p: {"p@3": v, "map": v, "mrr": v} for p, v in zip(PROBES, (0.2, 0.1, 0.5, 0.4), strict=True)}
    assert probe_ordering_line(report, "x") == "x: P@3 popularity 0.200 >= image 0.100 < text 0.500 > image+text 0.400"
    report["image+text"]["p@3"] = 0.5
    assert probe_ordering_line(report, "x").endswith("< text 0.500 <= image+text 0.500")
    with pytest.raises(ValueError, match=r"report\['popularity'\] lacks p@5"):
        probe_ordering_line(report, "x", k=5)
    with pytest.raises(ValueError, match="report must be probe_report's mapping"):
        probe_table([1, 2])


# -------------------------------------------------------------------------------------------- DERD variants (09)

TINY = {
    "dataset": "digits",
    "epochs": 2,
    "iterations": 1,
    "ts": 2,
    "batch_size": 16,
    "train_steps": 2,
    "eval_size": 24,
    "eval_attacks": ("pgd_s",),
    "final_size": 24,
    "final_attacks": ("pgd_s",),
    "select": "pgd_s",
    "device": "cpu",
}


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """Two untrained digits-cnn "teachers" (the mechanics need no accuracy)."""
    from advdist_lab.robust.data import load_robust_data
    from advdist_lab.robust.models import build_robust_model, save_robust_model

    folder = tmp_path_factory.mktemp("variant-teachers")
    data = load_robust_data("digits")
    paths = {}
    for name, seed in (("natural", 0), ("robust", 1)):
        torch.manual_seed(seed)
        model = build_robust_model("digits-cnn", 10, data.image_shape, data.mean, data.std).eval()
        paths[name] = str(folder / f"{name}.pt")
        save_robust_model(paths[name], model, arch="digits-cnn", num_classes=10, image_shape=(1, 8, 8))
    return paths


def _variants(teachers) -> dict:
    return {
        "DERD (ours)": DerdConfig(
            variant="derd", teacher=teachers["robust"], natural_teacher=teachers["natural"], stage1_epochs=1, **TINY
        ),
        "DERD_inv": DerdConfig(variant="inversion", teacher=teachers["robust"], inversion_steps=2, **TINY),
        "DFARD": DfardConfig(method="dfard", teacher=teachers["robust"], **TINY),
    }


def test_run_variants_runs_each_method_per_seed_and_reads_back(teachers, tmp_path, one_torch_thread):
    variants = _variants(teachers)
    seen = []
    results = run_variants(variants, tmp_path, seeds=(0, 3), on_result=lambda *a: seen.append(a[:2]))
    assert list(results) == list(variants) and all(len(runs) == 2 for runs in results.values())
    assert sorted(seen) == sorted((label, seed) for label in variants for seed in (0, 3))
    for label, runs in results.items():
        for seed, result in zip((0, 3), runs, strict=True):
            folder = tmp_path / row_folder(label) / f"seed={seed}"
            stored = json.loads((folder / "result.json").read_text())
            assert stored["status"] == "finished" and stored["config"]["seed"] == seed
            assert result["pgd_s"] == stored["pgd_s"]
    assert results["DERD (ours)"][0]["variant"] == "derd" and results["DERD_inv"][0]["variant"] == "inversion"
    assert "variant" not in results["DFARD"][0]  # DFARD ran through run_dfard
    assert (tmp_path / "DERD_inv" / "seed=0" / "inverted.pt").exists()
    assert results["DERD (ours)"][0]["history"] != results["DERD (ours)"][1]["history"]  # the seed changed the run
    again = run_variants(variants, tmp_path, seeds=(0, 3), progress=True)
    assert again == results  # every finished run is read back, not run again


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: {}, "variants must be a non-empty mapping"),
        (lambda v: {**v, "bad": {"method": "dfard"}}, "variant 'bad' must be a DerdConfig or a DfardConfig"),
        (lambda v: {"a b": v["DFARD"], "a-b": v["DFARD"]}, "two rows map to the folder 'a-b'"),
    ],
)
def test_run_variants_refuses_bad_variants_before_any_work(teachers, tmp_path, change, message):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        run_variants(change(_variants(teachers)), out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": ()}, "seeds must hold at least one seed"),
        ({"seeds": (0, 0)}, "seeds must be distinct"),
        ({"seeds": (-1,)}, "seeds must be integers >= 0"),
        ({"seeds": "01"}, "seeds must be a sequence of integers"),
        ({"jobs": 0}, "jobs must be"),
    ],
)
def test_run_variants_validates_seeds_and_jobs(teachers, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_variants(_variants(teachers), tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_run_variants_validates_each_config_before_any_run(teachers, tmp_path):
    variants = _variants(teachers)
    variants["w/o T_nat"] = DerdConfig(variant="no-natural", teacher=teachers["robust"], **{**TINY, "epochs": 1})
    with pytest.raises(ValueError, match="stage1_epochs must be >= 1 for variant 'no-natural'"):
        run_variants(variants, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_variants_runs_the_seeded_config(teachers, tmp_path, one_torch_thread):
    from advdist_lab.robust.derd import run_derd

    config = _variants(teachers)["DERD_inv"]
    (result,) = run_variants({"DERD_inv": config}, tmp_path / "variants", seeds=(5,))["DERD_inv"]
    direct = run_derd(DerdConfig.from_dict({**config.to_dict(), "seed": 5}), tmp_path / "direct", progress=False)
    assert result["history"] == direct["history"] and result["pgd_s"] == direct["pgd_s"]
