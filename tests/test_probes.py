"""Tests of the gradient probes (:mod:`advdist_lab.probes`) and of ``--probe-gradients`` in training.

The probe must (1) give each part's gradient exactly as autograd does, (2) leave the update of the step
unchanged bit for bit, (3) cost at most one extra backward pass per step and player, and (4) report statistics
that match their definitions: finite, variances >= 0, cosines in [-1, 1].
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
import torch
from tiny_configs import tiny  # tests/ is on sys.path
from torch import nn

from advdist_lab import cli, probes, runs
from advdist_lab.data import load_data
from advdist_lab.methods.base import Terms
from advdist_lab.methods.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def probe_keys(entry: dict) -> set[str]:
    return {k for k in entry if "grad_" in k}


# ------------------------------------------------------------------------------------------------------
# split_backward: each part's gradient, and the step's gradient unchanged
# ------------------------------------------------------------------------------------------------------


def toy_terms(model: nn.Module, x: torch.Tensor, supervised: bool):
    out = model(x)
    adversarial = (out.sin() * torch.arange(out.shape[1], dtype=out.dtype)).mean()
    distillation = 0.5 * (out - 1.0).pow(2).mean()
    extra = out.logsumexp(-1).mean() if supervised else None
    return Terms(adversarial=adversarial, distillation=distillation, supervised=extra)


@pytest.mark.parametrize("supervised", [False, True])
def test_split_backward_gives_each_parts_gradient_and_leaves_the_total_in_grad(supervised):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4)).double()
    x = torch.randn(9, 6, dtype=torch.float64)
    params = list(model.parameters())

    def flat_grad(loss):
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])

    expected = {name: flat_grad(getattr(toy_terms(model, x, supervised), name)) for name in probes.PROBED_PARTS}
    toy_terms(model, x, supervised).total.backward()
    unprobed = [p.grad.clone() for p in params]
    model.zero_grad(set_to_none=True)

    grads = probes.split_backward(toy_terms(model, x, supervised), params)
    assert set(grads) == {"adversarial", "distillation", "total"}
    for name in probes.PROBED_PARTS:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-12, atol=1e-14)
    for p, before in zip(params, unprobed, strict=True):
        assert torch.equal(p.grad, before)  # the optimiser sees exactly the unprobed gradient
    torch.testing.assert_close(grads["total"], torch.cat([g.reshape(-1) for g in unprobed]))
    if not supervised:  # the parts make up the whole loss
        torch.testing.assert_close(grads["adversarial"] + grads["distillation"], grads["total"])


def test_split_backward_with_one_part_and_with_a_constant_part():
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    grads = probes.split_backward(Terms(adversarial=model(x).pow(2).mean()), list(model.parameters()))
    assert set(grads) == {"adversarial", "total"} and torch.equal(grads["adversarial"], grads["total"])
    constant = Terms(adversarial=torch.tensor(2.0), distillation=model(x).mean(), supervised=model(x).sum())
    grads = probes.split_backward(constant, list(model.parameters()))
    assert grads["adversarial"].abs().sum() == 0 and grads["distillation"].abs().sum() > 0


def test_split_backward_needs_parameters():
    with pytest.raises(ValueError, match="at least one parameter"):
        probes.split_backward(Terms(adversarial=torch.tensor(1.0)), [])


# ------------------------------------------------------------------------------------------------------
# GradientProbe: the statistics match their definitions
# ------------------------------------------------------------------------------------------------------


def test_probe_statistics_match_their_definitions():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(7, 11, generator=gen) * 3 + 1
    d = torch.randn(7, 11, generator=gen) + 0.5 * a
    probe = probes.GradientProbe()
    for player in ("student", "teacher"):
        for i in range(7):
            probe.observe(player, {"adversarial": a[i], "distillation": d[i], "total": a[i] + d[i]})
    out = probe.summary()
    a64, d64 = a.double(), d.double()
    var_a = (a64 - a64.mean(0)).pow(2).sum(1).mean().item()
    var_d = (d64 - d64.mean(0)).pow(2).sum(1).mean().item()
    cos = torch.nn.functional.cosine_similarity(a64, d64, dim=1).mean().item()
    for prefix in ("", "teacher_"):
        assert out[prefix + "grad_var_adversarial"] == pytest.approx(var_a, rel=1e-6)
        assert out[prefix + "grad_var_distillation"] == pytest.approx(var_d, rel=1e-6)
        assert out[prefix + "grad_cosine"] == pytest.approx(cos, rel=1e-6)
    probe.reset()
    assert probe.summary() == {}


def test_identical_gradients_have_zero_variance_and_zero_vectors_a_zero_cosine():
    probe = probes.GradientProbe()
    g = torch.tensor([1.0, -2.0, 3.0])
    for _ in range(5):
        probe.observe("student", {"adversarial": g, "distillation": torch.zeros(3), "total": g})
    out = probe.summary()
    assert out["grad_var_adversarial"] == 0.0 and out["grad_var_distillation"] == 0.0
    assert out["grad_cosine"] == 0.0


def test_probe_rejects_an_unknown_player():
    with pytest.raises(ValueError, match="player must be one of"):
        probes.GradientProbe().observe("discriminator", {"total": torch.zeros(2)})
    with pytest.raises(ValueError, match="statistic must be one of"):
        probes.history_key("student", "grad_norm")


# ------------------------------------------------------------------------------------------------------
# In training: same run, extra keys, valid values, bounded cost
# ------------------------------------------------------------------------------------------------------

EXPECTED_KEYS = {
    # method: (student parts, teacher parts) probed in the main loop
    "adim": ({"adversarial", "distillation"}, {"adversarial", "distillation"}),
    "adim-ngs": ({"adversarial", "distillation"}, {"adversarial", "distillation"}),
    "adib": ({"adversarial", "distillation"}, {"adversarial", "distillation"}),
    "ngan": ({"adversarial"}, set()),
    "distn": ({"distillation"}, set()),
    "codis": ({"distillation"}, {"distillation"}),
}


def expected_keys(method: str) -> set[str]:
    keys = set()
    for player, parts in zip(("student", "teacher"), EXPECTED_KEYS[method], strict=True):
        if not parts:
            continue
        keys |= {probes.history_key(player, f"grad_var_{p}") for p in parts}
        keys.add(probes.history_key(player, "grad_var_total"))
        if parts == set(probes.PROBED_PARTS):
            keys.add(probes.history_key(player, "grad_cosine"))
    return keys


@pytest.mark.parametrize("method", sorted(EXPECTED_KEYS))
def test_probing_adds_valid_statistics_and_changes_no_bit_of_training(method):
    plain = runs.train(tiny(method=method), progress=False)
    probed = runs.train(tiny(method=method, probe_gradients=True), progress=False)
    for before, after in zip(plain["history"], probed["history"], strict=True):
        assert probe_keys(before) == set()
        assert probe_keys(after) == expected_keys(method)
        assert {k: v for k, v in after.items() if k not in probe_keys(after)} == before
        for key in probe_keys(after):
            assert math.isfinite(after[key]), key
            if "cosine" in key:
                assert -1.0 <= after[key] <= 1.0
            else:
                assert after[key] >= 0.0
    assert probed["test_accuracy"] == plain["test_accuracy"]


def test_adversarial_and_distillation_variances_are_positive_in_adim():
    result = runs.train(tiny(method="adim", probe_gradients=True, epochs=3), progress=False)
    last = result["history"][-1]
    for prefix in ("", "teacher_"):
        assert last[prefix + "grad_var_adversarial"] > 0 and last[prefix + "grad_var_distillation"] > 0


class BackwardCounter:
    """Counts the backward passes through a module: each pass that reaches one of its outputs counts once."""

    def __init__(self, module: nn.Module):
        self.count = 0
        module.register_forward_hook(self._attach)

    def _attach(self, module, inputs, output):
        if output.requires_grad:
            output.register_hook(self._count)

    def _count(self, grad):
        self.count += 1


@pytest.mark.parametrize("method", ["adim", "ngan", "distn"])
def test_probing_costs_at_most_one_extra_backward_per_step(method):
    data = load_data("digits", 30, device="cpu")
    counts = {}
    for probe in (False, True):
        config = tiny(method=method, probe_gradients=probe).resolved()
        trainer = Trainer(config, data, "cpu")
        players = [p for p in ("student", "teacher") if getattr(trainer.players, p) is not None]
        counters = {p: BackwardCounter(getattr(trainer.players, p)) for p in players}
        trainer.train_epoch(0)
        counts[probe] = {p: c.count for p, c in counters.items()}
    for player, plain in counts[False].items():
        probed = counts[True][player]
        assert plain <= probed <= 2 * plain, (player, plain, probed)
    if method == "adim":  # both parts: exactly one extra pass per student step
        assert counts[True]["student"] == 2 * counts[False]["student"]
    else:  # one probed part and at most one other: NGAN none extra, DISTN one
        assert counts[True]["student"] == counts[False]["student"] * (2 if method == "distn" else 1)


def test_a_stopped_probed_run_resumes_to_the_uninterrupted_history(tmp_path: Path):
    config = tiny(method="adim", probe_gradients=True, epochs=3)
    whole = runs.train(config, progress=False)
    stop = threading.Event()

    def stop_after_first(entry):
        stop.set()

    stopped = runs.train(config, tmp_path / "run", progress=False, callback=stop_after_first, stop=stop)
    assert stopped["status"] == "stopped" and len(stopped["history"]) == 1
    resumed = runs.train(config, tmp_path / "run", progress=False, resume=True)
    assert resumed["history"] == whole["history"]


def test_a_run_written_before_probes_existed_still_resumes(tmp_path: Path):
    config = tiny(method="mimic", epochs=1)
    runs.train(config, tmp_path / "old", progress=False)
    path = tmp_path / "old" / runs.RESULT
    result = json.loads(path.read_text())
    del result["config"]["probe_gradients"]
    path.write_text(json.dumps(result))
    again = runs.train(config, tmp_path / "old", progress=False, resume=True)
    assert again["history"] == result["history"]


def test_probe_gradients_must_be_a_bool():
    with pytest.raises(ValueError, match="probe_gradients must be True or False"):
        tiny(probe_gradients="yes")


def test_cli_probe_gradients_writes_the_statistics(tmp_path: Path, capsys):
    out = tmp_path / "cli"
    argv = ["train", "--method", "adim", "--epochs", "2", "--n-train", "30", "--teacher-pretrain-epochs", "1"]
    status = cli.main(
        [*argv, "--student-pretrain-epochs", "1", "--probe-gradients", "--no-progress", "--out", str(out)]
    )
    assert status == 0, capsys.readouterr().err
    result = runs.load_result(out)
    assert result["config"]["probe_gradients"] is True
    for entry in result["history"]:
        assert probe_keys(entry) == expected_keys("adim")
        assert all(math.isfinite(entry[k]) for k in probe_keys(entry))
        assert -1 <= entry["grad_cosine"] <= 1 and entry["grad_var_adversarial"] >= 0


# ------------------------------------------------------------------------------------------------------
# Reading histories
# ------------------------------------------------------------------------------------------------------

HISTORY = [
    {"epoch": 1, "student_test_accuracy": 0.5, "grad_cosine": 0.1},
    {"epoch": 2, "student_test_accuracy": 0.8, "grad_cosine": 0.3},
    {"epoch": 3, "student_test_accuracy": 0.7, "grad_cosine": 0.5},
]


def test_series_mean_and_epochs_to_accuracy():
    assert probes.series(HISTORY, "grad_cosine") == [0.1, 0.3, 0.5]
    assert probes.mean_over_epochs(HISTORY, "grad_cosine") == pytest.approx(0.3)
    assert probes.mean_over_epochs(HISTORY, "grad_cosine", skip=1) == pytest.approx(0.4)
    assert probes.epochs_to_accuracy(HISTORY, 0.75) == 2
    assert probes.epochs_to_accuracy(HISTORY, 0.5) == 1
    assert probes.epochs_to_accuracy(HISTORY, 0.9) is None


def test_reading_a_history_without_probes_names_the_option():
    with pytest.raises(ValueError, match="not probed"):
        probes.series([{"epoch": 1, "student_test_accuracy": 0.5}], "grad_cosine")
    with pytest.raises(ValueError, match="probed keys of this run are grad_cosine"):
        probes.series(HISTORY, "teacher_grad_cosine")
    with pytest.raises(ValueError, match="empty"):
        probes.series([], "grad_cosine")
    with pytest.raises(ValueError, match="skip must be"):
        probes.mean_over_epochs(HISTORY, "grad_cosine", skip=3)
    with pytest.raises(ValueError, match="threshold must be"):
        probes.epochs_to_accuracy(HISTORY, 1.5)
