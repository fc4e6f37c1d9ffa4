"""The package's metadata: version, dependency lists, binder and the CI entry point agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

import advdist_lab

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements(without: tuple[str, ...] = ()) -> dict[str, str]:
    """Every requirement of pyproject (core and extras), less the extras named in ``without``."""
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name not in without:
            requirements += extra
    return {_name(r.split("#")[0]): r.split("#")[0].replace(" ", "") for r in requirements}


def test_version_is_exposed_and_matches_the_build_metadata():
    assert re.fullmatch(r"\d+\.\d+\.\d+", advdist_lab.__version__)
    dynamic = _pyproject()["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "advdist_lab.__version__"}


def test_core_dependencies_and_extras_are_as_documented():
    project = _pyproject()["project"]
    assert project["name"] == "advdist-lab"
    assert project["requires-python"] == ">=3.10"
    assert {_name(r) for r in project["dependencies"]} == {"torch", "torchvision", "numpy", "tqdm"}
    notebooks = {_name(r) for r in project["optional-dependencies"]["notebooks"]}
    assert {
        "jupyterlab",
        "ipywidgets",
        "anywidget",
        "plotly",
        "jupytext",
        "papermill",
        "nbval",
        "ipykernel",
    } <= notebooks
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert dev == {"pytest", "hypothesis", "ruff", "playwright", "scikit-learn"}
    assert {_name(r) for r in project["optional-dependencies"]["cluster"]} == {"ray"}


def test_binder_requirements_name_the_same_packages_as_pyproject():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    binder = {_name(line): line.replace(" ", "") for line in lines if line.strip() and not line.startswith("#")}
    # Binder opens the course in a browser on one machine: the [cluster] extra (Ray, --executor ray) is left out.
    assert binder == _pyproject_requirements(without=("cluster",))
    assert "ray" not in binder


def test_binder_has_runtime_and_post_build():
    assert re.fullmatch(r"python-3\.\d+\s*", (ROOT / "binder" / "runtime.txt").read_text())
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_constraints_pin_every_direct_dependency():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    missing = set(_pyproject_requirements()) - set(pins)
    assert not missing, f"constraints.txt does not pin {sorted(missing)}"


def test_no_registry_host_is_written_into_install_files():
    for path in ("Makefile", "constraints.txt", "binder/requirements.txt", "binder/postBuild", "pyproject.toml"):
        text = (ROOT / path).read_text()
        assert "://" not in text, f"{path} names a URL"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "make test" in (ROOT / "README.md").read_text()


NOTEBOOK_SIDE = ("viz", "widgets", "course.py")
"""The only rooms (folders) and modules that may import the notebook stack."""


def on_notebook_side(path: Path) -> bool:
    return path.relative_to(ROOT / "advdist_lab").parts[0] in NOTEBOOK_SIDE


def test_core_modules_do_not_import_the_notebook_stack():
    core = [p for p in (ROOT / "advdist_lab").rglob("*.py") if not on_notebook_side(p)]
    assert len(core) > 20
    for path in core:
        module = path.relative_to(ROOT / "advdist_lab")
        source = path.read_text()
        for heavy in ("plotly", "ipywidgets", "papermill", "jupytext", "nbformat"):
            assert not re.search(rf"^\s*(import|from) {heavy}\b", source, re.M), f"{module}.py imports {heavy}"


def test_importing_the_core_loads_no_notebook_package():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import advdist_lab.hparams, advdist_lab.theory, advdist_lab.theory.solver\n"
        "import advdist_lab.theory.theorems, advdist_lab.environment, advdist_lab.theory.estimators\n"
        "import advdist_lab.probes, advdist_lab.experiments.gradients, advdist_lab.runs.sweeps, advdist_lab.cli\n"
        "import advdist_lab.methods.loop, advdist_lab.runs, advdist_lab.experiments.table1\n"
        "heavy = [m for m in ('plotly', 'ipywidgets', 'papermill', 'jupytext', 'IPython') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
