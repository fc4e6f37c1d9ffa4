"""Tests of advdist_lab.runs.training: run folders, result.json, checkpoints, resume, non-finite losses, atomic
writes."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
import tiny_configs  # tests/ is on sys.path
import torch

from advdist_lab import files
from advdist_lab.methods import TrainConfig
from advdist_lab.methods.base import Terms
from advdist_lab.methods.loop import NonFiniteLossError, Trainer
from advdist_lab.runs.folder import CHECKPOINT, RESULT, RunExistsError, load_result, notebook_folder
from advdist_lab.runs.training import teacher_cache_key, train


def tiny(**changes) -> TrainConfig:
    """The shared tiny run (tests/tiny_configs.py) with 3 epochs, so that a run can stop or die in the middle."""
    return tiny_configs.tiny(**{"epochs": 3, **changes})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


_REFERENCE: dict[tuple, dict] = {}


def reference(**changes) -> dict:
    """The uninterrupted run of ``tiny(**changes)`` (trained once per module, no folder)."""
    key = tuple(sorted(changes.items()))
    if key not in _REFERENCE:
        _REFERENCE[key] = train(tiny(**changes), progress=False)
    return _REFERENCE[key]


def read_checkpoint(folder: Path) -> dict:
    return torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------------
# result.json and checkpoints
# ------------------------------------------------------------------------------------------------------


def test_result_json_holds_the_resolved_config_history_and_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "run"
    returned = train(tiny(method="adim", epochs=2), out, progress=False)
    result = load_result(out)
    assert load_result(out / RESULT) == result
    assert json.loads(json.dumps(returned)) == result
    config = result["config"]
    assert set(config) == set(TrainConfig().to_dict())  # every hyperparameter
    for name in ("lr_student", "lr_teacher", "batch_size", "k_d", "k_t", "k_s", "estimator"):
        assert config[name] is not None, name
    assert config["omega_r"] + config["omega_s"] + config["omega_t"] == pytest.approx(1.0)
    assert config["batch_size"] == 10 and config["lr_student"] == 2e-3 and config["estimator"] == "straight_through"
    assert TrainConfig.from_dict(config) == tiny(method="adim", epochs=2).resolved()
    history = result["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    for entry in history:
        for key in ("student_test_accuracy", "teacher_test_accuracy", "student_loss", "teacher_loss"):
            assert math.isfinite(entry[key]), key
        assert "discriminator_loss" in entry and "student_adversarial" in entry
    assert result["test_accuracy"] == history[-1]["student_test_accuracy"]
    assert result["teacher_test_accuracy"] == history[-1]["teacher_test_accuracy"]
    assert result["wall_seconds"] > 0
    assert result["device"] == "cpu"
    assert result["status"] == "finished"
    assert set(result["pretraining"]) == {"teacher", "student"}
    assert len(result["timing"]["epoch_seconds"]) == 2
    assert not any("seconds" in key for entry in history for key in entry)  # histories compare exactly
    # the final checkpoint is kept next to the result
    assert read_checkpoint(out)["history"] == history
    assert temp_files(out) == []


def test_a_checkpoint_is_written_every_epoch(tmp_path: Path) -> None:
    out = tmp_path / "run"
    seen = []

    def callback(entry: dict) -> None:
        state = read_checkpoint(out)
        seen.append((entry["epoch"], len(state["history"]), state["history"][-1] == entry))
        assert not (out / RESULT).exists()

    train(tiny(method="ngan"), out, progress=False, callback=callback)
    assert seen == [(1, 1, True), (2, 2, True), (3, 3, True)]


def test_stop_and_resume_a_kd_baseline_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    stop = threading.Event()
    stopped = train(tiny(method="codis"), out, progress=False, stop=stop, callback=lambda entry: stop.set())
    assert stopped["status"] == "stopped"
    assert len(stopped["history"]) == 1
    assert not (out / RESULT).exists()
    assert len(read_checkpoint(out)["history"]) == 1
    # without --resume the unfinished run is not overwritten
    with pytest.raises(RunExistsError, match="unfinished run"):
        train(tiny(method="codis"), out, progress=False)
    resumed = train(tiny(method="codis"), out, resume=True, progress=False)
    expected = reference(method="codis")
    assert resumed["status"] == "finished"
    assert resumed["history"] == expected["history"]
    assert resumed["test_accuracy"] == expected["test_accuracy"]
    assert load_result(out)["history"] == expected["history"]


def test_resume_after_the_last_checkpoint_writes_the_same_result(tmp_path: Path) -> None:
    """Killed between the last checkpoint and result.json: resuming trains nothing and writes the result."""
    out = tmp_path / "run"
    first = train(tiny(method="mimic"), out, progress=False)
    (out / RESULT).unlink()
    resumed = train(tiny(method="mimic"), out, resume=True, progress=False)
    assert resumed["history"] == first["history"]
    assert resumed["test_accuracy"] == first["test_accuracy"]
    assert (out / RESULT).exists()


def test_resume_without_a_checkpoint_trains_from_scratch(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(tiny(method="codis"), out, resume=True, progress=False)
    assert result["history"] == reference(method="codis")["history"]


# ------------------------------------------------------------------------------------------------------
# A finished run is never overwritten
# ------------------------------------------------------------------------------------------------------


def test_a_finished_run_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = tiny(method="distn", epochs=2)
    first = train(config, out, progress=False)
    stored = (out / RESULT).read_bytes()
    with pytest.raises(RunExistsError, match="already holds a finished run") as info:
        train(config, out, progress=False)
    assert isinstance(info.value, ValueError)
    assert (out / RESULT).read_bytes() == stored
    # --resume returns the finished run without training
    again = train(config, out, resume=True, progress=False)
    assert again == json.loads(stored)
    assert again["history"] == first["history"]
    # the device is not part of the comparison: a finished CPU run can be read back with device="auto"
    assert train(config.replace(device="auto"), out, resume=True, progress=False)["history"] == first["history"]
    assert (out / RESULT).read_bytes() == stored


def test_resume_with_a_different_config_names_the_differing_keys(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(tiny(method="mimic", epochs=1), out, progress=False)
    stored = (out / RESULT).read_bytes()
    with pytest.raises(RunExistsError, match="different config") as info:
        train(tiny(method="mimic", epochs=2, nu=0.5), out, resume=True, progress=False)
    message = str(info.value)
    assert "epochs: 1 there, 2 here" in message
    assert "nu: 1.0 there, 0.5 here" in message
    assert "seed" not in message
    assert (out / RESULT).read_bytes() == stored


def test_resume_of_a_checkpoint_with_a_different_config_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    stop = threading.Event()
    train(tiny(method="codis"), out, progress=False, stop=stop, callback=lambda entry: stop.set())
    before = (out / CHECKPOINT).read_bytes()
    with pytest.raises(RunExistsError, match="codis_weight: 1.0 there, 2.0 here"):
        train(tiny(method="codis", codis_weight=2.0), out, resume=True, progress=False)
    assert (out / CHECKPOINT).read_bytes() == before


# ------------------------------------------------------------------------------------------------------
# Non-finite losses
# ------------------------------------------------------------------------------------------------------


def nan_from_epoch(player: str, first_bad_epoch: int):
    """A ``trainer_hook`` that makes ``player``'s loss NaN from the 1-based epoch ``first_bad_epoch`` on."""

    def hook(trainer: Trainer) -> None:
        state = {"epoch": 0}
        train_epoch = trainer.train_epoch

        def counting(epoch: int):
            state["epoch"] = epoch + 1
            return train_epoch(epoch)

        original = getattr(trainer.method, f"{player}_loss")

        def poisoned(players, batch, ctx):
            out = original(players, batch, ctx)
            if state["epoch"] < first_bad_epoch:
                return out
            if isinstance(out, Terms):
                return Terms(adversarial=out.adversarial, distillation=out.total * math.nan)
            return out * math.nan

        trainer.train_epoch = counting
        setattr(trainer.method, f"{player}_loss", poisoned)

    return hook


@pytest.mark.parametrize(("method", "player"), [("adim", "teacher"), ("adim", "discriminator"), ("mimic", "student")])
def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path, method, player) -> None:
    out = tmp_path / "run"
    config = tiny(method=method)
    with pytest.raises(NonFiniteLossError) as info:
        train(config, out, progress=False, trainer_hook=nan_from_epoch(player, 2))
    error = info.value
    assert (error.player, error.epoch) == (player, 2)
    assert f"the {player}'s loss is not finite" in str(error)
    assert "epoch 2" in str(error)
    assert not (out / RESULT).exists()
    state = read_checkpoint(out)
    assert len(state["history"]) == 1
    assert all(math.isfinite(v) for v in state["history"][0].values())
    for params in state["trainer"]["players"].values():
        assert all(torch.isfinite(t).all() for t in params.values() if t.is_floating_point())
    # with the fault removed, resuming continues from epoch 1 and matches an uninterrupted run
    resumed = train(config, out, resume=True, progress=False)
    expected = reference(method=method)
    assert resumed["history"] == expected["history"]
    assert resumed["test_accuracy"] == expected["test_accuracy"]


def test_a_non_finite_pretraining_loss_names_the_player(tmp_path: Path) -> None:
    def poison_teacher(trainer: Trainer) -> None:
        with torch.no_grad():
            next(trainer.players.teacher.parameters()).fill_(math.nan)

    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="teacher's loss is not finite in pretraining epoch 1") as info:
        train(tiny(method="adim"), out, progress=False, trainer_hook=poison_teacher)
    assert info.value.stage == "pretraining"
    assert not (out / RESULT).exists()
    assert not (out / CHECKPOINT).exists()
    # the message says what exists: no checkpoint yet (pretraining comes before the first one)
    assert "no checkpoint was written yet" in str(info.value)
    assert "kept" not in str(info.value)


@pytest.mark.parametrize(("bad_epoch", "kept"), [(1, "written after pretraining"), (3, "of epoch 2")])
def test_a_non_finite_loss_message_names_the_checkpoint_that_is_kept(tmp_path: Path, bad_epoch, kept) -> None:
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        train(tiny(method="mimic"), out, progress=False, trainer_hook=nan_from_epoch("student", bad_epoch))
    message = str(info.value)
    assert f"the student's loss is not finite in training epoch {bad_epoch}: the run stopped and " in message
    assert f"the checkpoint {kept} is kept in {out / CHECKPOINT}" in message
    assert len(read_checkpoint(out)["history"]) == bad_epoch - 1


def test_a_non_finite_loss_without_a_folder_claims_no_checkpoint() -> None:
    with pytest.raises(NonFiniteLossError, match="nothing was saved") as info:
        train(tiny(method="mimic"), progress=False, trainer_hook=nan_from_epoch("student", 1))
    assert "checkpoint" not in str(info.value)


def test_non_finite_loss_errors_cross_process_boundaries() -> None:
    """Worker processes hand errors back pickled: the fields and the message survive."""
    import pickle

    error = NonFiniteLossError("teacher", 4, stage="pretraining")
    assert str(error) == (
        "the teacher's loss is not finite in pretraining epoch 4: the run stopped (try a smaller learning rate)"
    )
    error.record_kept("no checkpoint was written yet")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.player, copy.epoch, copy.stage, copy.kept) == ("teacher", 4, "pretraining", error.kept)
    assert str(copy) == str(error) and "and no checkpoint was written yet" in str(copy)


# ------------------------------------------------------------------------------------------------------
# Atomic writes
# ------------------------------------------------------------------------------------------------------


def test_a_crash_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    real_save = torch.save
    calls = {"n": 0}
    good = {}

    def crashing_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] < 3:  # after pretraining, after epoch 1
            return real_save(obj, path, *args, **kwargs)
        with open(path, "wb") as handle:  # half a file, then the crash
            handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    def remember(entry: dict) -> None:
        good["bytes"] = (out / CHECKPOINT).read_bytes()

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        train(tiny(method="adim"), out, progress=False, callback=remember)
    monkeypatch.setattr(torch, "save", real_save)
    assert calls["n"] == 3
    assert (out / CHECKPOINT).read_bytes() == good["bytes"]
    assert len(read_checkpoint(out)["history"]) == 1
    assert temp_files(out) == []
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]
    resumed = train(tiny(method="adim"), out, resume=True, progress=False)
    assert resumed["history"] == reference(method="adim")["history"]


def test_atomic_torch_save_leaves_no_temp_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "state.pt"
    files.atomic_torch_save({"value": 1}, path)
    before = path.read_bytes()

    def failing(obj, target, *args, **kwargs):
        Path(target).write_bytes(b"partial")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(torch, "save", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        files.atomic_torch_save({"value": 2}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]


def test_atomic_write_json_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "deep" / RESULT
    files.atomic_write_json(path, {"a": 1})  # creates the folder
    assert json.loads(path.read_text()) == {"a": 1}
    with pytest.raises(ValueError):
        files.atomic_write_json(path, {"a": math.nan})  # NaN is not JSON
    assert json.loads(path.read_text()) == {"a": 1}

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        files.atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == [RESULT]


# ------------------------------------------------------------------------------------------------------
# The teacher cache
# ------------------------------------------------------------------------------------------------------


def test_the_teacher_cache_is_shared_and_changes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "teachers"
    mimic = train(tiny(method="mimic"), tmp_path / "mimic", progress=False, teacher_cache=cache)
    files = sorted(cache.iterdir())
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    adim = train(tiny(method="adim"), tmp_path / "adim", progress=False, teacher_cache=cache)
    assert sorted(cache.iterdir()) == files
    assert files[0].stat().st_mtime_ns == stamp  # reused, not rewritten
    assert adim["pretraining"]["teacher"] == mimic["pretraining"]["teacher"]
    # a cached teacher gives the same run as a freshly pretrained one
    assert adim["history"] == reference(method="adim")["history"]
    assert mimic["history"] == reference(method="mimic")["history"]
    # another seed pretrains another teacher
    train(tiny(method="mimic", seed=1, epochs=1), tmp_path / "mimic1", progress=False, teacher_cache=cache)
    assert len(list(cache.iterdir())) == 2
    assert teacher_cache_key(tiny(method="mimic")) == teacher_cache_key(tiny(method="adim", nu=3.0))
    assert teacher_cache_key(tiny(method="mimic")) != teacher_cache_key(tiny(method="mimic", seed=1))


def test_the_teacher_cache_key_separates_devices() -> None:
    """A teacher pretrained on CUDA (bf16 autocast under precision "auto") is not bit-identical to one
    pretrained on the CPU: the cache must not hand one to a run on the other."""
    assert teacher_cache_key(tiny(device="cpu").resolved()) != teacher_cache_key(tiny(device="cuda").resolved())


@pytest.mark.parametrize("damage", ["truncate", "foreign"])
def test_a_damaged_checkpoint_fails_with_one_message_and_is_left_alone(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "run"
    stop = threading.Event()
    train(tiny(method="mimic"), folder, progress=False, stop=stop, callback=lambda entry: stop.set())
    checkpoint = folder / CHECKPOINT
    if damage == "truncate":
        checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    else:
        torch.save({"weights": torch.zeros(3)}, checkpoint)
    before = checkpoint.read_bytes()
    with pytest.raises(ValueError, match="checkpoint") as caught:
        train(tiny(method="mimic"), folder, resume=True, progress=False)
    assert str(checkpoint) in str(caught.value)
    assert checkpoint.read_bytes() == before
    assert not (folder / RESULT).exists()


def test_a_damaged_teacher_cache_is_retrained_and_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "teachers"
    first = train(tiny(method="mimic"), None, progress=False, teacher_cache=cache)
    (cached,) = cache.iterdir()
    cached.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="damaged teacher cache"):
        again = train(tiny(method="mimic"), None, progress=False, teacher_cache=cache)
    assert again["history"] == first["history"]
    assert torch.load(cached, weights_only=True)["summary"] == first["pretraining"]["teacher"]


def test_notebook_folder_smoke_is_temporary_full_is_under_runs(tmp_path):
    folder, handle = notebook_folder("06_explorer", "digits-e50", smoke=True)
    assert Path(folder).is_dir() and "advdist-06-smoke-" in folder
    handle.cleanup()
    assert not Path(folder).exists()
    assert notebook_folder("06_explorer", "digits-e50", smoke=False) == (
        str(Path("..") / "runs" / "06_explorer" / "digits-e50"),
        None,
    )
    assert notebook_folder("06_explorer", "x", smoke=True, out=tmp_path) == (str(tmp_path), None)
