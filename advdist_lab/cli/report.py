"""``advdist-lab report``: the history of one or more training runs drawn into one self-contained HTML file.

::

    advdist-lab report runs/a runs/b                   # runs/a/report.html: the two runs overlaid
    advdist-lab report runs/t1 --out t1.html --png     # every run below a table1 folder; t1-1.png ... beside it

A RUN_FOLDER is a run's folder (it holds the ``result.json`` of a finished run) or a folder with run folders below
it (a ``table1``, ``sweep`` or ``table4`` folder): every run found below it joins the figures. Each run is named by
its folder: the shortest tail of its path that no other run shares (at least its path below the folder given).
The figures (:mod:`advdist_lab.viz.history`): test accuracy, losses, ``tau`` where it varies and the gradient probes
where a run has them (``--probe-gradients``).

Everything is checked before any drawing (one line, exit status 2): a folder that does not exist, one without a
finished run in or below it, a damaged ``result.json``, an ``--out`` that is not an ``.html`` file one can write.
Only ``result.json`` files are read (JSON, never a pickle), and nothing in the run folders is changed: the only
files written are the HTML (atomically) and, with ``--png``, one PNG per figure beside it (needs ``kaleido``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

OUT_NAME = "report.html"
"""The default ``--out``, in the first folder given."""

OUT_HELP = (
    f"the HTML file to write (default: FIRST_FOLDER/{OUT_NAME}, so that the report stays with the runs it draws; it "
    "is the only file written there, never one of a run's, and an earlier report is replaced)"
)


def add_report_parser(commands: argparse._SubParsersAction, name: str) -> None:
    report = commands.add_parser(
        name,
        help="draw the history of training runs (accuracy, losses, tau, gradient probes) into one HTML file",
    )
    report.add_argument(
        "folders",
        nargs="+",
        metavar="RUN_FOLDER",
        help="a run folder (with result.json) or a folder with run folders below it (e.g. a table1 folder)",
    )
    report.add_argument("--out", default=None, metavar="FILE.html", help=OUT_HELP)
    report.add_argument(
        "--png",
        action="store_true",
        help="also write each figure as a PNG beside the HTML: FILE-1.png, FILE-2.png, ... (needs kaleido)",
    )


def natural_key(path: Path) -> list:
    """A sort key that orders ``seed2`` before ``seed10`` and ``n30`` before ``n100``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def find_runs(folder: str) -> list[tuple[Path, int]]:
    """The finished runs of ``folder``: ``(run folder, parts of its path below folder)``; the folder itself when it
    holds ``result.json``, else every run folder below it (a run folder's own subfolders are not searched).
    Refuses a folder that does not exist, a file, and a folder without a finished run in or below it."""
    from ..runs.folder import CHECKPOINT, RESULT

    path = Path(folder)
    if not path.exists():
        raise ValueError(f"{folder} does not exist: give a run folder (it holds {RESULT}) or a folder of runs")
    if not path.is_dir():
        raise ValueError(f"{folder} is a file, not a run folder (a run folder holds {RESULT})")
    if (path / RESULT).exists():
        if not (path / RESULT).is_file():
            raise ValueError(f"{path / RESULT} is not a file, so {folder} holds no run's result")
        return [(path, 1)]
    found = []
    for top, dirnames, filenames in os.walk(path):
        if RESULT in filenames:
            found.append(Path(top))
            dirnames[:] = []
    if not found:
        if (path / CHECKPOINT).exists():
            raise ValueError(
                f"{folder} holds an unfinished run ({CHECKPOINT}, no {RESULT} yet): finish it with --resume first"
            )
        raise ValueError(
            f"{folder} holds no {RESULT} and no run folder below it: give a run folder or a folder of runs (such "
            "as a table1 folder)"
        )
    return sorted(((run, len(run.relative_to(path).parts)) for run in found), key=lambda item: natural_key(item[0]))


def run_names(runs: list[tuple[Path, int]]) -> list[str]:
    """Each run's name: the shortest tail of its resolved path, at least ``minimum`` parts long, that no other run's
    path ends with."""
    parts = [path.resolve().parts for path, _ in runs]
    names = []
    for index, ((_, minimum), own) in enumerate(zip(runs, parts)):
        for size in range(min(minimum, len(own)), len(own) + 1):
            tail = own[-size:]
            if not any(other[-size:] == tail for place, other in enumerate(parts) if place != index):
                break
        names.append(Path(*tail).as_posix())
    return names


def drawn_keys() -> list[str]:
    """The history keys of which a training run has at least one: the test accuracies and the loss terms."""
    from ..viz.history import ACCURACY_KEYS, LOSS_PARTS, LOSS_PLAYERS

    return [*ACCURACY_KEYS, *(f"{player}_{part}" for player in LOSS_PLAYERS for part in LOSS_PARTS)]


def load_run(folder: Path) -> dict:
    """The ``result.json`` of a run folder, checked: a damaged file raises
    :class:`~advdist_lab.runs.folder.DamagedResultError`, a result without a training history a ``ValueError``."""
    from ..runs.folder import RESULT, load_result

    path = folder / RESULT
    result = load_result(path)
    history = result.get("history")
    if not isinstance(history, list) or not history or not all(isinstance(entry, dict) for entry in history):
        raise ValueError(f"{path} holds no training history to draw ('history' is not a list of per-epoch objects)")
    for place, entry in enumerate(history, start=1):
        epoch = entry.get("epoch", place)
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise ValueError(f"{path} is damaged: entry {place} of its history has the epoch {epoch!r}")
    keys = drawn_keys()
    if not any(isinstance(entry.get(key), (int, float)) for entry in history for key in keys):
        raise ValueError(
            f"{path} is not a training run's result: its history holds no test accuracy and no loss "
            "(advdist-lab train, table1, sweep and tags write those)"
        )
    return result


def report_out(value: str | None, first: str) -> Path:
    """``--out`` (default ``first/report.html``) checked without touching the disk: an ``.html`` path that is not a
    folder, under a folder that exists or can be created and is writable."""
    if value is not None and (not value.strip() or "\0" in value):
        raise ValueError(f"--out must be the path of an .html file (got {value!r})")
    out = Path(first) / OUT_NAME if value is None else Path(value)
    if out.suffix.lower() != ".html":
        raise ValueError(f"--out must be an .html file (got {value!r}): for example --out report.html")
    if out.exists() and not out.is_file():
        raise ValueError(f"--out {out} is a folder, not a file; give the path of an .html file")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {out} cannot be written: {parent} is a file; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out} cannot be written: {parent} refuses new files; choose another --out")
    return out


def kaleido_missing() -> bool:
    """Whether ``kaleido``, which plotly needs to write PNG files, cannot be imported."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return True
    return False


def summary_rows(names: list[str], runs: list[tuple[Path, int]], results: list[dict]) -> list[dict]:
    """One row per run for the report's table: its name, config, status and final accuracies."""

    def accuracy(value) -> str:
        return f"{value:.4f}" if isinstance(value, (int, float)) else ""

    rows = []
    for name, (folder, _), result in zip(names, runs, results):
        config = result.get("config", {})
        rows.append(
            {
                "run": name,
                "method": config.get("method", ""),
                "dataset": config.get("dataset", ""),
                "n": config.get("n_train", ""),
                "epochs": len(result["history"]),
                "status": result.get("status", ""),
                "student test accuracy": accuracy(result.get("test_accuracy")),
                "teacher test accuracy": accuracy(result.get("teacher_test_accuracy")),
                "folder": str(folder),
            }
        )
    return rows


def write_pngs(figures: list, out: Path) -> list[Path]:
    """Each figure as ``OUT-<i>.png`` beside ``out`` (plotly's ``to_image``, kaleido), written atomically."""
    from ..files import atomic_write_bytes

    written = []
    for index, fig in enumerate(figures, start=1):
        path = out.with_name(f"{out.stem}-{index}.png")
        atomic_write_bytes(path, fig.to_image(format="png", width=1200, height=fig.layout.height or 500))
        written.append(path)
    return written


def run_report(args: argparse.Namespace) -> int:
    from ..files import atomic_write_bytes
    from ..viz.history import report_figures, report_html

    runs: list[tuple[Path, int]] = []
    seen: set[Path] = set()
    for folder in args.folders:
        for run, depth in find_runs(folder):
            if run.resolve() not in seen:
                seen.add(run.resolve())
                runs.append((run, depth))
    out = report_out(args.out, args.folders[0])
    results = [load_run(folder) for folder, _ in runs]
    names = run_names(runs)
    figures = report_figures({name: result["history"] for name, result in zip(names, results)})
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    title = f"advdist-lab report: {shown}"
    page = report_html(figures, title, summary_rows(names, runs, results))
    atomic_write_bytes(out, page.encode("utf-8"))
    print(f"report of {len(runs)} run(s), {len(figures)} figure(s): {out}")
    if args.png:
        if kaleido_missing():
            print("--png: PNG export needs kaleido (pip install kaleido); only the HTML was written")
        else:
            try:
                written = write_pngs(figures, out)
            except (RuntimeError, ValueError, OSError) as error:  # kaleido without its browser, a full disk
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                print(f"advdist-lab: error: PNG export failed ({reason}); the HTML is written: {out}", file=sys.stderr)
                return 1
            print(f"written: {', '.join(str(path) for path in written)}")
    return 0
