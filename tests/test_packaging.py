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
    site = {_name(r.split("#")[0]) for r in project["optional-dependencies"]["site"]}
    assert site == {"sphinx", "myst-nb", "sphinx-book-theme", "jupyter-server-mathjax"}


def _constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _binder_environment() -> tuple[dict[str, str], dict[str, str], dict]:
    """``(conda, pip, environment)``: binder/environment.yml's conda and pip requirements by package name."""
    import yaml

    environment = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    conda, pip = {}, {}
    for dependency in environment["dependencies"]:
        if isinstance(dependency, dict):
            pip.update({_name(r): r.replace(" ", "") for r in dependency["pip"]})
        else:
            conda[_name(dependency)] = dependency.replace(" ", "")
    return conda, pip, environment


BINDER_NOTEBOOK_PACKAGES = {"jupyterlab", "ipywidgets", "anywidget", "plotly", "jupytext", "ipykernel"}
"""What the course needs in a browser: the front end, the widgets, the figures, the .py notebooks, the kernel."""


def test_binder_environment_has_a_cpu_torch_the_tested_versions_and_no_dev_tools():
    conda, pip, environment = _binder_environment()
    assert environment["channels"] == ["conda-forge"]
    assert conda["python"] == "python=3.11"
    # the CPU build of PyTorch (conda-forge's metapackage), with pyproject's ranges for the core
    core = _pyproject_requirements(without=("notebooks", "dev", "cluster"))
    assert conda["pytorch-cpu"] == core["torch"].replace("torch", "pytorch-cpu")
    assert conda["torchvision"] == core["torchvision"] and conda["numpy"] == core["numpy"]
    assert "torch" not in pip and not any(name.startswith("nvidia") for name in pip)
    # the notebook packages and tqdm from pip, each pinned to the version constraints.txt tests
    assert set(pip) == BINDER_NOTEBOOK_PACKAGES | {"tqdm"}
    pins = _constraint_pins()
    for name, requirement in pip.items():
        assert requirement == f"{name}=={pins[name]}", f"{requirement} is not the tested {name}=={pins[name]}"
    # no dev tools, no test runners, no cluster
    project = _pyproject()["project"]["optional-dependencies"]
    left_out = {_name(r.split("#")[0]) for r in project["dev"] + project["cluster"] + project["site"]}
    left_out |= {"nbval", "papermill"}
    assert not left_out & (set(pip) | set(conda))
    # repo2docker reads environment.yml first and would ignore these: one source of truth
    assert not (ROOT / "binder" / "requirements.txt").exists()
    assert not (ROOT / "binder" / "runtime.txt").exists()


def test_binder_pip_part_resolves_without_torch_or_dev_tools(tmp_path: Path):
    """``pip install --dry-run`` of the pip part, resolved afresh against the package index pip is set up for."""
    import json
    import subprocess
    import sys

    _, pip, _ = _binder_environment()
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report"]
        + [str(report), *pip.values()],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    installed = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {name for name in pip} <= installed
    heavy = {name for name in installed if name.startswith(("torch", "nvidia", "triton", "pytest", "ruff"))}
    assert not heavy, f"the pip part pulls {sorted(heavy)}"


def test_binder_post_build_installs_the_package_and_the_lab_settings():
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    text = post_build.read_text()
    assert "pip install --no-deps -e ." in text
    assert "--no-deps torchattacks" in text
    assert "jupyterlab-overrides.json" in text


def test_constraints_pin_every_direct_dependency():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    missing = set(_pyproject_requirements()) - set(pins)
    assert not missing, f"constraints.txt does not pin {sorted(missing)}"


def test_no_registry_host_is_written_into_install_files():
    for path in ("Makefile", "constraints.txt", "binder/environment.yml", "binder/postBuild", "pyproject.toml"):
        text = (ROOT / path).read_text()
        assert "://" not in text, f"{path} names a URL"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "make test" in (ROOT / "README.md").read_text()


NOTEBOOK_SIDE = ("viz", "widgets", "course.py", "site")
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
