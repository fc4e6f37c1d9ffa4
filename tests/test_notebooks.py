"""The executed smoke copies of the notebooks: no errors, theorem checks within tolerance, figures in the HTML,
and notebook 04's measured Table 1 beside the paper's, its ranking commentary and its Fig. 4 curves.

`make test` runs the notebooks with smoke parameters into build/smoke/ before pytest (which also checks them
with nbval). Run alone, this module executes a notebook when a test first reads its smoke copy and that copy is
missing or older than its source, so ``pytest tests/test_notebooks.py -k 04`` runs notebook 04 only.
``ADVDIST_SMOKE_DIR`` names another folder for the smoke copies (default build/smoke/).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from smoke_copies import SmokeCopies

from advdist_lab import course

ROOT = Path(__file__).resolve().parent.parent
SMOKE_DIR = Path(os.environ.get("ADVDIST_SMOKE_DIR") or ROOT / "build" / "smoke")
SOURCES = course.discover(ROOT / "notebooks")
CHECK_LINE = re.compile(r"max error (\S+) \(tolerance (\S+)\) (OK|FAILED)")
# Minimum number of printed theorem checks per notebook (each lemma / theorem / equation of the issue).
EXPECTED_CHECKS = {
    "01_kd_vs_ngan": 1,
    "02_adib_equilibrium": 7,
    "03_adim_equilibrium": 9,
    "05_gradient_variance": 5,  # Lemma 4.5 in the cases that satisfy its premise
}


@pytest.fixture(scope="session")
def smoke_dir() -> SmokeCopies:
    return SmokeCopies(SMOKE_DIR)


def _outputs(notebook: dict) -> list[str]:
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append("".join(output["text"]))
    return texts


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _markdown_outputs(notebook: dict) -> list[str]:
    return [
        "".join(output["data"]["text/markdown"])
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {})
    ]


def _figures(notebook: dict) -> list[dict]:
    return [
        output["data"]["application/vnd.plotly.v1+json"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in output.get("data", {})
    ]


def _title(figure: dict) -> str:
    title = figure["layout"].get("title", "")
    return title.get("text", "") if isinstance(title, dict) else title


def test_the_course_has_the_foundation_and_training_notebooks():
    names = [s.stem for s in SOURCES]
    assert names[:10] == [
        "00_welcome",
        "01_kd_vs_ngan",
        "02_adib_equilibrium",
        "03_adim_equilibrium",
        "04_model_compression",
        "05_gradient_variance",
        "06_explorer",
        "07_tag_recommendation",
        "08_data_free_robust_distillation",
        "09_derd",
    ]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_source_starts_with_a_parameters_cell(source: Path):
    import jupytext

    notebook = jupytext.read(source)
    first = notebook.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    for name in ("SMOKE", "DEVICE", "INTERACTIVE", "SEEDS?"):
        assert re.search(rf"^{name} = ", first.source, re.M), f"{source.name}: parameters cell lacks {name}"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_smoke_run_has_no_errors_and_used_smoke_parameters(smoke_dir: SmokeCopies, source: Path):
    notebook = _load(smoke_dir / f"{source.stem}.ipynb")
    injected = [c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "SMOKE = True" in "".join(injected[0]["source"])
    errors = [o for c in notebook["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    assert notebook["metadata"]["papermill"]["exception"] in (None, False)


@pytest.mark.parametrize("name", sorted(EXPECTED_CHECKS))
def test_theorem_checks_print_errors_below_tolerance(smoke_dir: SmokeCopies, name: str):
    lines = [m for text in _outputs(_load(smoke_dir / f"{name}.ipynb")) for m in CHECK_LINE.finditer(text)]
    assert len(lines) >= EXPECTED_CHECKS[name], f"{name}: only {len(lines)} checks printed"
    for match in lines:
        error, tolerance, verdict = float(match[1]), float(match[2]), match[3]
        assert verdict == "OK" and error <= tolerance, match[0]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_html_copy_shows_the_figures_offline(smoke_dir: SmokeCopies, source: Path):
    notebook = _load(smoke_dir / f"{source.stem}.ipynb")
    figures = sum(
        1
        for c in notebook["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    )
    assert figures >= 1, f"{source.stem} shows no figure"
    html = (smoke_dir / f"{source.stem}.html").read_text()
    assert html.count('class="plotly-graph-div"') == figures
    # plotly.js itself is embedded, so the figures render without a network connection
    assert "plotly.js v" in html or "Plotly=" in html or "window.Plotly" in html
    assert not re.search(r"<script[^>]+src=\"https?://[^\"]*plotly", html)


COMPRESSION = "04_model_compression"
TABLE1_ROWS = ("CODIS", "DISTN", "NOISY", "MIMIC", "NGAN", "ADIB", "ADIM")
FIG4_METHODS = ("NGAN", "ADIB", "ADIM-NGS", "ADIM")


def test_model_compression_parameters_switch_dataset_and_scale():
    import jupytext

    first = jupytext.read(ROOT / "notebooks" / f"{COMPRESSION}.py").cells[0].source
    for name, default in (("DATASET", '"digits"'), ("DEVICE", '"auto"'), ("SIZES", "None"), ("OUT", "None")):
        assert re.search(rf"^{name} = {re.escape(default)}", first, re.M), f"parameters cell lacks {name} = {default}"
    for name in ("SEEDS", "EPOCHS"):
        assert re.search(rf"^{name} = \d+", first, re.M), f"parameters cell lacks {name}"
    # papermill reads a parameter's trailing comment as its help text and warns on quotes or = inside it
    comments = [line.split("#", 1)[1] for line in first.splitlines() if re.match(r"^\w+ = .*#", line)]
    assert comments and not any("'" in c or "=" in c for c in comments), comments


def test_model_compression_prints_our_table_beside_the_papers(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{COMPRESSION}.ipynb")
    markdown = _markdown_outputs(notebook)
    ours = [m for m in markdown if "Student test accuracy (%) on digits" in m]
    assert len(ours) == 1, "our Table 1 is not shown"
    for row in TABLE1_ROWS:
        assert re.search(rf"^\| {row} \| \d+\.\d\d ± ", ours[0], re.M), f"our table lacks a measured {row} row"
    for label, cell in (("MNIST", "78.70 ± 0.11"), ("CIFAR-10", "59.10 ± 0.20")):
        paper = [m for m in markdown if f"The paper's TPAMI Table 1 on {label} (quoted" in m]
        assert len(paper) == 1 and cell in paper[0], f"the paper's {label} table is missing or unlabelled"
    assert any("Teacher test accuracy" in m and "| PRETRAINED |" in m for m in markdown)
    text = "\n".join(_outputs(notebook))
    firsts = re.findall(r"^n = (\d+): first ([A-Z-]+) \d+\.\d\d ± \S+, ahead of [A-Z-]+ ", text, re.M)
    assert firsts and all(method in TABLE1_ROWS for _, method in firsts), "the ranking commentary is missing"
    assert re.search(r"pairs ordered as in the paper: \d+ of 21", text)
    assert "Gumbel-Softmax (ADIM vs ADIM-NGS): final accuracy" in text


def test_model_compression_draws_fig4_for_student_and_teacher(smoke_dir: SmokeCopies):
    figures = _figures(_load(smoke_dir / f"{COMPRESSION}.ipynb"))
    student = [f for f in figures if _title(f).startswith("Fig. 4")]
    assert len(student) == 1, "the Fig. 4 student curves are missing"
    curves = {t["name"]: t for t in student[0]["data"] if t.get("mode") == "lines" and "fill" not in t}
    assert set(FIG4_METHODS) <= set(curves), sorted(curves)
    for name in FIG4_METHODS:
        y = curves[name]["y"]
        assert len(y) >= 2 and all(0 <= v <= 1 for v in y), f"{name}: not an accuracy per epoch: {y}"
    teacher = [f for f in figures if "teachers during training" in _title(f)]
    assert len(teacher) == 1, "the teacher curves are missing"
    names = {t["name"] for t in teacher[0]["data"]}
    assert {"ADIB", "ADIM-NGS", "ADIM"} <= names and any(n.startswith("pretrained teacher") for n in names)
    assert "NGAN" not in names  # NGAN has no teacher


def test_model_compression_shows_the_measured_mnist_row_beside_the_papers(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{COMPRESSION}.ipynb")
    shipped = [m for m in _markdown_outputs(notebook) if "TPAMI Table 1 on mnist, measured here" in m]
    assert shipped, "the shipped MNIST row is not shown"
    assert re.search(r"^\| ADIM \| 100 \| .* \| 78\.70 ± 0\.11 \| .* seeds? \|$", shipped[-1], re.M)
    assert "Run time:" in shipped[-1] and "Machine:" in shipped[-1]
    figures = [f for f in _figures(notebook) if _title(f).startswith("TPAMI Table 1 on MNIST: the paper")]
    assert len(figures) == 1 and {t["name"] for t in figures[0]["data"]} == {"paper", "ours"}
    text = "\n".join(_outputs(notebook))
    assert re.search(r"^The row is (complete|partial): its cells hold ", text, re.M)
    assert re.search(r"^At n = 100 our order is [A-Z]+( > [A-Z]+){6}; the paper's", text, re.M)
    # the smoke run trains MNIST when the data is there, and says how to fetch it when it is not
    assert "MNIST row a smoke check, not a measurement" in text or "advdist-lab data fetch mnist" in text


def test_no_notebook_is_committed_as_ipynb():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked.strip() == ""


VARIANCE = "05_gradient_variance"


def test_gradient_variance_measures_estimators_lemma_and_probes(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{VARIANCE}.ipynb")
    text = "\n".join(_outputs(notebook))
    markdown = "\n".join(_markdown_outputs(notebook))
    # the estimator study's computed commentary, with numbers
    assert re.search(r"Pathwise bias (falls|does not fall) as .*: \d\.\d{3} at", markdown)
    assert re.search(r"leave-one-out baseline takes it from \S+ to \S+", markdown)
    # Lemma 4.5: the counterexamples are printed as failures of the conclusion, not as checks
    assert len(re.findall(r"counterexample.*the premise fails .* by up to \d", text)) == 2
    # Fig. 5 beside the paper's, Eq. 9, training speed beside the paper's 50 %, Fig. 7 commentary
    assert "**The paper's Fig. 5**" in markdown and re.search(r"\| ADIM-NGS \| \d+ of \d+ \|", markdown)
    assert re.search(r"Eq. 9 (holds|does not hold) here: ADIM \S+ (<=|>) NGAN", markdown)
    assert "about 50%" in markdown and re.search(r"\*\*Ours:\*\* .*ADIM", markdown)
    assert re.search(r"\*\*student\*\*: mean cosine -?\d\.\d{3} at omega_s = \S+, highest", markdown)
    assert re.search(r"\*\*teacher\*\*: mean cosine -?\d\.\d{3} at omega_t", markdown)


def test_gradient_variance_draws_figs_5_and_7(smoke_dir: SmokeCopies):
    figures = _figures(_load(smoke_dir / f"{VARIANCE}.ipynb"))
    titles = [_title(f) for f in figures]
    fig5 = [f for f in figures if "(TPAMI Fig. 5)" in _title(f)]
    assert len(fig5) == 1, titles
    assert fig5[0]["layout"]["yaxis"]["type"] == "log"
    names = [t["name"] for t in fig5[0]["data"]]
    assert names.count("Adversarial Loss") == 2 and names.count("Distillation Loss") == 2
    for trace in fig5[0]["data"]:
        assert all(v is None or v > 0 for v in trace["y"])
    fig7 = [f for f in figures if "(TPAMI Fig. 7)" in _title(f)]
    assert len(fig7) == 1 and all(-1 <= y <= 1 for t in fig7[0]["data"] for y in t["y"])
    assert fig7[0]["layout"]["xaxis"]["title"]["text"] == "log2 omega_s"
    assert any(t.startswith("Gradient estimators against the exact gradient") for t in titles), titles
    assert any(_title(f).startswith("Lemma 4.5") for f in figures)


def test_gradient_variance_compares_the_literal_eq11_estimator(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{VARIANCE}.ipynb")
    markdown = "\n".join(_markdown_outputs(notebook))
    assert re.search(r"concrete score's bias equals the pathwise one within \S+ Monte Carlo", markdown)
    assert "**Verdict:** the literal Eq. 11 estimator is" in markdown
    assert re.search(r"\| concrete-score \| \d\.\d{3} \|", markdown)
    titles = [_title(f) for f in _figures(notebook)]
    assert any(t.startswith("Concrete score and pathwise gradient down to tau") for t in titles), titles


EXPLORER = "06_explorer"


def test_explorer_notebook_is_interactive_in_the_lab_and_static_headless(smoke_dir: SmokeCopies):
    import jupytext

    source = jupytext.read(ROOT / "notebooks" / f"{EXPLORER}.py")
    assert re.search(r"^INTERACTIVE = True", source.cells[0].source, re.M)
    widget_cells = [c for c in source.cells if "Explorer(" in c.source]
    assert len(widget_cells) == 2 and all(c.source.startswith("# NBVAL_IGNORE_OUTPUT") for c in widget_cells)
    notebook = _load(smoke_dir / f"{EXPLORER}.ipynb")
    injected = next(c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert "INTERACTIVE = False" in "".join(injected["source"])
    widget_views = [
        o
        for c in notebook["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert not widget_views  # headless: static figures only


def test_explorer_notebook_draws_the_game_training_and_figs_3_and_6(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{EXPLORER}.ipynb")
    figures = {_title(f): f for f in _figures(notebook)}
    game = figures["ADIM (exact gradients)"]
    assert "ternary" in game["layout"] and any(t["name"].startswith("equilibrium") for t in game["data"])
    training = next(f for t, f in figures.items() if t.startswith("ADIM on digits"))
    assert [t["name"] for t in training["data"]] == ["student", "teacher", "adversarial", "distillation"]
    assert all(len(t["x"]) == 2 for t in training["data"])  # the smoke run's two epochs
    fig3 = next(f for t, f in figures.items() if "(TPAMI Fig. 3)" in t)
    assert sum(k.startswith("xaxis") and v.get("type") == "log" for k, v in fig3["layout"].items()) == 5
    assert any("(TPAMI Fig. 6)" in t for t in figures)


def test_explorer_notebook_compares_with_the_paper_in_numbers(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{EXPLORER}.ipynb")
    text = "\n".join(_outputs(notebook))
    markdown = "\n".join(_markdown_outputs(notebook))
    assert re.search(r"the teacher's excursion from p_r grows \d+\.\d-fold", text)
    assert "| omega_s | student steps |" in markdown and "| tau |" in markdown
    assert re.search(r"nu = \S+ against nu = 1: student [+-]\d+\.\d\d points\. Paper:", text)
    assert re.search(r"mu = \S+ against mu = 0\.01: student [+-]\d+\.\d\d points\. Paper:", text)
    assert re.search(r"teacher at mu = 0\.001 against mu = 0: .*Paper \(Fig\. 6\)", text)
    assert re.search(r"Fig\. 3: \d+ runs in \d+ s", text)
    # the things to try, measured from the explorer's starting settings, each visibly doing what the text says
    assert text.count(": it shows.") == 3 and "does NOT show" not in text


TAGS = "07_tag_recommendation"


def test_tag_notebook_shows_the_data_and_why_text_is_privileged(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{TAGS}.ipynb")
    text = "\n".join(_outputs(notebook))
    markdown = "\n".join(_markdown_outputs(notebook))
    assert re.search(r"popular: 20,000 training and 2,000 test items, 200 tags", text)
    assert "| item | tags | from the image | hits | from the text | hits |" in markdown
    for label_set in ("popular", "random"):
        assert re.search(rf"{label_set}: P@3 popularity \S+ < image \S+ < text \S+ <= image\+text", text)
    titles = [_title(f) for f in _figures(notebook)]
    assert "Tag popularity of the generated data" in titles


def test_tag_notebook_prints_table_4_and_draws_figs_9_and_11(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{TAGS}.ipynb")
    text = "\n".join(_outputs(notebook))
    markdown = "\n".join(_markdown_outputs(notebook))
    assert "**Most Popular Tags**" in markdown and "**Randomly Selected Tags**" in markdown
    assert "| MAP (paper) |" in markdown and "| REXMP | - | 0.7015 |" in markdown
    assert re.search(r"Most Popular Tags, MAP: ours .*ADIM \d\.\d{4}.*; paper ADIM 0\.7862 > ADIB", text)
    assert re.search(r"ADIM's P@3 is [+-]\d+\.\d% against KNN voting \(paper: \+31\.9% against KVOTE\)", text)
    figures = {_title(f): f for f in _figures(notebook)}
    fig9 = next(f for t, f in figures.items() if "(TPAMI Fig. 9)" in t)
    assert {t["name"] for t in fig9["data"] if t.get("showlegend", True) is not False} >= {"NGAN", "ADIB", "ADIM"}
    assert sum("(TPAMI Fig. 11)" in t for t in figures) == 2
    assert re.search(r"teacher MAP: best at mu = \S+ \(\d\.\d{4}\), mu = 0 gives \d\.\d{4}; paper", text)


DFARD = "08_data_free_robust_distillation"


def test_dfard_notebook_compares_with_an_undefended_student_and_the_paper(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{DFARD}.ipynb")
    text = "\n".join(_outputs(notebook))
    markdown = "\n".join(_markdown_outputs(notebook))
    assert re.search(r"\| robust teacher \(PGD-AT\) \| \d+\.\d\d \|", markdown)
    assert re.search(r"\| DFARD student \(no data\) \| \d+\.\d\d \|", markdown)
    assert re.search(r"Under PGD_S the data-free DFARD student keeps \d+\.\d% against the undefended", text)
    assert re.search(r"tau: \d\.\d\d in epoch 1 -> \d\.\d\d in epoch \d+ \((falls|does NOT fall).*\); lambda: ", text)
    for number, paper_cell in (("1", "(66.44)"), ("3", "(58.35)"), ("4", "(56.26)")):
        assert f"**DFARD Table {number}: ours (mean ± std, %)" in markdown
        assert paper_cell in markdown
    assert len(re.findall(r"^\* Table 3, .* vs Vanilla, average robust accuracy: ours [-+]\d", markdown, re.M)) == 4


def test_dfard_notebook_shows_generated_images_tau_and_lambda(smoke_dir: SmokeCopies):
    figures = _figures(_load(smoke_dir / f"{DFARD}.ipynb"))
    titles = [_title(f) for f in figures]
    images = [f for f in figures if _title(f).startswith("DFARD's generated images")]
    assert len(images) == 1 and len(images[0]["data"]) == 80, titles
    adaptive = [f for f in figures if _title(f) == "ITA and AGB"]
    assert len(adaptive) == 1
    assert {t["name"] for t in adaptive[0]["data"]} >= {"DFARD", "DFARD (distillation)"}
    assert any(_title(f).startswith("DFARD Table 1: ours and the paper's") for f in figures), titles


DERD = "09_derd"


def test_derd_notebook_runs_the_variants_and_the_supplements_tables(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{DERD}.ipynb")
    text = "\n".join(_outputs(notebook))
    markdown = "\n".join(_markdown_outputs(notebook))
    assert re.search(r"\| natural teacher \| \d+\.\d\d \|", markdown)
    for row in ("DERD (ours)", "w/o T_nat", "DERD_inv", "DFARD"):
        assert re.search(rf"\| {re.escape(row)} \| \d+\.\d\d \|", markdown), row
    assert re.search(r"DERD: stage I for epochs 1-\d+, stage II for \d+-\d+", text)
    assert re.search(r"DERD \(ours\): end of stage I clean \d+\.\d%", text)
    assert "(72.83)" in markdown and "(52.51)" in markdown and "(62.44)" in markdown
    assert len(re.findall(r"^\* .*: ours [-+]\d+\.\d\d points, supplement [-+]\d+\.\d\d: ", markdown, re.M)) == 3
    titles = [_title(f) for f in _figures(notebook)]
    assert "DERD's generated images, one row per class" in titles
    assert any(t.startswith("DERD_inv: the last inverted batch") for t in titles), titles


def test_tag_notebook_draws_figs_8_and_10_beside_the_papers_claims(smoke_dir: SmokeCopies):
    notebook = _load(smoke_dir / f"{TAGS}.ipynb")
    text = "\n".join(_outputs(notebook) + _markdown_outputs(notebook))
    assert re.search(r"nu = 0\.001 against nu = 1: student P@3 [+-]\d+\.\d\d points", text)
    assert re.search(r"ADIM's adversarial variance averages \S+ against ADIM-NGS's", text)
    titles = [_title(f) for f in _figures(notebook)]
    assert sum("(TPAMI Fig. 8)" in t for t in titles) == 1, titles
    assert sum("(TPAMI Fig. 10)" in t for t in titles) == 1, titles
