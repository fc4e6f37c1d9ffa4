"""Tests of advdist_lab.models: the paper's parameter counts, output shapes, and the discriminators' algebra."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn

from advdist_lab.models import (
    DATASETS,
    MLP,
    TABLE2_PARAMETERS,
    TABLE3_PARAMETERS,
    Architecture,
    BinaryDiscriminator,
    DenseNet,
    LeNet,
    MulticlassDiscriminator,
    build_players,
    count_parameters,
)

K = 10
SHAPES = {
    "mnist": ((1, 28, 28), (1, 28, 28)),
    "cifar10": ((3, 32, 32), (3, 32, 32)),
    "digits": ((1, 8, 8), (1, 8, 8)),
    "digits-lowres": ((1, 8, 8), (1, 4, 4)),
    "synthetic": ((12,), (5,)),
}
TABLE2_TOLERANCE = {("mnist", "student"): 0.005, ("mnist", "teacher"): 0.005}
TABLE2_TOLERANCE |= {("cifar10", "student"): 0.005, ("cifar10", "teacher"): 0.03}


def preset(name: str) -> Architecture:
    input_shape, student_shape = SHAPES[name]
    return build_players(name.split("-")[0], num_classes=K, input_shape=input_shape, student_shape=student_shape)


@pytest.fixture(scope="module")
def paper_counts() -> dict[str, dict[str, int]]:
    """Parameter counts of the freshly built MNIST and CIFAR-10 players (built once: the DenseNets are big)."""
    counts = {}
    for name in ("mnist", "cifar10"):
        arch = preset(name)
        counts[name] = {
            "student": count_parameters(arch.student()),
            "teacher": count_parameters(arch.teacher()),
            "discriminator": count_parameters(arch.discriminator_backbone()),
        }
    return counts


# ------------------------------------------------------------------------------------------------------
# Parameter counts (TPAMI Tables 2 and 3)
# ------------------------------------------------------------------------------------------------------


def test_known_counts():
    assert count_parameters(MLP(784, (800, 800), 10)) == 1_276_810  # the original MNIST student
    assert count_parameters(LeNet(1, 28, 10)) == 3_274_634  # the original LeNet with fc1024
    assert count_parameters(DenseNet(100, 12, 10)) == 769_162  # DenseNet-BC (L=100, k=12): 0.8M in its paper


def test_count_parameters_ignores_frozen():
    model = MLP(4, (3,), 2)
    model.net[0].weight.requires_grad_(False)
    assert count_parameters(model) == (4 * 3 + 3 + 3 * 2 + 2) - 4 * 3


@pytest.mark.parametrize(("dataset", "player"), sorted(TABLE2_PARAMETERS))
def test_table2_parameters(paper_counts, dataset, player):
    target = TABLE2_PARAMETERS[dataset, player]
    measured = paper_counts[dataset][player]
    assert abs(measured - target) / target <= TABLE2_TOLERANCE[dataset, player], (dataset, player, measured)


@pytest.mark.parametrize(("dataset", "method"), sorted(TABLE3_PARAMETERS))
def test_table3_parameters(paper_counts, dataset, method):
    c = paper_counts[dataset]
    heads = 1 if method == "adib" else 2  # ADIM's discriminator: real-vs-fake and student-vs-teacher heads
    measured = c["student"] + c["teacher"] + heads * c["discriminator"]
    target = TABLE3_PARAMETERS[dataset, method]
    assert abs(measured - target) / target <= 0.01, (dataset, method, measured)


def test_discriminator_backbone_is_the_teacher_architecture(paper_counts):
    for counts in paper_counts.values():
        assert counts["discriminator"] == counts["teacher"]


def test_multiclass_discriminator_of_a_preset_has_two_heads():
    arch = preset("digits")
    disc = arch.multiclass_discriminator()
    assert count_parameters(disc) == 2 * count_parameters(arch.discriminator_backbone())
    assert count_parameters(arch.binary_discriminator()) == count_parameters(arch.discriminator_backbone())


# ------------------------------------------------------------------------------------------------------
# Output shapes
# ------------------------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Run the test on one CPU thread: a 136-layer DenseNet on two images is a chain of tiny kernels, which
    thread synchronisation slows down tenfold on a busy two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_preset_output_shapes(name, one_thread):
    input_shape, student_shape = SHAPES[name]
    arch = preset(name)
    batch = 2 if name == "cifar10" else 5  # one small forward pass of the DenseNets
    x, x_student = torch.randn(batch, *input_shape), torch.randn(batch, *student_shape)
    with torch.no_grad():
        for factory, inputs in ((arch.student, x_student), (arch.teacher, x), (arch.discriminator_backbone, x)):
            model = factory().eval()
            out = model(inputs)
            assert out.shape == (batch, K)
            assert torch.isfinite(out).all()


def test_lowres_student_reads_the_student_view_only():
    arch = preset("digits-lowres")
    student = arch.student()
    assert student(torch.randn(3, 1, 4, 4)).shape == (3, K)
    with pytest.raises(ValueError, match="16 features"):
        student(torch.randn(3, 1, 8, 8))


def test_presets_build_fresh_modules():
    arch = preset("digits")
    a, b = arch.teacher(), arch.teacher()
    assert a is not b
    assert not torch.equal(a.classifier[-1].weight, b.classifier[-1].weight)


def test_lenet_and_densenet_reject_wrong_images():
    with pytest.raises(ValueError, match="shape"):
        LeNet(1, 8, 3, channels=(4, 4), hidden=8, kernel=3)(torch.randn(2, 1, 7, 7))
    with pytest.raises(ValueError, match="at least 4x4"):
        LeNet(1, 3, 3)
    small = DenseNet(10, 4, 3)
    assert small(torch.randn(2, 3, 16, 16)).shape == (2, 3)
    with pytest.raises(ValueError, match="in_channels|shape"):
        small(torch.randn(2, 1, 16, 16))


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: MLP(0, (4,), 2), "in_features"),
        (lambda: MLP(4, (4, 0), 2), r"hidden\[1\]"),
        (lambda: MLP(4, (4,), 2, dropout=1.0), "dropout"),
        (lambda: LeNet(1, 8, 2, channels=()), "channels"),
        (lambda: LeNet(1, 8, 2, kernel=4), "kernel must be odd"),
        (lambda: DenseNet(11, 4, 2), "depth must be 4 \\+ 6 n"),
        (lambda: DenseNet(13, 4, 2, bottleneck=False), None),
        (lambda: DenseNet(10, 4, 2, reduction=0.0), "reduction"),
    ],
)
def test_backbone_hyperparameters_are_validated(factory, match):
    if match is None:  # a valid configuration: DenseNet without bottlenecks, depth 4 + 3 * 3
        assert factory().depth == 13
        return
    with pytest.raises(ValueError, match=match):
        factory()


# ------------------------------------------------------------------------------------------------------
# BinaryDiscriminator
# ------------------------------------------------------------------------------------------------------


def small_backbone(in_features: int = 6, k: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return MLP(in_features, (8,), k)


def test_binary_int_labels_equal_one_hot_labels():
    disc = BinaryDiscriminator(small_backbone())
    x, y = torch.randn(7, 6), torch.randint(0, 4, (7,))
    one_hot = nn.functional.one_hot(y, 4).float()
    torch.testing.assert_close(disc(x, y), disc(x, one_hot))
    torch.testing.assert_close(disc(x, y), disc.label_logits(x)[torch.arange(7), y])
    assert disc(x, y).shape == (7,)


def test_binary_relaxed_labels_are_convex_combinations():
    disc = BinaryDiscriminator(small_backbone())
    x = torch.randn(5, 6)
    weights = torch.softmax(torch.randn(5, 4), dim=-1)
    per_label = torch.stack([disc(x, torch.full((5,), k)) for k in range(4)], dim=-1)  # (B, K)
    torch.testing.assert_close(disc(x, weights), (weights * per_label).sum(-1))
    assert not torch.allclose(disc(x, weights), per_label.max(-1).values)


def test_binary_log_probs_are_stable_and_complementary():
    disc = BinaryDiscriminator(HugeBackbone(1e4))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    real, fake = disc.log_prob_real(x, y), disc.log_prob_fake(x, y)
    assert torch.isfinite(real).all() and torch.isfinite(fake).all()
    torch.testing.assert_close(real.exp() + fake.exp(), torch.ones(4))


def test_binary_relaxed_labels_pass_gradients_to_the_label():
    disc = BinaryDiscriminator(small_backbone())
    x = torch.randn(3, 6)
    weights = torch.softmax(torch.randn(3, 4), dim=-1).requires_grad_(True)
    disc.log_prob_real(x, weights).sum().backward()
    assert weights.grad is not None and weights.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "y",
    [
        torch.zeros(6, dtype=torch.long),  # wrong batch
        torch.zeros(5, 1, dtype=torch.long),  # integer labels must be (B,)
        torch.zeros(5, 3),  # wrong K
        torch.zeros(5),  # float labels must be (B, K)
        torch.zeros(5, 4, dtype=torch.bool),
        torch.tensor([0, 1, 2, 3, 4]),  # label K is out of range
        torch.tensor([0, -1, 2, 3, 0]),
    ],
)
def test_binary_bad_labels_raise(y):
    disc = BinaryDiscriminator(small_backbone())
    with pytest.raises(ValueError, match="y must|labels y"):
        disc(torch.randn(5, 6), y)


def test_binary_backbone_must_return_label_logits():
    disc = BinaryDiscriminator(nn.Linear(6, 4))
    assert disc(torch.randn(2, 6), torch.tensor([0, 3])).shape == (2,)
    with pytest.raises(ValueError, match="one logit per label"):
        BinaryDiscriminator(nn.Flatten(0))(torch.randn(2, 6), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="nn.Module"):
        BinaryDiscriminator(lambda x: x)


# ------------------------------------------------------------------------------------------------------
# MulticlassDiscriminator
# ------------------------------------------------------------------------------------------------------


class HugeBackbone(nn.Module):
    """Per-label logits of magnitude ``scale``, with alternating signs, that depend on ``x`` through a weight."""

    def __init__(self, scale: float, k: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        signs = torch.tensor([(-1.0) ** i for i in range(k)])
        self.register_buffer("logits", scale * signs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * self.logits.expand(x.shape[0], -1) + 0 * x.sum(-1, keepdim=True)


def multiclass(seed: int = 0) -> MulticlassDiscriminator:
    torch.manual_seed(seed)
    return MulticlassDiscriminator(MLP(6, (8,), 4), MLP(6, (8,), 4))


def test_multiclass_probabilities_sum_to_one():
    disc = multiclass()
    x = torch.randn(9, 6)
    for y in (torch.randint(0, 4, (9,)), torch.softmax(torch.randn(9, 4), dim=-1)):
        log_p = disc.log_probs(x, y)
        assert log_p.shape == (9, 3)
        assert (log_p < 0).all()
        torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(9))
    torch.testing.assert_close(disc(x, y), disc.log_probs(x, y))
    assert MulticlassDiscriminator.ORDER == ("r", "s", "t")


def test_multiclass_matches_the_two_head_formula():
    disc = multiclass()
    x, y = torch.randn(5, 6), torch.randint(0, 4, (5,))
    h1 = disc.real_fake(x)[torch.arange(5), y]
    h2 = disc.student_teacher(x)[torch.arange(5), y]
    d_r = torch.sigmoid(h1)
    expected = torch.stack((d_r, (1 - d_r) * torch.sigmoid(h2), (1 - d_r) * torch.sigmoid(-h2)), dim=-1)
    torch.testing.assert_close(disc.log_probs(x, y).exp(), expected)


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_multiclass_log_probs_finite_for_huge_logits(scale):
    disc = MulticlassDiscriminator(HugeBackbone(scale), HugeBackbone(-scale))
    x = torch.randn(4, 3)
    for y in (torch.arange(4), nn.functional.one_hot(torch.arange(4), 4).float()):
        log_p = disc.log_probs(x, y)
        assert torch.isfinite(log_p).all()
        torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(4))
        assert log_p.min() < -1e3  # the tiny probabilities are resolved in log-space, not clipped to log(eps)
    all_labels = disc.log_probs_all_labels(x)
    assert torch.isfinite(all_labels).all()
    log_p.sum().backward()
    for p in disc.parameters():
        assert torch.isfinite(p.grad).all()


def test_log_probs_all_labels_agrees_with_log_probs():
    disc = multiclass()
    x = torch.randn(6, 6)
    table = disc.log_probs_all_labels(x)
    assert table.shape == (6, 4, 3)
    for k in range(4):
        torch.testing.assert_close(table[:, k], disc.log_probs(x, torch.full((6,), k)))
    torch.testing.assert_close(table.exp().sum(-1), torch.ones(6, 4))


def test_real_fake_gradient_does_not_reach_student_teacher_head():
    disc = multiclass()
    x, y = torch.randn(5, 6), torch.randint(0, 4, (5,))
    disc.log_probs(x, y)[:, 0].sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in disc.student_teacher.parameters())
    assert any(p.grad is not None and p.grad.any() for p in disc.real_fake.parameters())
    disc.zero_grad(set_to_none=True)
    disc.log_probs(x, y)[:, 1].sum().backward()  # log D_s needs both heads
    assert all(p.grad is not None and p.grad.any() for p in disc.student_teacher.parameters())


def test_multiclass_rejects_shared_or_mismatched_heads():
    head = MLP(6, (8,), 4)
    with pytest.raises(ValueError, match="two different modules"):
        MulticlassDiscriminator(head, head)
    with pytest.raises(ValueError, match="one shape"):
        MulticlassDiscriminator(head, MLP(6, (8,), 5)).log_probs_all_labels(torch.randn(2, 6))
    with pytest.raises(ValueError, match="y must|labels y"):
        multiclass().log_probs(torch.randn(2, 6), torch.zeros(2, 5))


# ------------------------------------------------------------------------------------------------------
# build_players errors
# ------------------------------------------------------------------------------------------------------


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="dataset must be one of digits, mnist, cifar10, synthetic"):
        build_players("imagenet", num_classes=K, input_shape=(3, 32, 32), student_shape=(3, 32, 32))
    assert DATASETS == ("digits", "mnist", "cifar10", "synthetic")


@pytest.mark.parametrize(
    ("dataset", "input_shape", "student_shape", "match"),
    [
        ("mnist", (3, 32, 32), (1, 28, 28), r"input_shape .*'mnist' must be \(1, 28, 28\)"),
        ("mnist", (1, 28, 28), (784,), "student_shape"),
        ("cifar10", (3, 32, 32), (1, 32, 32), "student_shape"),
        ("cifar10", (3, 32, 32), (3, 2, 2), "student_shape"),
        ("digits", (1, 8, 8), (1, 16, 16), "no larger than the input"),
        ("digits", (64,), (64,), "input_shape"),
        ("synthetic", (4, 4), (4,), r"\(d,\)"),
        ("synthetic", (16,), (2, 2), r"\(d_s,\)"),
        ("synthetic", (0,), (2,), r"input_shape\[0\]"),
        ("synthetic", "16", (2,), "input_shape"),
        ("synthetic", (), (2,), "input_shape"),
    ],
)
def test_bad_shapes_raise(dataset, input_shape, student_shape, match):
    with pytest.raises(ValueError, match=match):
        build_players(dataset, num_classes=K, input_shape=input_shape, student_shape=student_shape)


@pytest.mark.parametrize("num_classes", [1, 0, 2.0, True])
def test_bad_num_classes_raise(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        build_players("digits", num_classes=num_classes, input_shape=(1, 8, 8), student_shape=(1, 8, 8))


def test_student_depends_only_on_student_shape():
    a = build_players("synthetic", num_classes=3, input_shape=(10,), student_shape=(4,))
    b = build_players("synthetic", num_classes=3, input_shape=(30,), student_shape=(4,))
    assert count_parameters(a.student()) == count_parameters(b.student()) == 4 * 64 + 64 + 64 * 3 + 3
    assert count_parameters(a.teacher()) != count_parameters(b.teacher())
    assert math.prod((1, 4, 4)) == preset("digits-lowres").student().in_features


def test_architecture_pickles():
    arch = pickle.loads(pickle.dumps(preset("mnist")))
    assert arch.name == "mnist"
    assert count_parameters(arch.student()) == 1_276_810


@pytest.mark.parametrize(
    ("dataset", "input_shape", "student_shape", "classes"),
    [
        ("digits", (1, 8, 8), (1, 8, 8), 10),
        ("mnist", (1, 28, 28), (1, 28, 28), 10),
        ("synthetic", (20,), (20,), 10),
        ("tags-popular", (256,), (128,), 200),
        ("tags-random", (4096 + 4096,), (4096,), 200),  # wide features: the tag factor tends to 1
    ],
)
def test_activation_factors_are_what_the_teacher_keeps(dataset, input_shape, student_shape, classes, one_thread):
    from advdist_lab.models import ACTIVATION_FACTORS, saved_activation_bytes

    arch = build_players(dataset, num_classes=classes, input_shape=input_shape, student_shape=student_shape)
    x = torch.randn(4, *input_shape)
    teacher = arch.teacher().train()
    factor = saved_activation_bytes(teacher, x) / x.nbytes
    assert ACTIVATION_FACTORS[dataset] <= factor < ACTIVATION_FACTORS[dataset] + 1 or dataset.startswith("tags")
    assert ACTIVATION_FACTORS[dataset] <= factor  # a lower bound: the factor never overstates
    # the teacher is the largest single network: one discriminator backbone and the student keep no more
    assert saved_activation_bytes(arch.discriminator_backbone().train(), x) <= saved_activation_bytes(teacher, x)
    student_x = x[:, : student_shape[0]] if dataset.startswith("tags") else x
    assert saved_activation_bytes(arch.student().train(), student_x) <= saved_activation_bytes(teacher, x)
    with pytest.raises(ValueError, match="module must be an nn.Module"):
        saved_activation_bytes("teacher", x)
