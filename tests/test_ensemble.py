"""The ensemble dimension (:mod:`advdist_lab.runs.ensemble`): M runs trained as one batched model.

Why the comparisons are within a tolerance, not bit-identical: a batched matmul (``baddbmm``) and a grouped
convolution sum their products in another order than the solo ``addmm`` and convolution kernels, so a member's
logits differ from its solo run's in the last bits (measured: at most about 5e-7 on the tiny histories below);
everything else (seeds, minibatch order, label and Gumbel noise, the losses' reductions) is the solo run's. The
tests bound forward passes by 1e-5 and histories by 1e-4, as issue 16 asks.
"""

from __future__ import annotations

import math

import pytest
import torch
from tiny_configs import tiny, worst_member_difference  # tests/ is on sys.path

from advdist_lab.data import load_data
from advdist_lab.gumbel import adversarial_surrogate
from advdist_lab.losses import (
    adim_discriminator_loss,
    cross_entropy,
    hinton_kd_loss,
    kd_loss,
    kl_loss,
    l2_logit_loss,
    ngan_discriminator_loss,
    noisy_teacher_logits,
)
from advdist_lab.methods import METHODS
from advdist_lab.methods.base import label_scores
from advdist_lab.methods.loop import derive_seed
from advdist_lab.models import MLP, BinaryDiscriminator, MulticlassDiscriminator, build_players
from advdist_lab.runs.ensemble import BatchedTrainer, MemberNonFiniteError, member_state, stack_members, train_members
from advdist_lab.runs.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEEDS = (0, 1, 5)
FORWARD_TOLERANCE = 1e-5
HISTORY_TOLERANCE = 1e-4


def _players(dataset: str, seed: int, shape: tuple[int, ...]) -> dict[str, torch.nn.Module]:
    """The solo players of a run of ``seed``, initialised as :class:`~advdist_lab.methods.loop.Trainer` does."""
    arch = build_players(dataset, num_classes=10, input_shape=shape, student_shape=shape)
    out = {}
    for name, make in (
        ("student", arch.student),
        ("teacher", arch.teacher),
        ("binary", lambda: BinaryDiscriminator(arch.discriminator_backbone())),
        ("multiclass", lambda: MulticlassDiscriminator(arch.discriminator_backbone(), arch.discriminator_backbone())),
    ):
        torch.manual_seed(derive_seed(seed, "init-" + ("discriminator" if name in ("binary", "multiclass") else name)))
        out[name] = make()
    return out


def _forward(module, x):
    if isinstance(module, BinaryDiscriminator):
        return module.label_logits(x)
    if isinstance(module, MulticlassDiscriminator):
        return torch.cat(module.head_label_logits(x), dim=-1)
    if hasattr(module, "label_logits"):
        return module.label_logits(x)
    if hasattr(module, "head_label_logits"):
        return torch.cat(module.head_label_logits(x), dim=-1)
    return module(x)


# ------------------------------------------------------------------------------------------------------
# Item 1: batched players, member m = solo run m
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "shape", "players"),
    [
        ("digits", (1, 8, 8), ("student", "teacher", "binary", "multiclass")),
        ("mnist", (1, 28, 28), ("student", "teacher")),  # dropout: compared in evaluation mode
    ],
)
def test_member_forward_equals_the_solo_forward(dataset, shape, players) -> None:
    solos = [_players(dataset, seed, shape) for seed in SEEDS]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(len(SEEDS), 7, *shape, generator=generator)
    for name in players:
        modules = [s[name].eval() for s in solos]
        batched = stack_members(modules)
        assert not batched.training
        with torch.no_grad():
            out = _forward(batched, x)
            for m, module in enumerate(modules):
                solo = _forward(module, x[m])
                assert out[m].shape == solo.shape
                assert torch.allclose(out[m], solo, atol=FORWARD_TOLERANCE, rtol=0), (name, m)
                shared = _forward(batched, x[:1].expand(len(SEEDS), *x.shape[1:]))[m]  # evaluation's shared input
                assert torch.allclose(shared, _forward(module, x[0]), atol=FORWARD_TOLERANCE, rtol=0), (name, m)
                state = member_state(batched, m)
                assert state.keys() == module.state_dict().keys()
                assert all(torch.equal(state[k], v) for k, v in module.state_dict().items())


def test_members_get_their_own_gradients() -> None:
    """The sum of the members' losses has each member's solo gradient: no operation mixes members."""
    solos = [_players("digits", seed, (1, 8, 8))["teacher"] for seed in SEEDS]
    batched = stack_members(solos)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(len(SEEDS), 5, 1, 8, 8, generator=generator)
    y = torch.randint(0, 10, (len(SEEDS), 5), generator=generator)
    cross_entropy(batched(x), y).sum().backward()
    for m, solo in enumerate(solos):
        cross_entropy(solo(x[m]), y[m]).backward()
        for (key, param), (solo_key, solo_param) in zip(batched.named_parameters(), solo.named_parameters()):
            assert key == solo_key
            assert torch.allclose(param.grad[m], solo_param.grad, atol=1e-6, rtol=1e-5), key


def test_stack_members_refuses_what_it_cannot_batch() -> None:
    with pytest.raises(ValueError, match="at least one module"):
        stack_members([])
    with pytest.raises(ValueError, match="stack_members supports MLP"):
        stack_members([torch.nn.Linear(2, 2)])
    solos = [MLP(64, (64,), 10), MLP(16, (64,), 10)]
    with pytest.raises(ValueError, match="member 1 is not a MLP of member 0's architecture"):
        stack_members(solos)
    batched = stack_members(solos[:1] * 2)
    with pytest.raises(ValueError, match="expects input \\(M, B, ...\\) with M = 2"):
        batched(torch.zeros(3, 4, 64))


# ------------------------------------------------------------------------------------------------------
# The shared losses over a leading member dimension: member m's value is the 2-D loss of its slice
# ------------------------------------------------------------------------------------------------------


def test_losses_of_members_are_the_losses_of_their_slices() -> None:
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 6, 4, generator=g), torch.randn(3, 6, 4, generator=g)
    y = torch.randint(0, 4, (3, 6), generator=g)
    soft = torch.softmax(torch.randn(3, 6, 4, generator=g), -1)
    cases = [
        (lambda s: kl_loss(a[s], b[s]), lambda: kl_loss(a, b)),
        (lambda s: cross_entropy(a[s], y[s]), lambda: cross_entropy(a, y)),
        (lambda s: cross_entropy(a[s], soft[s]), lambda: cross_entropy(a, soft)),
        (lambda s: kd_loss(a[s], b[s], soft[s], 0.5), lambda: kd_loss(a, b, soft, 0.5)),
        (lambda s: l2_logit_loss(a[s], b[s]), lambda: l2_logit_loss(a, b)),
        (lambda s: hinton_kd_loss(a[s], b[s], y[s], 3.0, 0.5), lambda: hinton_kd_loss(a, b, y, 3.0, 0.5)),
        (
            lambda s: ngan_discriminator_loss(a[s, :, 0], b[s, :, 0]),
            lambda: ngan_discriminator_loss(a[..., 0], b[..., 0]),
        ),
        (
            lambda s: adim_discriminator_loss(a[s, :, :3], b[s, :, :3], a[s, :, 1:], (0.2, 0.5, 0.3)),
            lambda: adim_discriminator_loss(a[..., :3], b[..., :3], a[..., 1:], (0.2, 0.5, 0.3)),
        ),
        (lambda s: label_scores(a[s], y[s]), lambda: label_scores(a, y)),
    ]
    for per_slice, batched in cases:
        out = batched()
        assert out.shape[0] == 3
        for m in range(3):
            assert torch.allclose(out[m], per_slice(m), atol=1e-6), per_slice


@pytest.mark.parametrize("estimator", ["score", "pathwise", "straight_through", "concrete_score"])
def test_member_generators_draw_what_each_run_draws(estimator) -> None:
    logits = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(3), requires_grad=True)
    head = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(4))
    gens = [torch.Generator().manual_seed(s) for s in SEEDS]
    out = adversarial_surrogate(
        logits, lambda y: label_scores(head, y), estimator=estimator, tau=0.7, generator=gens, baseline="mean"
    )
    assert out.loss.shape == (3,) and out.value.shape == (3,) and out.sample.shape == (3, 5, 4)
    out.loss.sum().backward()
    for m, seed in enumerate(SEEDS):
        leaf = logits.detach()[m].requires_grad_(True)
        solo = adversarial_surrogate(
            leaf,
            lambda y, m=m: label_scores(head[m], y),
            estimator=estimator,
            tau=0.7,
            generator=torch.Generator().manual_seed(seed),
            baseline="mean",
        )
        solo.loss.backward()
        assert torch.allclose(out.sample[m], solo.sample, atol=1e-6)
        assert torch.allclose(out.loss[m], solo.loss, atol=1e-6)
        assert torch.allclose(logits.grad[m], leaf.grad, atol=1e-6)
    noisy = noisy_teacher_logits(head, 0.1, [torch.Generator().manual_seed(s) for s in SEEDS])
    for m, seed in enumerate(SEEDS):
        assert torch.equal(noisy[m], noisy_teacher_logits(head[m], 0.1, torch.Generator().manual_seed(seed)))
    with pytest.raises(ValueError, match="one generator per member"):
        adversarial_surrogate(logits[0], lambda y: y.sum(-1), estimator=estimator, generator=gens)


# ------------------------------------------------------------------------------------------------------
# Item 2: every member's history equals its solo run's
# ------------------------------------------------------------------------------------------------------


def _worst_difference(solo: dict, member: dict) -> float:
    assert member["status"] == "finished"
    worst = worst_member_difference(solo, member)
    for key in ("test_accuracy", "teacher_test_accuracy"):
        assert (key in solo) == (key in member)
        if key in solo:
            worst = max(worst, abs(solo[key] - member[key]))
    return worst


VARIANTS = [{"method": m} for m in METHODS] + [
    {"method": "adim", "estimator": "score", "discriminator_pretrain_epochs": 1},
    {"method": "adim", "estimator": "straight_through", "eval_every": 2},
    {"method": "ngan", "estimator": "concrete_score", "baseline": "none"},
    {"method": "adib", "estimator": "pathwise", "student_pretrain_epochs": 0},
]


@pytest.mark.parametrize("changes", VARIANTS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_every_member_follows_its_solo_run(changes) -> None:
    configs = [tiny(seed=seed, **changes) for seed in SEEDS]
    members = train_members(configs)
    assert [r["config"]["seed"] for r in members] == list(SEEDS)
    for config, member in zip(configs, members):
        assert _worst_difference(train(config, progress=False), member) <= HISTORY_TOLERANCE


GRIDS = [
    (
        "adim",
        [
            {"omega_r": 0.2, "omega_s": 0.5, "omega_t": 0.3, "nu": 1.0},
            {"omega_r": 0.6, "omega_s": 0.2, "omega_t": 0.2, "nu": 0.1},
        ],
    ),
    ("adib", [{"omega_s": 0.5, "omega_t": 0.5, "mu": 0.01}, {"omega_s": 0.9, "omega_t": 0.1, "mu": 0.5}]),
    ("distn", [{"distn_alpha": 0.5}, {"distn_alpha": 0.9}]),
    ("codis", [{"codis_weight": 1.0}, {"codis_weight": 0.3}]),
]


@pytest.mark.parametrize(("method", "points"), GRIDS, ids=[m for m, _ in GRIDS])
def test_grid_points_that_differ_in_weights_follow_their_solo_runs(method, points) -> None:
    configs = [tiny(method=method, seed=seed, **point) for point in points for seed in SEEDS[:2]]
    members = train_members(configs)
    for config, member in zip(configs, members):
        assert _worst_difference(train(config, progress=False), member) <= HISTORY_TOLERANCE


def test_members_differ_from_each_other() -> None:
    """The members are three runs, not one run three times (a shared generator would make them equal)."""
    members = train_members([tiny(method="noisy", seed=seed) for seed in SEEDS])
    losses = {r["history"][-1]["student_loss"] for r in members}
    assert len(losses) == len(SEEDS)


# ------------------------------------------------------------------------------------------------------
# Item 4: a non-finite member stops alone, named; the others finish as their solo runs
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "player"), [("mimic", "student"), ("adim", "discriminator")])
def test_a_non_finite_member_stops_alone(method, player) -> None:
    configs = [tiny(method=method, seed=seed) for seed in SEEDS]

    def poison(trainer: BatchedTrainer) -> None:
        with torch.no_grad():
            for param in getattr(trainer.players, player).parameters():
                param[1] = math.inf

    members = train_members(configs, trainer_hook=poison)
    stopped = members[1]
    assert stopped["status"] == "non-finite"
    assert stopped["error"].startswith(f"member 1 (seed {SEEDS[1]}): the {player}'s loss is not finite")
    assert "test_accuracy" not in stopped
    for m in (0, 2):
        assert _worst_difference(train(configs[m], progress=False), members[m]) <= HISTORY_TOLERANCE


def test_member_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(MemberNonFiniteError(2, 7, "student", 3)))
    assert str(error).startswith("member 2 (seed 7): the student's loss is not finite in training epoch 3")


def test_members_must_share_all_but_their_seeds() -> None:
    data = load_data("digits", 30, device="cpu")
    with pytest.raises(ValueError, match="member 1 differs from member 0 in lr_student"):
        BatchedTrainer([tiny(seed=0), tiny(seed=1, lr_student=0.5)], data, "cpu")
    with pytest.raises(ValueError, match="member 1 differs from member 0 in upsilon"):
        BatchedTrainer([tiny(), tiny(upsilon=0.5)], data, "cpu")
    with pytest.raises(ValueError, match="probe_gradients is for single runs"):
        BatchedTrainer([tiny(probe_gradients=True)], data, "cpu")
    with pytest.raises(ValueError, match="at least one TrainConfig"):
        BatchedTrainer([], data, "cpu")
