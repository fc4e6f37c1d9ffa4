"""TPAMI Table 1 measured once and shipped in the repository: the exported folder (``results/table1-mnist/``) and
its validated reader. A full MNIST row (7 methods x n = 100, 1,000 x 5 seeds) takes CPU-hours; CI and notebook 04
read its results from the export instead of training again.

The folder holds ``measured.json``: ``{"format", "dataset", "plan": {"methods", "sizes", "seeds", "overrides"},
"source", "exported", "machine": {...}, "table_wall_seconds", "runs": [...]}``; each run is its ``result.json``
stripped to :data:`RUN_KEYS` (the resolved ``config``, ``test_accuracy``, ``teacher_test_accuracy``,
``wall_seconds``, ``status``, ``device``, ``torch``). ``plan`` is the table the runs belong to, so a partial export
knows how many seeds each cell lacks; ``machine`` is where the export was made (the machine that trained, when
exported in place); ``table_wall_seconds`` the wall-clock time of the whole table as measured by whoever ran it
(``None``: not recorded). Beside it ``README.md`` holds the report.

* :func:`load_measured` reads ``measured.json`` as JSON only and validates every field (:func:`parse_measured`).
* :mod:`advdist_lab.experiments.measured_export` writes the folder from a ``table1`` run folder;
  :mod:`advdist_lab.experiments.measured_report` sets it beside the paper's ``TPAMI_TABLE1``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from advdist_lab.experiments.table1 import aggregate
from advdist_lab.methods.config import METHODS

__all__ = ["FORMAT", "MEASURED_FILE", "RUN_KEYS", "MeasuredTable", "load_measured", "parse_measured"]

FORMAT = "advdist-lab table1 measured runs, version 1"
"""The ``format`` field of ``measured.json``: a file without it is not an export of this module."""

MEASURED_FILE = "measured.json"

RUN_KEYS = ("config", "test_accuracy", "teacher_test_accuracy", "wall_seconds", "status", "device", "torch")
"""What an exported run keeps of its ``result.json`` (the history, checkpoints and timings stay behind)."""


@dataclass(frozen=True)
class MeasuredTable:
    """An exported table: its dataset, plan, runs (dicts of :data:`RUN_KEYS`), machine and times."""

    dataset: str
    plan: dict
    runs: tuple[dict, ...]
    machine: dict
    source: str
    exported: str
    table_wall_seconds: float | None = None

    @property
    def table(self) -> dict[str, dict[int, dict]]:
        """Ours in the shape of :func:`advdist_lab.experiments.table1.aggregate` (percent)."""
        return aggregate(self.runs)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.plan["sizes"])

    @property
    def planned_runs(self) -> int:
        return len(self.plan["methods"]) * len(self.plan["sizes"]) * self.plan["seeds"]

    @property
    def complete(self) -> bool:
        return len(self.runs) == self.planned_runs

    @property
    def cpu_seconds(self) -> float:
        """The sum of the runs' ``wall_seconds``: with one run at a time (``--jobs 1``), the table's CPU time."""
        return sum(run["wall_seconds"] for run in self.runs)


def load_measured(dest: str | os.PathLike) -> MeasuredTable:
    """The export in ``dest`` (a folder or its ``measured.json``), read as JSON and validated field by field; a
    missing, damaged or foreign file raises ``ValueError`` in one line."""
    path = Path(dest)
    path = path / MEASURED_FILE if path.is_dir() else path
    if not path.is_file():
        raise ValueError(f"{path} does not exist: export the runs first (advdist-lab table1-report --runs DIR ...)")
    try:
        payload = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is damaged (not valid JSON: {str(error).splitlines()[0]})") from None
    return parse_measured(payload, path)


def _require(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise ValueError(f"{path} is not a valid table1 export: {what}")


def _is_int(value: object, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_fraction(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _is_duration(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


def parse_measured(payload: object, path: Path) -> MeasuredTable:
    """``payload`` (a decoded ``measured.json``) checked field by field as the export at ``path``; ``ValueError``
    in one line naming the first field that is wrong."""
    _require(isinstance(payload, dict) and payload.get("format") == FORMAT, path, f"its format is not {FORMAT!r}")
    dataset, spec = payload.get("dataset"), payload.get("plan")
    _require(isinstance(dataset, str) and bool(dataset), path, "dataset is not a name")
    _require(isinstance(spec, dict), path, "plan is not an object")
    methods, sizes, seeds = spec.get("methods"), spec.get("sizes"), spec.get("seeds")
    _require(
        isinstance(methods, list) and bool(methods) and all(m in METHODS for m in methods), path, "bad plan methods"
    )
    _require(isinstance(sizes, list) and bool(sizes) and all(_is_int(n) for n in sizes), path, "bad plan sizes")
    _require(_is_int(seeds), path, "plan seeds is not a positive integer")
    _require(isinstance(spec.get("overrides", {}), dict), path, "plan overrides is not an object")
    for key in ("source", "exported"):
        _require(isinstance(payload.get(key), str), path, f"{key} is not text")
    machine = payload.get("machine")
    _require(isinstance(machine, dict), path, "machine is not an object")
    wall = payload.get("table_wall_seconds")
    _require(wall is None or _is_duration(wall) and wall > 0, path, "table_wall_seconds is not a duration")
    runs, seen = payload.get("runs"), set()
    _require(isinstance(runs, list) and bool(runs), path, "runs is not a non-empty list")
    for i, run in enumerate(runs):
        _require(isinstance(run, dict) and set(run) <= set(RUN_KEYS), path, f"run {i} is not a stripped result")
        cfg = run.get("config")
        _require(isinstance(cfg, dict), path, f"run {i} has no config")
        key = (cfg.get("method"), cfg.get("n_train"), cfg.get("seed"))
        _require(key[0] in methods and key[1] in sizes, path, f"run {i} ({key[0]}, n = {key[1]}) is not planned")
        _require(_is_int(key[2], 0) and key[2] < seeds, path, f"run {i} has seed {key[2]!r}, not one of the plan")
        _require(cfg.get("dataset") == dataset, path, f"run {i} is on {cfg.get('dataset')!r}, not {dataset}")
        _require(key not in seen, path, f"run {i} repeats {key[0]}, n = {key[1]}, seed {key[2]}")
        seen.add(key)
        _require(run.get("status") == "finished", path, f"run {i} is not finished")
        _require(_is_fraction(run.get("test_accuracy")), path, f"run {i}: test_accuracy is not in [0, 1]")
        teacher = run.get("teacher_test_accuracy")
        _require(teacher is None or _is_fraction(teacher), path, f"run {i}: teacher_test_accuracy not in [0, 1]")
        _require(_is_duration(run.get("wall_seconds")), path, f"run {i}: wall_seconds is not a duration")
    return MeasuredTable(
        dataset=dataset,
        plan={"methods": list(methods), "sizes": list(sizes), "seeds": seeds, "overrides": spec.get("overrides", {})},
        runs=tuple(runs),
        machine=machine,
        source=payload["source"],
        exported=payload["exported"],
        table_wall_seconds=None if wall is None else float(wall),
    )
