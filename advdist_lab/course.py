"""The course's notebooks: their preamble (:func:`setup_notebook`) and the headless runner (Jupytext ``.py`` ->
``.ipynb`` -> papermill -> HTML).

``python -m advdist_lab.course --out build/executed`` runs every ``notebooks/NN_*.py`` with its default
parameters; ``--smoke`` passes ``SMOKE=True`` (the settings CI uses). Each notebook becomes
``OUT/NN_topic.ipynb`` (executed, with outputs) and ``OUT/NN_topic.html``. One line per notebook reports its
wall time; the exit status is 1 if any notebook failed, and the others still run.

Every notebook starts with ``nb = course.setup_notebook("NN_topic", smoke=SMOKE, device=DEVICE, ...)``: the
device resolved, torch's threads set for the dataset, the run folder picked, plotly's renderer and the seed set,
in one call instead of a block copied into each notebook.

This module needs the ``notebooks`` extra (jupytext, papermill, nbconvert) for the runner and imports torch and
plotly only inside :func:`setup_notebook`; it is not imported by the core.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one notebook: where it was written, how long it took, and the error if it failed."""

    name: str
    ipynb: Path
    html: Path | None
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        status = "ok" if self.ok else f"FAILED: {self.error}"
        return f"{self.name:<28} {self.seconds:7.1f} s  {status}"


@dataclass
class NotebookSetup:
    """What a notebook's preamble resolved (:func:`setup_notebook`).

    ``device`` is the resolved ``torch.device``; ``threads`` torch's CPU thread count after
    :func:`advdist_lab.environment.configure_threads`; ``out`` the run folder (``None`` for a notebook without
    runs); ``jobs`` the worker processes for its runs (``None`` where the notebook names no dataset);
    ``scratch`` the temporary directory that holds a smoke run's folder, removed by :meth:`cleanup`.
    """

    name: str
    smoke: bool
    device: torch.device
    threads: int
    out: str | None = None
    jobs: int | None = None
    scratch: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        """Remove a smoke run's temporary run folder now rather than at kernel exit; a kept folder stays."""
        if self.scratch is not None:
            self.scratch.cleanup()
            self.scratch = None


def setup_notebook(
    name: str,
    *,
    smoke: bool = False,
    device: str = "auto",
    out: str | os.PathLike | None = None,
    label: str | None = None,
    dataset: str | None = None,
    jobs: int | None = None,
    seed: int | None = None,
    renderer: bool = True,
) -> NotebookSetup:
    """The preamble every notebook shares, after its parameters cell; every argument is checked before anything
    is set or created.

    * ``device`` (``DEVICE``): resolved by :func:`advdist_lab.environment.resolve_device` (``"auto"``: CUDA, else
      MPS, else the CPU); an unknown or unavailable one raises ``ValueError``.
    * ``dataset``: torch's CPU threads are set for it as ``advdist-lab train`` does (one thread for the tiny
      digits, synthetic and tag models on the CPU), and ``jobs`` (``JOBS``; ``None``:
      :func:`advdist_lab.runs.executors.default_jobs`, one worker per core for those models on the CPU, else 1)
      resolved.
    * ``label`` or ``out`` (``OUT``): the notebook has runs, in the folder that
      :func:`advdist_lab.runs.folder.notebook_folder` picks: ``out`` when given, a fresh temporary folder for a
      smoke run (:meth:`NotebookSetup.cleanup` removes it), else ``../runs/<name>/<label>`` (relative to
      ``notebooks/``, so a rerun reuses the runs).
    * ``seed``: ``torch.manual_seed(seed)``; ``renderer``: plotly figures that render in JupyterLab and in the HTML
      copies (:func:`advdist_lab.viz.use_notebook_renderer`), in JupyterLab's theme, light or dark
      (:func:`advdist_lab.viz.common.use_theme`; ``ADVDIST_LAB_THEME=light|dark`` overrides it, headless runs
      draw light).
    """
    if not isinstance(name, str) or not re.fullmatch(r"\d\d_\w+", name):
        raise ValueError(f"name must be a notebook's stem such as '04_model_compression' (got {name!r})")
    if not isinstance(smoke, bool):
        raise ValueError(f"smoke must be True or False (got {smoke!r})")
    if label is not None and (
        not isinstance(label, str) or not re.fullmatch(r"[\w.@+=-]+", label) or label in (".", "..")
    ):
        raise ValueError(f"label must be a folder name of letters, digits and ._@+=- (got {label!r})")
    if out is not None and (not isinstance(out, (str, os.PathLike)) or not str(out).strip()):
        raise ValueError(f"out must be a folder path or None (got {out!r})")
    if dataset is not None and (not isinstance(dataset, str) or not dataset):
        raise ValueError(f"dataset must be a dataset name or None (got {dataset!r})")

    import torch

    from advdist_lab.environment import configure_threads, resolve_device
    from advdist_lab.hparams import check_nonnegative_int, check_positive_int
    from advdist_lab.runs.executors import default_jobs
    from advdist_lab.runs.folder import notebook_folder

    if jobs is not None:
        jobs = check_positive_int("jobs", jobs)
    if seed is not None:
        seed = check_nonnegative_int("seed", seed)
    resolved = resolve_device(device)
    if renderer:
        from advdist_lab import viz
        from advdist_lab.viz.common import pick_theme, use_theme

        theme = pick_theme()  # a bad ADVDIST_LAB_THEME is refused before anything is set
    if dataset is not None:
        threads = configure_threads(dataset, resolved)
        if jobs is None:
            jobs = default_jobs(dataset, str(device))
    else:
        threads = torch.get_num_threads()
    scratch = None
    if label is not None or out is not None:
        out, scratch = notebook_folder(name, label or "default", smoke, out)
    if seed is not None:
        torch.manual_seed(seed)
    if renderer:
        viz.use_notebook_renderer()
        use_theme(theme)
    return NotebookSetup(name, smoke, resolved, threads, out, jobs, scratch)


def discover(notebooks_dir: Path = NOTEBOOKS_DIR, only: Sequence[str] = ()) -> list[Path]:
    """The course's notebooks, ``NN_topic.py`` in order; ``only`` keeps those whose stem starts with a given prefix."""
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        raise ValueError(f"notebooks directory {str(notebooks_dir)!r} does not exist")
    paths = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(prefix) for prefix in only)]
        if not paths:
            raise ValueError(f"no notebook in {str(notebooks_dir)!r} matches {list(only)!r}")
    return paths


def to_ipynb(source: Path, target: Path) -> Path:
    """Convert a Jupytext percent-format notebook to ``.ipynb`` with the kernelspec papermill needs.

    The ``jupytext`` metadata is dropped: its ``formats: py:percent`` would make JupyterLab's Jupytext extension
    take the ``.ipynb`` for the paired copy of a ``.py`` it cannot find and refuse to open it.
    """
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = dict(KERNEL)
    notebook.metadata.setdefault("language_info", {"name": "python"})
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, target, fmt="ipynb")
    return target


def to_html(executed: Path) -> Path:
    """Write an HTML copy of an executed notebook next to it (atomically) and return its path."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    _write_atomic(target, body)
    return target


def _write_atomic(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_notebook(
    source: Path,
    out_dir: Path,
    parameters: Mapping[str, object] | None = None,
    html: bool = True,
    timeout: float | None = 1800,
) -> NotebookRun:
    """Execute one notebook with papermill (in the notebooks directory) and write its HTML copy.

    Only the ``parameters`` that the notebook's parameters cell declares are passed.

    The executed notebook is written to a temporary name and renamed into place when papermill finishes, so a
    failed run leaves the previous good copy untouched; the failed copy is kept as ``NAME.failed.ipynb``.
    """
    import papermill

    source = Path(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{source.stem}.ipynb"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        unexecuted = to_ipynb(source, Path(tmp) / f"{source.stem}.ipynb")
        partial = out_dir / f".{source.stem}.running.ipynb"
        declared = declared_parameters(unexecuted)
        given = {name: value for name, value in (parameters or {}).items() if name in declared}
        try:
            papermill.execute_notebook(
                str(unexecuted),
                str(partial),
                parameters=given,
                kernel_name=KERNEL["name"],
                cwd=str(source.parent),
                progress_bar=False,
                execution_timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - any failure is reported per notebook
            if partial.exists():
                os.replace(partial, out_dir / f"{source.stem}.failed.ipynb")
            message = str(exc).strip().splitlines()
            return NotebookRun(source.stem, target, None, time.perf_counter() - start, _summary(exc, message))
        os.replace(partial, target)
    (out_dir / f"{source.stem}.failed.ipynb").unlink(missing_ok=True)
    html_path = to_html(target) if html else None
    return NotebookRun(source.stem, target, html_path, time.perf_counter() - start)


def declared_parameters(notebook: Path) -> set[str]:
    """The names that the cell tagged ``parameters`` of ``notebook`` (``.ipynb``) assigns at the start of a line."""
    import json

    names: set[str] = set()
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            names |= set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=", source, re.M))
    return names


def _summary(exc: Exception, lines: list[str]) -> str:
    useful = [line for line in lines if line.strip() and not set(line.strip()) <= {"-"}]
    return f"{type(exc).__name__}: {useful[-1] if useful else ''}"


def run_course(
    out_dir: Path,
    smoke: bool = False,
    only: Sequence[str] = (),
    html: bool = True,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    stream=None,
) -> list[NotebookRun]:
    """Run every notebook (or those named by ``only``) and print one line per notebook as it finishes.

    Headless, every notebook runs with ``INTERACTIVE = False`` and, where its parameters declare it, ``TRAIN =
    True``: the long experiments that Run All in JupyterLab reads back (``TRAIN = False``) are trained here."""
    parameters = {"SMOKE": True} if smoke else {}
    parameters["INTERACTIVE"] = False
    parameters["TRAIN"] = True
    runs = []
    for source in discover(notebooks_dir, only):
        run = run_notebook(source, out_dir, parameters, html=html)
        print(run.line(), file=stream or sys.stdout, flush=True)
        runs.append(run)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advdist_lab.course", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/executed"), help="output directory")
    parser.add_argument("--smoke", action="store_true", help="run with SMOKE=True (the CI settings)")
    parser.add_argument("--only", action="append", default=[], help="run notebooks whose name starts with this")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML copies")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR)
    args = parser.parse_args(argv)
    try:
        sources = discover(args.notebooks_dir, args.only)
    except ValueError as exc:
        parser.error(str(exc))
    mode = "smoke" if args.smoke else "full"
    print(f"running {len(sources)} notebook(s), {mode} parameters, into {args.out}/", flush=True)
    start = time.perf_counter()
    runs = run_course(args.out, args.smoke, args.only, not args.no_html, args.notebooks_dir)
    failed = [r.name for r in runs if not r.ok]
    total = time.perf_counter() - start
    print(f"course: {len(runs) - len(failed)} notebook(s) ran, {len(failed)} failed, {total:.1f} s in all", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
