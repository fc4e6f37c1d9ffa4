"""Batched members on the multi-label tag data (issue 16; image tag recommendation, TPAMI Sec. 5.2, Table 4).

A tag member draws its minibatches' labels from ``p_r`` with its own generator and its student's dropout masks from
a generator seeded as its solo run seeds torch, in the order of its solo run, and is evaluated by the solo loop's
ranking metrics: its history, ranking metrics and ``result.json`` are its solo run's. On the CPU the players'
forward and backward passes and the losses of each member are the solo ones bit for bit: the histories are equal.

Runs are tiny: a generated file of 300 training and 100 test items, 20 tags, 16 image and 12 text features
(``data_file``), n = 200, two epochs, one pretraining epoch each, single-threaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tiny_configs import D_IMAGE, TAGS, worst_member_difference, write_tag_file

from advdist_lab.data import load_data
from advdist_lab.experiments import tag_figures
from advdist_lab.experiments.table4_runs import run_table4
from advdist_lab.methods import TrainConfig
from advdist_lab.methods.loop import derive_seed
from advdist_lab.metrics import TAG_METRICS
from advdist_lab.models import BinaryDiscriminator, MulticlassDiscriminator, build_players
from advdist_lab.runs.ensemble import BatchedTrainer, member_state, stack_members, train_batch, train_members
from advdist_lab.runs.ensemble import members as ensemble_members
from advdist_lab.runs.ensemble.layers import MemberDropout, set_dropout_generators
from advdist_lab.runs.ensemble.plan import batch_tasks, default_members
from advdist_lab.runs.folder import RESULT, load_result
from advdist_lab.runs.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEEDS = (0, 1, 5)
TOLERANCE = 1e-5
TABLE4_TRAINED = ("ngan", "adib", "adim")  # Table 4's trained rows (KNN trains nothing)
TINY = {"n_train": 200, "epochs": 2, "teacher_pretrain_epochs": 1, "student_pretrain_epochs": 1, "device": "cpu"}


@pytest.fixture(scope="module")
def tag_file(tmp_path_factory) -> str:
    return write_tag_file(tmp_path_factory.mktemp("tags"))


def tiny(tag_file: str, **changes) -> TrainConfig:
    return TrainConfig(**{"dataset": "tags-popular", "data_file": tag_file, **TINY, **changes})


def _worst(solo: dict, member: dict) -> float:
    """The largest difference of a member's history (and pretraining) from its solo run's; equal keys asserted."""
    assert len(solo["history"]) == TINY["epochs"]
    return worst_member_difference(solo, member)


def _top_level(result: dict) -> dict:
    """The result's numbers besides its history: ``test_accuracy`` and the ranking metrics (``p@3``, ``map``...)."""
    return {k: v for k, v in result.items() if k in ("test_accuracy", "teacher_test_accuracy", *TAG_METRICS)} | {
        k: v for k, v in result.items() if k.startswith("teacher_") and k[len("teacher_") :] in TAG_METRICS
    }


# ------------------------------------------------------------------------------------------------------
# the tag players stack; dropout masks per member are the solo runs'
# ------------------------------------------------------------------------------------------------------


def test_tag_players_stack_and_follow_their_solo_players(tag_file: str) -> None:
    data = load_data("tags-popular", 200, device="cpu", data_file=tag_file)
    arch = _architecture(data)
    makers = {
        "student": (arch.student, data.train.x_student),
        "teacher": (arch.teacher, data.train.x),
        "binary": (lambda: BinaryDiscriminator(arch.discriminator_backbone()), data.train.x),
        "multiclass": (
            lambda: MulticlassDiscriminator(arch.discriminator_backbone(), arch.discriminator_backbone()),
            data.train.x,
        ),
    }
    index = torch.stack([torch.randperm(200, generator=torch.Generator().manual_seed(s))[:30] for s in SEEDS])
    for name, (make, x) in makers.items():
        solos = []
        for seed in SEEDS:
            torch.manual_seed(derive_seed(seed, "init-student"))
            solos.append(make().eval())
        batched = stack_members(solos)
        with torch.no_grad():
            out = _forward(batched, x[index])
            for m, solo in enumerate(solos):
                assert torch.allclose(out[m], _forward(solo, x[index[m]]), atol=1e-6, rtol=0), (name, m)
                state = member_state(batched, m)
                assert state.keys() == solo.state_dict().keys()
                assert all(torch.equal(state[k], v) for k, v in solo.state_dict().items())


def _architecture(data):
    return build_players(
        "tags-popular",
        num_classes=TAGS,
        input_shape=data.input_shape,
        student_shape=data.student_shape,
        feature_dims=data.feature_dims,
    )


def _forward(module, x):
    if hasattr(module, "head_label_logits"):
        return torch.cat(module.head_label_logits(x), dim=-1)
    if hasattr(module, "label_logits"):
        return module.label_logits(x)
    return module(x)


def test_member_dropout_draws_each_solo_runs_masks(tag_file: str) -> None:
    """The tag student has dropout: member m's masks, drawn from its own generator, are those that its solo run
    draws from torch's global generator seeded alike (bit for bit on the CPU); without generators they are not."""
    data = load_data("tags-popular", 200, device="cpu", data_file=tag_file)
    arch = _architecture(data)
    solos = []
    for seed in SEEDS:
        torch.manual_seed(derive_seed(seed, "init-student"))
        solos.append(arch.student().train())
    assert any(isinstance(layer, torch.nn.Dropout) and layer.p > 0 for layer in solos[0].modules())
    batched = stack_members(solos)
    x = data.train.x_student[:50].expand(len(SEEDS), 50, D_IMAGE)
    epoch_seeds = [derive_seed(seed, "train", 3) for seed in SEEDS]
    set_dropout_generators(batched, [torch.Generator().manual_seed(s) for s in epoch_seeds])
    out = batched(x)
    twice = batched(x)  # the generators go on: the second pass draws the solo run's second masks
    for m, solo in enumerate(solos):
        torch.manual_seed(epoch_seeds[m])
        assert torch.equal(out[m], solo(x[m]))
        assert torch.equal(twice[m], solo(x[m]))
    set_dropout_generators(batched, None)
    torch.manual_seed(epoch_seeds[0])
    assert not torch.equal(batched(x)[1], out[1])


# ------------------------------------------------------------------------------------------------------
# a member of a batch is its solo run: history, ranking metrics, result.json
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", (*TABLE4_TRAINED, "adim-ngs", "mimic"))
def test_a_tag_member_equals_its_solo_run(tag_file: str, method: str) -> None:
    configs = [tiny(tag_file, method=method, seed=seed) for seed in SEEDS]
    members = train_members(configs)
    for config, member in zip(configs, members):
        solo = train(config, progress=False)
        assert _worst(solo, member) <= TOLERANCE
        # on the CPU the players' passes and the losses are the solo ones bit for bit
        assert member["history"] == solo["history"] and member["pretraining"] == solo["pretraining"]
        for player in ("student", "teacher") if config.has_teacher else ("student",):
            assert {f"{player}_{name}" for name in TAG_METRICS} <= member["history"][-1].keys()
        numbers, solo_numbers = _top_level(member), _top_level(solo)
        assert numbers.keys() == solo_numbers.keys() and set(TAG_METRICS) <= numbers.keys()
        assert all(abs(numbers[k] - solo_numbers[k]) <= TOLERANCE for k in numbers)
        assert member["status"] == "finished"
    # three runs, not one run three times: every member draws its own labels and noise
    assert len({m["history"][-1]["student_loss"] for m in members}) == len(SEEDS)


def test_a_tag_members_folder_holds_its_solo_runs_result(tag_file: str, tmp_path: Path) -> None:
    configs = [tiny(tag_file, method="adim", seed=seed) for seed in SEEDS[:2]]
    train_batch(configs, [tmp_path / "batch" / str(s) for s in SEEDS[:2]])
    for config, seed in zip(configs, SEEDS):
        member = load_result(tmp_path / "batch" / str(seed))
        solo_result = train(config, tmp_path / "solo" / str(seed), progress=False)
        solo = load_result(tmp_path / "solo" / str(seed))
        assert solo == solo_result
        assert member.keys() == solo.keys()  # the solo result's fields, the tag metrics at the top level
        assert member["config"] == solo["config"]
        assert member["timing"]["batch_members"] == 2
        assert _worst(solo, member) <= TOLERANCE
        assert all(abs(member[k] - solo[k]) <= TOLERANCE for k in _top_level(solo))


def test_a_non_finite_tag_member_stops_alone(tag_file: str) -> None:
    """A stopped member's scores are not ranked (they are not finite); the others finish as their solo runs."""
    configs = [tiny(tag_file, method="adim", seed=seed) for seed in SEEDS]

    def poison(trainer: BatchedTrainer) -> None:
        with torch.no_grad():
            for param in trainer.players.discriminator.parameters():
                param[1] = math.inf

    members = train_members(configs, trainer_hook=poison)
    assert members[1]["status"] == "non-finite"
    assert members[1]["error"].startswith(f"member 1 (seed {SEEDS[1]}): the discriminator's loss is not finite")
    assert "map" not in members[1]
    for m in (0, 2):
        assert _worst(train(configs[m], progress=False), members[m]) <= TOLERANCE


# ------------------------------------------------------------------------------------------------------
# Table 4 and Fig. 8 batch their seeds by default
# ------------------------------------------------------------------------------------------------------


def test_tag_runs_batch_by_default(tag_file: str) -> None:
    assert default_members("tags-popular") == default_members("tags-random") > 1
    configs = [tiny(tag_file, method=method, seed=seed) for method in TABLE4_TRAINED for seed in SEEDS]
    assert batch_tasks(configs, 8) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert batch_tasks([tiny(tag_file, seed=s, probe_gradients=True) for s in SEEDS], 8) == [[0], [1], [2]]


def test_table4_with_members_equals_the_solo_table(tag_file: str, tmp_path: Path, monkeypatch) -> None:
    options = {"label_sets": ("popular",), "progress": False, "jobs": 1, "data_file": tag_file, **TINY}
    batched = run_table4(2, tmp_path / "batched", members=2, **options)
    solo = run_table4(2, tmp_path / "solo", members=1, **options)
    assert batched["markdown"] == solo["markdown"]
    for method, row in solo["table"]["popular"].items():
        for key, value in row.items():
            other = batched["table"]["popular"][method][key]
            assert other == value if not isinstance(value, float) else abs(other - value) <= TOLERANCE
    for one, other in zip(batched["results"], solo["results"]):
        assert one["config"] == other["config"]
        if one["config"]["method"] in TABLE4_TRAINED:
            assert one["timing"]["batch_members"] == 2 and "batch_members" not in other["timing"]
            assert _worst(other, one) <= TOLERANCE

    # a rerun reads every member back: nothing trained, no result rewritten
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "batched").rglob(RESULT)}
    assert len(stamps) == 2 * (len(TABLE4_TRAINED) + 1)  # two seeds of ngan, adib, adim and knn

    def no_training(*args, **kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(ensemble_members, "BatchedTrainer", no_training)
    again = run_table4(2, tmp_path / "batched", members=2, **options)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "batched").rglob(RESULT)} == stamps
    assert again["table"] == batched["table"]


@pytest.mark.parametrize("members", [0, -1, 1.5, "2", True])
def test_bad_members_are_refused_before_any_work(tag_file: str, tmp_path: Path, members) -> None:
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        run_table4(1, tmp_path / "t4", members=members, label_sets=("popular",), data_file=tag_file, **TINY)
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        tag_figures.run_fig8(tmp_path / "f8", seeds=1, members=members, data_file=tag_file, **TINY)
    assert not (tmp_path / "t4").exists() and not (tmp_path / "f8").exists()


def test_member_dropout_keeps_the_arithmetic_of_torch_dropout() -> None:
    """MemberDropout keeps F.dropout's arithmetic: noise = bernoulli(1 - p) / (1 - p), times the input."""
    layer = MemberDropout(0.25).train()
    x = torch.randn(2, 5, 7)
    layer.generators = (torch.Generator().manual_seed(3), torch.Generator().manual_seed(4))
    out = layer(x)
    for m, seed in enumerate((3, 4)):
        torch.manual_seed(seed)
        assert torch.equal(out[m], F.dropout(x[m], 0.25, training=True))
    assert torch.equal(layer.eval()(x), x)


def test_lenet_members_draw_their_solo_runs_dropout_masks() -> None:
    """The MNIST players' dropout (LeNet's classifier, the MLP student) per member, too: in training mode member
    m's output is its solo run's under the solo run's seed (to the grouped convolution's rounding)."""
    arch = build_players("mnist", num_classes=10, input_shape=(1, 28, 28), student_shape=(1, 28, 28))
    x = torch.randn(len(SEEDS), 4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for make in (arch.teacher, arch.student):
        solos = []
        for seed in SEEDS:
            torch.manual_seed(seed)
            solos.append(make().train())
        batched = stack_members(solos)
        set_dropout_generators(batched, [torch.Generator().manual_seed(100 + s) for s in SEEDS])
        with torch.no_grad():
            out = batched(x)
            for m, solo in enumerate(solos):
                torch.manual_seed(100 + SEEDS[m])
                assert torch.allclose(out[m], solo(x[m]), atol=1e-5, rtol=0)
