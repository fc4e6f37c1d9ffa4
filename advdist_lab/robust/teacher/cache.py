"""Teachers shared between runs: one run folder per teacher config (:func:`shared_teacher`), and several teachers
trained side by side in worker processes (:func:`train_teachers`).

Notebooks 08 (DFARD) and 09 (DERD) both distil from the robust teacher that ``robust-teacher``'s digits defaults
train; without a cache each trained it again (about three minutes on one CPU core, most of it the final
evaluation under AutoAttack). :func:`shared_teacher` maps a :class:`RobustTeacherConfig` to the folder
``root/<teacher_key(config)>``, and :func:`train_teachers` runs
:func:`~advdist_lab.robust.teacher.run.train_robust_teacher` there with ``resume=True``: the first caller trains the
teacher (an interrupted training is resumed from its checkpoint), every later caller with the same config reads it
back. The key is a hash of every field but ``device``, and the run folder compares the stored config with the
requested one field by field on every read, so a teacher is read back only for exactly its config: a different
config gets another folder, and a folder holding another config (a hash collision, a file copied by hand) is
refused naming the fields that differ (:class:`~advdist_lab.runs.folder.RunExistsError`), never read as the wrong
teacher. The folder is locked while it is trained (:class:`~advdist_lab.runs.folder.RunFolder`): a second process
asking for the same teacher meanwhile is refused (``FolderInUseError``), not given half a teacher.

``previous`` names folders where a caller kept its teacher before the cache existed (notebook 08's ``OUT/teacher``,
notebook 09's ``OUT/robust-teacher``): a finished teacher there is used instead of the cache, so the distillation
runs made from it stay valid (they check their teacher file's SHA-1, and a teacher trained again is another file:
``torch.save`` never writes the same bytes twice); its config is checked as the cache's is.

:func:`train_teachers` trains several teachers (a robust and a natural one, a teacher and an undefended student)
at once, one per worker process of one torch thread (:class:`~advdist_lab.runs.executors.LocalExecutor`, or the
executor of an enclosing :func:`~advdist_lab.runs.executors.executor_scope`, such as Ray's): the
digits models are so small that two single-threaded runs side by side finish sooner than one after the other on
two threads, and a two-thread run on a machine whose other core is busy is many times slower (measured: a
two-epoch digits teacher with its final evaluation on 200 test images took 40 s on one thread, 27 s on two with
the second core idle and 290 s on two with it busy). Each run is seeded by its own config, so the teachers do not
depend on ``jobs``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from advdist_lab.hparams import check_positive_int
from advdist_lab.robust.teacher.config import RobustTeacherConfig
from advdist_lab.robust.teacher.run import train_robust_teacher
from advdist_lab.runs.executors import LocalExecutor, current_executor, execute, require_finished
from advdist_lab.runs.folder import RESULT, check_out

__all__ = ["COURSE_TEACHERS", "shared_teacher", "teacher_key", "train_teachers"]

COURSE_TEACHERS = Path("..") / "runs" / "robust-teachers"
"""The notebooks' shared teachers, relative to ``notebooks/`` (where papermill and JupyterLab run them), beside the
notebooks' own run folders ``../runs/<notebook>/<label>`` (:func:`advdist_lab.runs.folder.notebook_folder`)."""


def teacher_key(config: RobustTeacherConfig) -> str:
    """The folder name of ``config``'s teacher: ``<dataset>-<method>-<arch>-<12 hex digits>``, the digits from the
    SHA-1 of every resolved field but ``device`` (a teacher may be read back on another device, as a run folder
    allows on resume)."""
    if not isinstance(config, RobustTeacherConfig):
        raise ValueError(f"config must be a RobustTeacherConfig (got {type(config).__name__})")
    fields = {k: v for k, v in config.to_dict().items() if k != "device"}
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.dataset}-{config.method}-{config.arch}-{digest}"


def shared_teacher(
    config: RobustTeacherConfig, root: str | os.PathLike, *, previous: Sequence[str | os.PathLike] = ()
) -> str:
    """The folder of the teacher of ``config``: the first of ``previous`` that holds a finished run
    (``result.json``), else ``root/<teacher_key(config)>`` (module docstring); nothing is read or trained here.
    Train or read it back with :func:`train_teachers` (or :func:`~advdist_lab.robust.teacher.run.train_robust_teacher`
    with ``resume=True``): the stored config must equal ``config`` (``device`` aside), or
    :class:`~advdist_lab.runs.folder.RunExistsError` names the fields that differ."""
    key = teacher_key(config)
    if isinstance(previous, (str, bytes, os.PathLike)) or not isinstance(previous, Sequence):
        raise ValueError(f"previous must be a sequence of folders (got {previous!r})")
    for folder in previous:
        if (check_out(folder) / RESULT).is_file():
            return str(folder)
    return str(check_out(root) / key)


def _train_one(config: RobustTeacherConfig, folder: str) -> dict:
    return train_robust_teacher(config, folder, resume=True, progress=False)


def train_teachers(
    runs: Mapping[str, tuple[RobustTeacherConfig, str | os.PathLike]],
    *,
    jobs: int = 1,
    progress: bool = True,
    train: bool = True,
) -> dict[str, dict]:
    """``{label: result}`` of every ``label -> (config, folder)`` of ``runs``, each by
    :func:`~advdist_lab.robust.teacher.run.train_robust_teacher` with ``resume=True`` (finished folders read back,
    interrupted ones resumed).

    With ``jobs > 1`` the teachers still to train run in up to ``jobs`` worker processes of one torch thread each
    (module docstring), or on the executor of an enclosing ``executor_scope``, under one bar of the teachers; an
    interrupt keeps the finished ones and says so (:func:`~advdist_lab.runs.executors.execute`); finished ones
    are read back here. With ``jobs = 1`` they run one after the other
    in this process, on its threads, with their progress bars when ``progress``. Every config and folder is checked
    before any work (two labels cannot share a folder). ``train=False`` trains none: when a teacher is not finished,
    :class:`~advdist_lab.runs.executors.RunsNotTrainedError` counts them before any is read.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty mapping of label -> (RobustTeacherConfig, folder)")
    jobs = check_positive_int("jobs", jobs)
    checked: dict[str, tuple[RobustTeacherConfig, str]] = {}
    for label, value in runs.items():
        if not isinstance(value, tuple) or len(value) != 2 or not isinstance(value[0], RobustTeacherConfig):
            raise ValueError(f"runs[{label!r}] must be a (RobustTeacherConfig, folder) pair (got {value!r})")
        folder = check_out(value[1]).resolve()
        if any(Path(other) == folder for _, other in checked.values()):
            raise ValueError(f"two teachers would share the folder {folder}; give each its own")
        checked[label] = (value[0], str(folder))
    if not train:
        require_finished([folder for _, folder in checked.values()])
    pending = [label for label, (_, folder) in checked.items() if not (Path(folder) / RESULT).is_file()]
    results: dict[str, dict] = {}
    executor = current_executor()
    if len(pending) > 1 and (jobs > 1 or executor is not None):

        def done(index: int, result: dict) -> None:
            results[pending[index]] = result

        execute(
            _train_one,
            [checked[label] for label in pending],
            done,
            executor=executor or LocalExecutor(jobs),
            folders=[Path(checked[label][1]) for label in pending],
            description="teachers",
            progress=progress,
        )
    for label, (config, folder) in checked.items():
        if label not in results:
            results[label] = train_robust_teacher(config, folder, resume=True, progress=progress)
    return {label: results[label] for label in checked}
