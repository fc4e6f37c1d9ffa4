"""Teachers shared between notebooks 08 and 09 (advdist_lab.robust.teacher.cache): one folder per exact config,
read back instead of trained again, never read back for another config; several teachers side by side in worker
processes with the results of one after the other.

Runs are tiny (digits, 200 training images, 2 epochs, cheap final attacks).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_configs import ROBUST_TEACHER_TINY

from advdist_lab.files import file_sha1
from advdist_lab.robust.teacher import (
    MODEL_FILE,
    RobustTeacherConfig,
    shared_teacher,
    teacher_key,
    train_robust_teacher,
    train_teachers,
)
from advdist_lab.runs.folder import RESULT, RunExistsError, load_result

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ROBUST_TEACHER_TINY
ACCURACIES = ("clean", "fgsm", "pgd_s", "average")


def tiny(**changes) -> RobustTeacherConfig:
    return RobustTeacherConfig(**{**TINY, **changes})


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache root holding the tiny teacher, trained once for the module."""
    root = tmp_path_factory.mktemp("teachers")
    folder = shared_teacher(tiny(), root)
    train_teachers({"teacher": (tiny(), folder)}, progress=False)
    return root


def test_the_key_names_the_teacher_and_ignores_only_the_device() -> None:
    key = teacher_key(tiny())
    assert key.startswith("digits-pgd-at-digits-cnn-") and len(key.rsplit("-", 1)[1]) == 12
    assert teacher_key(tiny(device="auto")) == key
    assert teacher_key(RobustTeacherConfig.from_dict(tiny().to_dict())) == key
    changed = [
        tiny(epochs=3),
        tiny(seed=1),
        tiny(eps=0.1),
        tiny(lr=2e-3),
        tiny(n_train=199),
        tiny(subset_seed=1),
        tiny(test_size=79),
        tiny(final_attacks=("pgd_s", "fgsm")),
        tiny(eval_attacks=()),
        tiny(method="trades"),
        tiny(precision="fp32"),
    ]
    keys = [teacher_key(c) for c in changed]
    assert key not in keys and len(set(keys)) == len(keys)
    assert teacher_key(RobustTeacherConfig()) != teacher_key(RobustTeacherConfig(method="natural"))
    with pytest.raises(ValueError, match="config must be a RobustTeacherConfig"):
        teacher_key(tiny().to_dict())  # type: ignore[arg-type]


def test_a_second_caller_reads_the_teacher_back(cache: Path) -> None:
    folder = Path(shared_teacher(tiny(), cache))
    assert folder == cache / teacher_key(tiny())
    first = load_result(folder)
    sha = file_sha1(folder / MODEL_FILE)
    again = train_teachers({"teacher": (tiny(device="auto"), folder)}, jobs=2, progress=False)["teacher"]
    assert again == first  # the stored result, wall seconds included: nothing was trained
    assert file_sha1(folder / MODEL_FILE) == sha  # a new training would write another file
    assert sorted(p.name for p in cache.iterdir()) == [folder.name]


def test_another_config_gets_another_folder_and_its_own_teacher(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "teachers"
    shutil.copytree(cache, root)
    other = tiny(seed=1)
    folder = Path(shared_teacher(other, root))
    assert folder != root / teacher_key(tiny()) and not folder.exists()
    result = train_teachers({"other": (other, folder)}, progress=False)["other"]
    assert result["config"]["seed"] == 1 and load_result(folder)["config"]["seed"] == 1
    assert load_result(root / teacher_key(tiny()))["config"]["seed"] == 0


def test_a_folder_holding_another_config_is_refused_naming_the_field(cache: Path, tmp_path: Path) -> None:
    other = tiny(epochs=3)
    planted = tmp_path / teacher_key(other)  # the seed-0, 2-epoch teacher under the key of a 3-epoch config
    shutil.copytree(cache / teacher_key(tiny()), planted)
    assert Path(shared_teacher(other, tmp_path)) == planted
    with pytest.raises(RunExistsError, match="epochs: 2 there, 3 here"):
        train_teachers({"teacher": (other, planted)}, progress=False)
    assert load_result(planted)["config"]["epochs"] == 2  # left as it was


def test_a_previous_folder_with_a_finished_teacher_is_used(cache: Path, tmp_path: Path) -> None:
    previous = tmp_path / "old" / "teacher"
    shutil.copytree(cache / teacher_key(tiny()), previous)
    empty = tmp_path / "old" / "never-trained"
    root = tmp_path / "teachers"
    assert shared_teacher(tiny(), root, previous=[empty, previous]) == str(previous)
    assert train_teachers({"teacher": (tiny(), previous)}, progress=False)["teacher"] == load_result(previous)
    assert shared_teacher(tiny(), root, previous=[empty]) == str(root / teacher_key(tiny()))
    assert not root.exists() and not empty.exists()  # choosing a folder creates nothing
    with pytest.raises(RunExistsError, match="seed: 0 there, 1 here"):  # its config is checked as the cache's
        train_teachers({"teacher": (tiny(seed=1), shared_teacher(tiny(seed=1), root, previous=[previous]))})
    with pytest.raises(ValueError, match="previous must be a sequence of folders"):
        shared_teacher(tiny(), root, previous=str(previous))  # type: ignore[arg-type]


def test_teachers_side_by_side_equal_one_after_the_other(tmp_path: Path) -> None:
    runs = {
        "robust": (tiny(), tmp_path / "parallel" / "robust"),
        "natural": (tiny(method="natural"), tmp_path / "parallel" / "natural"),
    }
    parallel = train_teachers(runs, jobs=2, progress=False)
    assert list(parallel) == ["robust", "natural"]
    for label, (config, _) in runs.items():
        serial = train_robust_teacher(config, tmp_path / "serial" / label, progress=False)
        assert parallel[label]["history"] == serial["history"], label
        assert {k: parallel[label][k] for k in ACCURACIES} == {k: serial[k] for k in ACCURACIES}, label
        assert (tmp_path / "parallel" / label / RESULT).is_file()
    assert [parallel[label]["config"]["method"] for label in runs] == ["pgd-at", "natural"]


def test_bad_arguments_are_refused_before_any_work(tmp_path: Path) -> None:
    good = (tiny(), tmp_path / "a")
    with pytest.raises(ValueError, match="runs must be a non-empty mapping"):
        train_teachers({})
    with pytest.raises(ValueError, match=r"runs\['b'\] must be a \(RobustTeacherConfig, folder\) pair"):
        train_teachers({"a": good, "b": (TINY, tmp_path / "b")})
    with pytest.raises(ValueError, match="two teachers would share the folder"):
        train_teachers({"a": good, "b": (tiny(method="natural"), tmp_path / "x" / ".." / "a")})
    with pytest.raises(ValueError, match="jobs must be"):
        train_teachers({"a": good}, jobs=0)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="is an existing file"):
        train_teachers({"a": good, "b": (tiny(method="natural"), tmp_path / "file")})
    with pytest.raises(ValueError, match="is an existing file"):
        shared_teacher(tiny(), tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing trained, no folder made


def test_teachers_are_not_trained_with_train_false(tmp_path: Path) -> None:
    from advdist_lab.runs.executors import RunsNotTrainedError

    with pytest.raises(RunsNotTrainedError, match="0 of 1 runs are finished"):
        train_teachers({"teacher": (tiny(), tmp_path / "t")}, progress=False, train=False)
    assert not (tmp_path / "t").exists()
    trained = train_teachers({"teacher": (tiny(), tmp_path / "t")}, progress=False)["teacher"]
    assert train_teachers({"teacher": (tiny(), tmp_path / "t")}, progress=False, train=False)["teacher"] == trained
