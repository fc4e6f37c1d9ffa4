"""The generator losses of DFARD (Eq. 1, 3, 6) and its baselines (DAFL, ZSKT, DFQ, DeepInversion).

Hand-computed values on tiny tensors, the batch-norm statistics hooks, one generator step per method, a short
optimisation of the pure L_cls loss, and the validation errors.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from advdist_lab.robust.generation.baselines import batch_entropy, image_l2, js_divergence, total_variation
from advdist_lab.robust.generation.dfard_loss import kl_divergence
from advdist_lab.robust.generation.generators import ConditionalGenerator
from advdist_lab.robust.generation.losses import DEFAULT_WEIGHTS, GENERATOR_LOSSES, generator_loss, loss_weights
from advdist_lab.robust.generation.teacher_statistics import BN_STATISTICS, BatchNormStatistics, PenultimateFeatures
from advdist_lab.robust.models import build_robust_model

SHAPE = (1, 8, 8)
F64 = torch.float64

# Two samples, three classes: hand-computed references below use only math.exp / math.log.
T_LOGITS = [[1.0, 2.0, 0.0], [0.5, -1.0, 2.0]]
S_LOGITS = [[0.0, 1.0, 1.0], [2.0, 0.0, -1.0]]
LABELS = [1, 2]


def _softmax(row: list[float], tau: float = 1.0) -> list[float]:
    e = [math.exp(v / tau) for v in row]
    return [v / sum(e) for v in e]


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def _hand_kl(tau: float) -> float:
    rows = [_kl(_softmax(t, tau), _softmax(s, tau)) for t, s in zip(T_LOGITS, S_LOGITS)]
    return tau**2 * sum(rows) / len(rows)


def _hand_ce() -> float:
    return -sum(math.log(_softmax(t)[y]) for t, y in zip(T_LOGITS, LABELS)) / len(LABELS)


def _hand_neg_entropy() -> float:
    probs = [_softmax(t) for t in T_LOGITS]
    mean = [sum(p[c] for p in probs) / len(probs) for c in range(3)]
    return sum(m * math.log(m) for m in mean)


def _tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.rand(2, 1, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    return x, torch.tensor(LABELS), torch.tensor(T_LOGITS, dtype=F64), torch.tensor(S_LOGITS, dtype=F64)


def _frozen(arch: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_robust_model(arch, 10, SHAPE, 0.5, 0.5).eval().requires_grad_(False)


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.fixture(scope="module")
def trained_teacher() -> nn.Module:
    """A digits-cnn teacher after 30 Adam steps on the real digits (about 94% test accuracy, ~2 s)."""
    from advdist_lab.robust.data import load_robust_data

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_robust_data("digits")
        torch.manual_seed(0)
        teacher = build_robust_model("digits-cnn", 10, SHAPE, data.mean, data.std)
        optimizer = torch.optim.Adam(teacher.parameters(), lr=3e-3)
        draw = torch.Generator().manual_seed(0)
        for _ in range(30):
            index = torch.randint(0, len(data.y_train), (32,), generator=draw)
            loss = nn.functional.cross_entropy(teacher(data.x_train[index]), data.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        teacher.eval().requires_grad_(False)
        with torch.no_grad():
            accuracy = (teacher(data.x_test).argmax(1) == data.y_test).float().mean().item()
        assert accuracy > 0.5
    finally:
        torch.set_num_threads(threads)
    return teacher


# ------------------------------------------------------------------------------------------ hand-computed values


def test_dfard_total_is_eq6_by_hand() -> None:
    x, y, t, s = _tensors()
    tau, lam = 2.0, 0.25
    terms = generator_loss("dfard", x=x, y=y, teacher_logits=t, student_logits=s, tau=tau, lam=lam)
    assert set(terms) == {"cls", "adv", "total"}
    assert terms["cls"].item() == pytest.approx(_hand_ce(), abs=1e-12)
    assert terms["adv"].item() == pytest.approx(-_hand_kl(tau), abs=1e-12)
    expected = lam * _hand_ce() + (1 - lam) * (-_hand_kl(tau))
    assert terms["total"].item() == pytest.approx(expected, abs=1e-12)
    assert loss_weights("dfard", lam=lam) == {"cls": 0.25, "adv": 0.75}


def test_kl_has_tau_squared_scaling() -> None:
    _, _, t, s = _tensors()
    assert kl_divergence(t, s, 1.0).item() == pytest.approx(_hand_kl(1.0), abs=1e-12)
    plain_at_3 = _hand_kl(3.0) / 9.0  # KL of the softened distributions, without the tau^2 factor
    assert kl_divergence(t, s, 3.0).item() == pytest.approx(9.0 * plain_at_3, abs=1e-12)
    assert kl_divergence(t, t.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-12)


def test_zskt_is_minus_kl() -> None:
    x, y, t, s = _tensors()
    terms = generator_loss("zskt", x=x, y=y, teacher_logits=t, student_logits=s, tau=1.5, lam=0.3)
    assert set(terms) == {"adv", "total"}
    assert terms["total"].item() == pytest.approx(-_hand_kl(1.5), abs=1e-12)


def test_entropy_term_is_minus_h_of_mean_prediction() -> None:
    _, _, t, _ = _tensors()
    assert batch_entropy(t).item() == pytest.approx(-_hand_neg_entropy(), abs=1e-12)
    uniform = torch.zeros(4, 5, dtype=F64)
    assert batch_entropy(uniform).item() == pytest.approx(math.log(5), abs=1e-12)
    # the batch is spread over the classes, each row confident: the mean is uniform again
    assert batch_entropy(100.0 * torch.eye(5, dtype=F64)).item() == pytest.approx(math.log(5), abs=1e-9)


def test_total_variation_and_l2_by_hand() -> None:
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]], dtype=F64)
    # horizontal (0-1, 2-4), vertical (0-2, 1-4), diagonals (2-1) and (0-4)
    expected_tv = math.sqrt(1 + 4) + math.sqrt(4 + 9) + 1.0 + 4.0
    assert total_variation(x).item() == pytest.approx(expected_tv, abs=1e-12)
    assert image_l2(x).item() == pytest.approx(math.sqrt(0 + 1 + 4 + 16), abs=1e-12)
    # over the whole batch: the norms of the stacked differences, not a per-image sum
    two = torch.cat([x, x])
    assert total_variation(two).item() == pytest.approx(math.sqrt(2) * expected_tv, abs=1e-12)
    assert total_variation(torch.full((3, 2, 5, 5), 0.7)).item() == 0.0


def test_js_divergence_by_hand_and_bounds() -> None:
    _, _, t, s = _tensors()
    tau = 3.0
    rows = []
    for tr, sr in zip(T_LOGITS, S_LOGITS):
        p, q = _softmax(tr, tau), _softmax(sr, tau)
        m = [(a + b) / 2 for a, b in zip(p, q)]
        rows.append(0.5 * _kl(p, m) + 0.5 * _kl(q, m))
    assert js_divergence(t, s, tau).item() == pytest.approx(sum(rows) / 2, abs=1e-12)
    assert js_divergence(t, t.clone(), tau).item() == pytest.approx(0.0, abs=1e-12)
    far = js_divergence(torch.tensor([[60.0, 0.0]]), torch.tensor([[0.0, 60.0]]), 1.0).item()
    assert far == pytest.approx(math.log(2), abs=1e-6)


def test_dafl_terms_by_hand() -> None:
    x, y, t, _ = _tensors()
    features = torch.tensor([[1.0, -2.0], [3.0, 0.0]], dtype=F64)
    terms = generator_loss("dafl", x=x, y=y, teacher_logits=t, student_logits=None, tau=3.0, lam=0.3, features=features)
    assert set(terms) == {"cls", "activation", "entropy", "total"}
    assert terms["activation"].item() == pytest.approx(-1.5, abs=1e-12)  # mean |f| = 1.5 in both rows
    assert terms["entropy"].item() == pytest.approx(_hand_neg_entropy(), abs=1e-12)
    expected = _hand_ce() + 0.1 * (-1.5) + 5.0 * _hand_neg_entropy()
    assert terms["total"].item() == pytest.approx(expected, abs=1e-12)


def test_weights_override_and_are_reported() -> None:
    x, y, t, s = _tensors()
    features = torch.ones(2, 3, dtype=F64)
    terms = generator_loss(
        "dafl", x=x, y=y, teacher_logits=t, student_logits=s, tau=3.0, lam=0.3, features=features,
        weights={"entropy": 0.0, "activation": 2.0},
    )  # fmt: skip
    assert terms["total"].item() == pytest.approx(_hand_ce() - 2.0, abs=1e-12)
    assert loss_weights("dafl", {"entropy": 0.0, "activation": 2.0}) == {"cls": 1.0, "activation": 2.0, "entropy": 0.0}
    for method in GENERATOR_LOSSES[1:]:
        assert loss_weights(method) == DEFAULT_WEIGHTS[method]
    assert loss_weights("deepinv") == {"cls": 1.0, "bn": 10.0, "tv": 2.5e-5, "l2": 3e-8, "adv": 1.0}


# ------------------------------------------------------------------------------------------ batch-norm statistics


def _one_bn_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3))


def test_bn_loss_by_hand() -> None:
    bn_layer = nn.BatchNorm2d(2).double().eval()
    bn_layer.running_mean.copy_(torch.tensor([2.0, 1.0]))
    bn_layer.running_var.copy_(torch.tensor([1.0, 1.0]))
    # channel 0 holds 1, 3, 1, 3 (mean 2, unbiased variance 4/3); channel 1 holds zeros (mean 0, variance 0)
    x = torch.tensor([[[[1.0, 3.0]], [[0.0, 0.0]]], [[[1.0, 3.0]], [[0.0, 0.0]]]], dtype=F64)
    eps = bn_layer.eps
    with BatchNormStatistics(bn_layer) as stats:
        bn_layer(x)
        assert stats.layers == 1
        assert stats.loss("variance").item() == pytest.approx(1.0 + math.sqrt(1 / 9 + 1), abs=1e-12)
        sigma = [math.sqrt(4 / 3 + eps), math.sqrt(eps)]
        sigma_r = math.sqrt(1 + eps)
        expected_std = 1.0 + math.hypot(sigma[0] - sigma_r, sigma[1] - sigma_r)
        assert stats.loss("std").item() == pytest.approx(expected_std, abs=1e-12)
        kl = 0.0
        for mu, var, mu_r in ((2.0, 4 / 3, 2.0), (0.0, 0.0, 1.0)):
            v, v_r = var + eps, 1.0 + eps
            kl += 0.5 * (math.log(v_r / v) + (v + (mu - mu_r) ** 2) / v_r - 1.0)
        assert stats.loss("gaussian-kl").item() == pytest.approx(kl, rel=1e-10)


@pytest.mark.parametrize("statistic", BN_STATISTICS)
def test_bn_loss_is_zero_when_batch_statistics_are_the_running_ones(statistic: str, one_torch_thread) -> None:
    model = _one_bn_model()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    bn_layer = model[1]
    bn_layer.momentum = None  # cumulative average: after one batch, the running statistics are that batch's
    bn_layer.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    with BatchNormStatistics(model) as stats:
        model(x)
        assert stats.loss(statistic).item() == pytest.approx(0.0, abs=1e-5)
        model(torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2)))
        assert stats.loss(statistic).item() > 1e-3


def test_bn_hooks_keep_only_the_latest_forward_and_are_removed(one_torch_thread) -> None:
    teacher = _frozen("digits-cnn", 0)
    x1 = torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(1))
    x2 = torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(2))
    stats = BatchNormStatistics(teacher)
    assert stats.layers == 3
    with pytest.raises(RuntimeError, match="run the teacher forward"):
        stats.loss()
    teacher(x1)
    teacher(x2)
    latest = stats.loss().item()
    stats.close()
    assert _no_hooks(teacher)
    with BatchNormStatistics(teacher) as fresh:
        teacher(x2)
        assert fresh.loss().item() == pytest.approx(latest, rel=1e-6)
        fresh.reset()
        with pytest.raises(RuntimeError, match="no batch-norm statistics"):
            fresh.loss()
        fresh.enabled = False
        teacher(x1)
        with pytest.raises(RuntimeError, match="no batch-norm statistics"):
            fresh.loss()
    assert _no_hooks(teacher)
    with pytest.raises(RuntimeError, match="closed"):
        fresh.loss()
    stats.close()  # twice is fine


def test_bn_loss_refuses_a_teacher_in_training_mode() -> None:
    model = _one_bn_model()
    with BatchNormStatistics(model) as stats:
        model.train()
        model(torch.rand(4, 1, 8, 8))
        with pytest.raises(ValueError, match="training mode"):
            stats.loss()
        with pytest.raises(ValueError, match="statistic must be one of variance, std, gaussian-kl"):
            stats.loss("mean")


def test_penultimate_features_are_the_last_linear_input(one_torch_thread) -> None:
    teacher = _frozen("digits-cnn", 0)
    x = torch.rand(5, *SHAPE, generator=torch.Generator().manual_seed(4))
    net = teacher.model
    expected = net.classifier[:-1](net.features((x - 0.5) / 0.5))
    with PenultimateFeatures(teacher) as hook:
        with pytest.raises(RuntimeError, match="no penultimate features"):
            _ = hook.features
        teacher(x)
        assert hook.features.shape == (5, 128)
        torch.testing.assert_close(hook.features, expected)
    with BatchNormStatistics(teacher) as stats:
        teacher(x)
        torch.testing.assert_close(stats.features, expected)
    assert _no_hooks(teacher)
    with pytest.raises(ValueError, match="no nn.Linear"):
        PenultimateFeatures(nn.Sequential(nn.Conv2d(1, 2, 3)))


# ---------------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("method", GENERATOR_LOSSES)
def test_one_generator_step_reaches_only_the_generator(method: str, one_torch_thread) -> None:
    teacher = _frozen("digits-cnn", 0)
    student = _frozen("digits-small", 1)
    torch.manual_seed(2)
    generator = ConditionalGenerator(10, SHAPE, z_dim=16, width=8)
    with BatchNormStatistics(teacher) as bn:
        x, y, _ = generator.sample(16, generator=torch.Generator().manual_seed(3))
        terms = generator_loss(
            method, x=x, y=y, teacher_logits=teacher(x), student_logits=student(x), tau=3.0, lam=0.3, bn=bn
        )
        assert set(terms) == set(loss_weights(method, lam=0.3)) | {"total"}
        assert all(v.dim() == 0 and torch.isfinite(v) for v in terms.values())
        terms["total"].backward()
    for name, p in generator.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is None for p in student.parameters())
    assert _no_hooks(teacher)


def test_pure_cls_steps_raise_the_teachers_agreement_with_y(trained_teacher, one_torch_thread) -> None:
    teacher = trained_teacher
    student = _frozen("digits-small", 1)
    torch.manual_seed(0)
    generator = ConditionalGenerator(10, SHAPE, z_dim=16, width=16)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2)
    draw = torch.Generator().manual_seed(100)
    z_eval, y_eval = torch.randn(64, 16, generator=draw), torch.arange(64) % 10

    def agreement() -> float:
        with torch.no_grad():
            p = torch.softmax(teacher(generator(z_eval, y_eval)), dim=1)
        return p.gather(1, y_eval[:, None]).mean().item()

    before = agreement()
    for _ in range(30):
        x, y, _ = generator.sample(32, generator=draw)
        terms = generator_loss(
            "dfard", x=x, y=y, teacher_logits=teacher(x), student_logits=student(x), tau=3.0, lam=1.0
        )
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
    after = agreement()
    assert before < 0.25  # chance is 0.1
    assert after > before + 0.3
    assert after > 0.5


# --------------------------------------------------------------------------------------------------- validation


def _kwargs(**change: object) -> dict:
    x, y, t, s = _tensors()
    kwargs = {"x": x, "y": y, "teacher_logits": t, "student_logits": s, "tau": 3.0, "lam": 0.3}
    kwargs.update(change)
    return kwargs


@pytest.mark.parametrize(
    ("method", "change", "match"),
    [
        ("nope", {}, "method must be one of dfard, dafl, zskt, dfq, deepinv"),
        ("dfard", {"tau": 0.0}, "tau must be > 0"),
        ("dfard", {"tau": -2.0}, "tau must be > 0"),
        ("dfard", {"tau": float("nan")}, "tau must be a finite real number"),
        ("dfard", {"tau": True}, "tau must be a finite real number"),
        ("dfard", {"lam": -0.1}, r"lam must lie in \[0, 1\]"),
        ("dfard", {"lam": 1.5}, r"lam must lie in \[0, 1\]"),
        ("dfard", {"lam": "0.3"}, "lam must be a finite real number"),
        ("dfard", {"x": torch.zeros(2, 16)}, "x must be a 4-D tensor"),
        ("dfard", {"teacher_logits": torch.zeros(3)}, r"teacher_logits must have shape \(batch, C\)"),
        ("dfard", {"teacher_logits": torch.zeros(3, 3)}, r"teacher_logits must have shape \(batch, C\) = \(2"),
        ("dfard", {"teacher_logits": torch.zeros(2, 3, dtype=torch.long)}, "floating-point"),
        ("dfard", {"student_logits": torch.zeros(2, 4)}, "must have the same shape"),
        ("zskt", {"student_logits": None}, "zskt needs student_logits"),
        ("dfard", {"y": torch.tensor([0, 3])}, r"y must lie in \[0, C\) = \[0, 3\)"),
        ("dfard", {"y": torch.tensor([0, -1])}, r"y must lie in \[0, C\)"),
        ("dfard", {"y": torch.tensor([0.0, 1.0])}, "y must be an integer tensor"),
        ("dfard", {"y": torch.tensor([0, 1, 2])}, r"y must have shape \(batch,\) = \(2,\)"),
        ("dfard", {"weights": {"cls": 1.0}}, "dfard's weights are lam and 1 - lam"),
        ("dafl", {"weights": {"foo": 1.0, "adv": 2.0}}, "unknown weight names for dafl: adv, foo"),
        ("dfq", {"weights": {"cls": -1.0, "bn": float("inf")}}, "weights must be finite and >= 0: cls=-1.0, bn=inf"),
        ("dafl", {}, "dafl needs the teacher's penultimate features"),
        ("dafl", {"features": torch.zeros(3, 4)}, r"features must be a tensor of shape \(batch, ...\)"),
        ("dfq", {}, "teacher has no batch norm"),
        ("deepinv", {}, "teacher has no batch norm"),
        ("dfq", {"bn": object()}, "bn must be a BatchNormStatistics"),
    ],
)
def test_bad_inputs_raise(method: str, change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generator_loss(method, **_kwargs(**change))


@pytest.mark.parametrize("method", ["dfq", "deepinv"])
def test_bn_methods_refuse_a_teacher_without_batch_norm(method: str) -> None:
    no_bn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)).double()
    with BatchNormStatistics(no_bn) as bn:
        assert bn.layers == 0
        x, y, _, s = _tensors()
        t = no_bn(x)
        with pytest.raises(ValueError, match="teacher has no batch norm"):
            generator_loss(method, x=x, y=y, teacher_logits=t, student_logits=s, tau=3.0, lam=0.3, bn=bn)
        with pytest.raises(ValueError, match="teacher has no batch norm"):
            bn.loss()
        # DAFL needs no batch norm: its activation term reads the last nn.Linear's input through the same object
        terms = generator_loss("dafl", x=x, y=y, teacher_logits=t, student_logits=None, tau=3.0, lam=0.3, bn=bn)
        assert terms["activation"].item() < 0
    assert _no_hooks(no_bn)


def test_loss_weights_validation() -> None:
    with pytest.raises(ValueError, match="dfard needs lam"):
        loss_weights("dfard")
    with pytest.raises(ValueError, match="method must be one of"):
        loss_weights("vanilla")
    with pytest.raises(ValueError, match="weights must be a mapping"):
        loss_weights("zskt", [("adv", 1.0)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        BatchNormStatistics("teacher")  # type: ignore[arg-type]


def test_the_module_lists_its_own_names_and_the_baselines_weights():
    from advdist_lab.robust.generation import baselines, losses

    assert set(losses.__all__) == {"DEFAULT_WEIGHTS", "GENERATOR_LOSSES", "generator_loss", "loss_weights"}
    assert set(losses.__all__) <= set(vars(losses))
    assert DEFAULT_WEIGHTS == {"dfard": {}, **baselines.BASELINE_WEIGHTS}


def test_the_generation_package_exports_the_public_names_of_its_modules():
    from advdist_lab.robust import generation
    from advdist_lab.robust.generation import baselines, dfard_loss, generators, losses, teacher_statistics

    homes = (generators, losses, dfard_loss, baselines, teacher_statistics)
    assert set(generation.__all__) == set().union(*(m.__all__ for m in homes))
    for name in generation.__all__:
        assert getattr(generation, name) is getattr(next(m for m in homes if name in m.__all__), name), name
