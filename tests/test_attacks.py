"""The attack suite of DFARD Table 1 (advdist_lab.robust.attacks: .gradient, .auto, .protocol): closed forms,
budgets, strength, protocol."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advdist_lab.data import load_data
from advdist_lab.robust.attacks import auto as AA
from advdist_lab.robust.attacks.auto import autoattack, build_autoattack
from advdist_lab.robust.attacks.gradient import Normalized, cw_inf, fgsm, pgd_s, pgd_t
from advdist_lab.robust.attacks.protocol import (
    ATTACKS,
    AttackProtocol,
    format_table1,
    robust_accuracy,
    run_attack,
    table1_row,
)

ITERATIVE = {"pgd_s": pgd_s, "pgd_t": pgd_t, "cw_inf": cw_inf}
ROUNDING = 1e-6  # float32 rounding of x + delta - x


def _flat_model(in_features: int, classes: int, hidden: int = 0, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if hidden:
        return nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, classes))


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300) -> nn.Module:
    """Full-batch Adam: a few hundred steps on the 1,297 training digits take well under a second."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One thread, as the digits runs use: faster for these tiny models, and steadier on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    task = load_data("digits", 1297, test_size=200)
    return task.train.x, task.train.y, task.test.x, task.test.y


@pytest.fixture(scope="module")
def undefended(digits):
    """An undefended MLP 64-32-10 trained for a fraction of a second on the digits."""
    x, y, _, _ = digits
    return _fit(_flat_model(64, 10, hidden=32), x, y)


# ----------------------------------------------------------------------------------------------------------------
# FGSM: the closed form on a linear softmax model
# ----------------------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.01, 0.5), classes=st.integers(2, 6))
def test_fgsm_on_a_linear_model_is_its_closed_form(seed, eps, classes):
    g = torch.Generator().manual_seed(seed)
    n, d = 16, 12
    weight = torch.randn(classes, d, generator=g, dtype=torch.float64)
    bias = torch.randn(classes, generator=g, dtype=torch.float64)
    model = nn.Linear(d, classes).double()
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    x[:, :3] = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)  # on the box's faces: the clip must act
    y = torch.randint(0, classes, (n,), generator=g)

    # d CE / d x = W^T (softmax(W x + b) - onehot(y)), by hand
    p = torch.softmax(x @ weight.T + bias, dim=1)
    grad = (p - F.one_hot(y, classes).double()) @ weight
    expected = (x + eps * grad.sign()).clamp(0.0, 1.0)

    x_adv = fgsm(model, x, y, eps)
    assert torch.allclose(x_adv, expected, rtol=0, atol=1e-12)
    assert not torch.equal(expected, x + eps * grad.sign())  # the clip to [0, 1] was exercised


# ----------------------------------------------------------------------------------------------------------------
# Budgets: the eps-ball and [0, 1]
# ----------------------------------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    eps=st.floats(0.005, 0.6),
    steps=st.integers(1, 6),
    ratio=st.floats(0.1, 3.0),  # step sizes above eps too
    name=st.sampled_from(sorted(ITERATIVE)),
)
def test_iterative_attacks_never_leave_the_eps_ball_or_the_unit_box(seed, eps, steps, ratio, name):
    g = torch.Generator().manual_seed(seed)
    model = _flat_model(16, 4, hidden=8, seed=seed)
    x = torch.rand(10, 1, 4, 4, generator=g)
    x[:, 0, 0] = 0.0
    x[:, 0, 1] = 1.0
    y = torch.randint(0, 4, (10,), generator=g)
    x_adv = ITERATIVE[name](model, x, y, eps, steps, eps * ratio, generator=g)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max().item() <= eps + ROUNDING
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    assert (x_adv != x).any()  # it moved


def test_attacks_lower_the_accuracy_of_an_undefended_model(digits, undefended):
    _, _, x, y = digits
    protocol = AttackProtocol.digits()
    clean = _accuracy(undefended, x, y)
    assert clean > 0.9
    g = torch.Generator().manual_seed(0)
    accuracy = {
        name: _accuracy(undefended, run_attack(name, undefended, x, y, protocol, generator=g), y)
        for name in ("fgsm", "pgd_s", "pgd_t", "cw_inf")
    }
    for name, value in accuracy.items():
        assert value < clean - 0.3, (name, value, clean)
    assert accuracy["pgd_s"] <= accuracy["fgsm"]  # 20 steps beat one
    assert accuracy["pgd_s"] < 0.25


# ----------------------------------------------------------------------------------------------------------------
# AutoAttack and n_classes
# ----------------------------------------------------------------------------------------------------------------


def test_autoattack_is_at_least_as_strong_as_pgd(digits, undefended):
    _, _, x, y = digits
    x, y = x[:64], y[:64]
    # a budget at which PGD leaves a good part of the points, so that the comparison is not 0 <= 0
    eps, steps, step_size = 0.06, 20, 0.015
    g = torch.Generator().manual_seed(0)
    pgd = _accuracy(undefended, pgd_s(undefended, x, y, eps, steps, step_size, generator=g), y)
    cw = _accuracy(undefended, cw_inf(undefended, x, y, eps, steps, step_size, generator=g), y)
    x_adv = autoattack(undefended, x, y, eps, n_classes=10, seed=0)  # standard: 100 steps, 5,000 queries
    aa = _accuracy(undefended, x_adv, y)
    assert pgd > 0.3
    assert aa <= pgd and aa <= cw
    assert (x_adv - x).abs().max().item() <= eps + ROUNDING
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0


def test_n_classes_comes_from_the_data(digits, monkeypatch):
    x, y, _, _ = digits
    keep = y < 3
    x3, y3 = x[keep][:300], y[keep][:300]
    model = _fit(_flat_model(64, 3), x3, y3)
    seen = []
    original = AA.build_autoattack

    def spy(*args, **kwargs):
        seen.append(kwargs["n_classes"])
        return original(*args, **kwargs)

    monkeypatch.setattr(AA, "build_autoattack", spy)
    protocol = AttackProtocol(eps=0.15, steps=10, step_size=0.04, attacks=("pgd_s", "autoattack"))
    result = robust_accuracy(model, x3[:40], y3[:40], protocol)
    assert seen == [3]
    assert result["autoattack"] <= result["pgd_s"] < result["clean"]
    with pytest.raises(ValueError, match="n_classes = 10 does not match the model's 3 logits"):
        robust_accuracy(model, x3[:8], y3[:8], protocol, n_classes=10)
    with pytest.raises(TypeError):
        autoattack(model, x3[:8], y3[:8], 0.1)  # n_classes is required: no silent default of 10


def test_autoattack_targets_follow_n_classes():
    model = _flat_model(16, 3)
    three = build_autoattack(model, 0.1, n_classes=3)
    names = [type(a).__name__ for a in three.attacks]
    assert names == ["APGD", "FAB", "Square"]  # APGD-T's targeted DLR loss needs 4 logits
    assert three.attacks[1].n_target_classes == 2 and three.attacks[1].multi_targeted
    for n_classes, targets in ((10, 9), (100, 9)):
        ensemble = build_autoattack(model, 8 / 255, n_classes=n_classes)
        assert [type(a).__name__ for a in ensemble.attacks] == ["APGD", "APGDT", "FAB", "Square"]
        assert [a.n_target_classes for a in ensemble.attacks[1:3]] == [targets, targets]
        assert [a.steps for a in ensemble.attacks[:3]] == [100, 100, 100]
        assert ensemble.attacks[0].loss == "ce" and ensemble.attacks[3].n_queries == 5000
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        build_autoattack(model, 0.1, n_classes=1)


def test_autoattack_names_the_install_command_when_torchattacks_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import torchattacks now raises ImportError
    x = torch.rand(4, 1, 4, 4)
    with pytest.raises(ImportError, match=r"pip install -c constraints.txt --no-deps torchattacks"):
        autoattack(_flat_model(16, 4), x, torch.zeros(4, dtype=torch.long), 0.1, n_classes=4)


def test_the_package_imports_without_loading_torchattacks():
    code = (
        "import sys\n"
        "import advdist_lab.robust, advdist_lab.robust.attacks, advdist_lab.robust.attacks.gradient\n"
        "import advdist_lab.robust.attacks.auto, advdist_lab.robust.attacks.protocol\n"
        "assert 'torchattacks' not in sys.modules\n"
        "assert not [m for m in ('plotly', 'ipywidgets') if m in sys.modules]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------------------------------


def test_the_protocols_of_dfard_and_of_the_digits():
    cifar = AttackProtocol.cifar()
    assert (cifar.eps, cifar.steps, cifar.step_size, cifar.attacks) == (8 / 255, 20, 2 / 255, ATTACKS)
    assert ATTACKS == ("fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack")
    digits = AttackProtocol.digits()
    assert (digits.eps, digits.steps, digits.step_size) == (0.15, 20, 0.0375)
    assert digits.step_size / digits.eps == pytest.approx(cifar.step_size / cifar.eps)  # DFARD's ratio, 1/4
    assert AttackProtocol() == cifar and hash(AttackProtocol()) == hash(cifar)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cifar.eps = 0.5  # type: ignore[misc]
    assert AttackProtocol(attacks=["fgsm", "pgd_s"]).attacks == ("fgsm", "pgd_s")  # lists become tuples
    assert cifar.to_dict()["attacks"] == list(ATTACKS)
    assert "8.0/255" in cifar.describe() and "AA" in cifar.describe()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": 0.0}, "eps must be > 0"),
        ({"eps": -8 / 255}, "eps must be > 0"),
        ({"eps": 1.5}, r"eps must be > 0 and <= 1"),
        ({"eps": float("nan")}, "eps must be a finite real number"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"steps": 2.5}, "steps must be an integer >= 1"),
        ({"step_size": 0.0}, "step_size must be > 0"),
        ({"step_size": -0.1}, "step_size must be > 0"),
        ({"attacks": ("fgsm", "pgd")}, r"unknown attack\(s\) \['pgd'\]: attacks must be names from fgsm, pgd_s"),
        ({"attacks": ()}, "attacks must be a non-empty sequence"),
        ({"attacks": "fgsm"}, "attacks must be a non-empty sequence"),
        ({"attacks": ("fgsm", "fgsm")}, "attacks must be distinct"),
        ({"pgd_t_start_std": 0.0}, "pgd_t_start_std must be > 0"),
        ({"autoattack_steps": 0}, "autoattack_steps must be an integer >= 1"),
        ({"autoattack_queries": -1}, "autoattack_queries must be an integer >= 1"),
    ],
)
def test_protocol_validation_names_the_constraint(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttackProtocol(**kwargs)


def test_inputs_are_validated():
    model = _flat_model(16, 4)
    x = torch.rand(4, 1, 4, 4)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\].*Normalized"):
        fgsm(model, x * 2 - 0.5, y, 0.1)
    with pytest.raises(ValueError, match="y must be an int64 tensor of shape"):
        pgd_s(model, x, y.float(), 0.1, 2, 0.05)
    with pytest.raises(ValueError, match="eps must be > 0"):
        cw_inf(model, x, y, 0.0, 2, 0.05)
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        robust_accuracy(model, x, y + 4, AttackProtocol(attacks=("fgsm",)))
    with pytest.raises(ValueError, match="unknown attack 'pgd'"):
        run_attack("pgd", model, x, y, AttackProtocol())
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        robust_accuracy(model, x, y, AttackProtocol(attacks=("fgsm",)), batch_size=0)


# ----------------------------------------------------------------------------------------------------------------
# Determinism, and the model left as it was
# ----------------------------------------------------------------------------------------------------------------


def test_robust_accuracy_is_deterministic_given_the_seed_and_leaves_the_global_rng_alone(digits, undefended):
    _, _, x, y = digits
    x, y = x[:48], y[:48]
    protocol = AttackProtocol(
        eps=0.08, steps=5, step_size=0.03, attacks=("pgd_s", "pgd_t", "cw_inf", "autoattack"), autoattack_steps=5
    )
    protocol = dataclasses.replace(protocol, autoattack_queries=50)
    state = torch.get_rng_state()
    first = robust_accuracy(undefended, x, y, protocol, seed=3, batch_size=20)
    assert torch.equal(torch.get_rng_state(), state)
    assert robust_accuracy(undefended, x, y, protocol, seed=3, batch_size=20, progress=True, device="cpu") == first
    assert set(first) == {"clean", "pgd_s", "pgd_t", "cw_inf", "autoattack", "average"}

    one = pgd_s(undefended, x, y, 0.08, 3, 0.03, generator=torch.Generator().manual_seed(1))
    same = pgd_s(undefended, x, y, 0.08, 3, 0.03, generator=torch.Generator().manual_seed(1))
    other = pgd_s(undefended, x, y, 0.08, 3, 0.03, generator=torch.Generator().manual_seed(2))
    assert torch.equal(one, same) and not torch.equal(one, other)


class _Mixed(nn.Module):
    """Dropout in train mode, a frozen layer and a submodule held in eval mode: all must come back as they were."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(16, 4))
        self.head.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.frozen(x.flatten(1))))


def test_the_model_mode_and_parameter_gradients_are_restored():
    model = _Mixed().train()
    model.head.eval()
    x = torch.rand(6, 1, 4, 4)
    y = torch.arange(6) % 4
    F.cross_entropy(model(x), y).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == {"head.1.weight", "head.1.bias"}
    modes = {name: m.training for name, m in model.named_modules()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}

    protocol = AttackProtocol(eps=0.1, steps=3, step_size=0.05, autoattack_steps=3, autoattack_queries=20)
    outputs = [run_attack(name, model, x, y, protocol, n_classes=4) for name in ATTACKS]
    outputs.append(robust_accuracy(model, x, y, protocol))
    for name, m in model.named_modules():
        assert m.training == modes[name], name
    for name, p in model.named_parameters():
        assert p.requires_grad == flags[name], name
        if name in grads:
            assert torch.equal(p.grad, grads[name]), name
        else:
            assert p.grad is None, name
    # the attacks ran in eval mode: dropout off, so FGSM is the same twice
    assert torch.equal(fgsm(model, x, y, 0.1), fgsm(model, x, y, 0.1))


# ----------------------------------------------------------------------------------------------------------------
# Normalisation inside the model
# ----------------------------------------------------------------------------------------------------------------


def test_normalized_puts_the_normalisation_inside_the_model():
    inner = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 5))
    mean, std = (0.5, 0.25), (0.2, 0.4)
    model = Normalized(inner, mean, std)
    x = torch.rand(7, 2, 3, 3)
    expected = inner((x - torch.tensor(mean).view(1, 2, 1, 1)) / torch.tensor(std).view(1, 2, 1, 1))
    assert torch.allclose(model(x), expected)
    assert set(dict(model.named_buffers())) == {"mean", "std"}
    y = torch.arange(7) % 5
    x_adv = pgd_s(model, x, y, 8 / 255, 5, 2 / 255)
    assert (x_adv - x).abs().max().item() <= 8 / 255 + ROUNDING  # the budget is in pixel units
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalized(inner, 0.5, (0.2, 0.0))
    with pytest.raises(ValueError, match="Normalized has 2 channels"):
        model(torch.rand(3, 3, 3, 3))


# ----------------------------------------------------------------------------------------------------------------
# The average and DFARD Table 1's layout
# ----------------------------------------------------------------------------------------------------------------

# DFARD Table 1 (rows "Ours*" and the best baseline per setting) and the text's "improves the average adversarial
# robustness by 1.98%, 0.55%, 1.69%, and 1.03%": (Clean, FGSM, PGD_S, PGD_T, CW, AA)
_DFARD_ROWS = {
    "RN-18 CIFAR-10": ((65.10, 36.36, 33.47, 34.89, 30.79, 30.06), (64.53, 35.18, 31.26, 32.49, 28.77, 27.93), 1.98),
    "MN-V2 CIFAR-10": ((59.79, 32.25, 29.25, 30.24, 26.18, 25.56), (59.53, 31.76, 28.42, 29.74, 25.86, 24.99), 0.55),
    "RN-18 CIFAR-100": ((45.33, 24.08, 22.71, 23.38, 19.84, 19.00), (45.04, 22.78, 21.02, 21.90, 17.90, 16.97), 1.69),
    "MN-V2 CIFAR-100": ((40.94, 21.47, 20.18, 20.89, 17.60, 16.82), (40.46, 20.63, 19.03, 19.78, 16.54, 15.82), 1.03),
}


def test_the_average_is_over_the_attacks_without_clean_as_dfard_averages(digits, undefended):
    for ours, best, reported in _DFARD_ROWS.values():
        attacks_only = sum(ours[1:]) / 5 - sum(best[1:]) / 5
        assert attacks_only == pytest.approx(reported, abs=0.011)
    with_clean = sum(_DFARD_ROWS["RN-18 CIFAR-100"][0]) / 6 - sum(_DFARD_ROWS["RN-18 CIFAR-100"][1]) / 6
    assert abs(with_clean - 1.69) > 0.2  # including Clean does not reproduce the text

    _, _, x, y = digits
    protocol = AttackProtocol(eps=0.1, steps=3, step_size=0.04, attacks=("fgsm", "pgd_s"))
    result = robust_accuracy(undefended, x[:50], y[:50], protocol)
    assert result["average"] == pytest.approx((result["fgsm"] + result["pgd_s"]) / 2)
    assert result["average"] != pytest.approx((result["clean"] + result["fgsm"] + result["pgd_s"]) / 3)


def test_table1_layout():
    result = {
        "clean": 0.6644,
        "fgsm": 0.3853,
        "pgd_s": 0.3594,
        "pgd_t": 0.3715,
        "cw_inf": 0.3279,
        "autoattack": 0.3214,
        "average": 0.3531,
    }
    assert table1_row("Ours", result) == "| Ours | 66.44 | 38.53 | 35.94 | 37.15 | 32.79 | 32.14 | 35.31 |"
    partial = {"clean": 0.5, "pgd_s": 0.25, "average": 0.25}
    assert table1_row("S", partial, average=False) == "| S | 50.00 | - | 25.00 | - | - | - |"
    table = format_table1({"Ours": result, "S": partial}).splitlines()
    assert table[0] == "| method | Clean | FGSM | PGD_S | PGD_T | CW_inf | AA | Avg |"
    assert table[1] == "|---|---|---|---|---|---|---|---|"
    assert len(table) == 4 and table[3].startswith("| S | 50.00 | - | 25.00 |")
    short = format_table1({"S": partial}, attacks=("pgd_s",), percent=False).splitlines()
    assert short[0] == "| method | Clean | PGD_S | Avg |" and short[2] == "| S | 0.5000 | 0.2500 | 0.2500 |"


# ----------------------------------------------------------------------------------------------------------------
# torchattacks: a pinned second install step without dependencies (Makefile, Binder), never a pyproject dependency
# ----------------------------------------------------------------------------------------------------------------


def test_torchattacks_is_installed_without_its_dependencies_in_a_second_step():
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert not [r for r in listed if r.lower().startswith("torchattacks")]
    pins = dict(line.split("==") for line in (root / "constraints.txt").read_text().splitlines() if "==" in line)
    assert importlib.metadata.version("torchattacks") == pins["torchattacks"]

    command = AA.TORCHATTACKS_INSTALL.removeprefix("python ")
    makefile = (root / "Makefile").read_text()
    recipe = makefile[makefile.index("$(STAMP):") :].split("\n\n")[0].splitlines()
    main = next(i for i, line in enumerate(recipe) if '-e ".[notebooks,' in line)
    second = next(i for i, line in enumerate(recipe) if line.strip() == f"$(PY) {command}")
    assert main < second < next(i for i, line in enumerate(recipe) if "touch $(STAMP)" in line)
    post_build = (root / "binder" / "postBuild").read_text()
    assert AA.TORCHATTACKS_INSTALL in post_build
    assert post_build.index("pip install --no-deps -e .") < post_build.index(AA.TORCHATTACKS_INSTALL)
    assert "torchattacks" in (root / "README.md").read_text()


def test_the_package_api_holds_the_attack_suite_from_its_modules():
    from advdist_lab import robust
    from advdist_lab.robust import attacks
    from advdist_lab.robust.attacks import auto, gradient, protocol

    suite = {"ATTACKS", "ATTACK_LABELS", "AttackProtocol", "Normalized", "attack_mode", "autoattack", "cw_inf", "fgsm"}
    assert suite <= set(robust.__all__)
    assert set(attacks.__all__) == set(gradient.__all__) | set(auto.__all__) | set(protocol.__all__)
    for name in attacks.__all__:
        assert getattr(attacks, name) is getattr(next(m for m in (gradient, auto, protocol) if name in m.__all__), name)
    for name in robust.__all__:
        homes = [m for m in (gradient, auto, protocol) if name in m.__all__]
        assert len(homes) <= 1, name
        if homes:
            assert getattr(robust, name) is getattr(homes[0], name), name
