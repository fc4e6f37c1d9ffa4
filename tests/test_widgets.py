"""The explorers of :mod:`advdist_lab.widgets` (:mod:`.game`, :mod:`.training`, :mod:`.controls`), driven
through their public ``controls`` as a user's slider would."""

from __future__ import annotations

import html
import json
import re
import shlex
import time
from pathlib import Path

import pytest
import torch
from plotly.utils import PlotlyJSONEncoder

from advdist_lab import cli, runs
from advdist_lab.theory.solver import solve_game
from advdist_lab.viz.game import game_explorer_figure
from advdist_lab.widgets.game import GameExplorer
from advdist_lab.widgets.training import TrainingExplorer, compact_number, train_command, train_command_html

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"n_train": 30, "epochs": 2}


def _data(figure) -> list[dict]:
    """The figure's traces as plain JSON values (numpy arrays become lists, no widget uid), comparable with ==."""
    traces = [json.loads(json.dumps(trace.to_plotly_json(), cls=PlotlyJSONEncoder)) for trace in figure.data]
    return [{k: v for k, v in trace.items() if k != "uid"} for trace in traces]


def _ternary_points(figure) -> list[tuple]:
    return [tuple(t.a) for t in figure.data if t.type == "scatterternary"]


# ----------------------------------------------------------------------------------------------------------
# GameExplorer
# ----------------------------------------------------------------------------------------------------------


def test_game_explorer_has_the_issue_controls_and_a_figure_widget():
    explorer = GameExplorer(steps=200)
    for name in ("method", "omega_r", "omega_s", "omega_t", "nu", "mu", "upsilon", "tau", "lr", "lr_d", "steps"):
        assert name in explorer.controls
    assert type(explorer.figure).__name__ == "FigureWidget"
    assert explorer.figure in explorer.children and "advdist-game-explorer" in explorer._dom_classes
    assert explorer.controls["omega_t"].disabled
    assert explorer.controls["omega_t"].value == pytest.approx(1 / 3, abs=1e-4)  # shown to 4 decimals


def test_a_slider_move_redraws_the_figure():
    explorer = GameExplorer(steps=200)
    before = _data(explorer.figure)
    explorer.controls["nu"].value = 0.01
    after = _data(explorer.figure)
    assert before != after
    assert _ternary_points(explorer.figure) != [tuple(t["a"]) for t in before if t["type"] == "scatterternary"]
    assert "refused" not in explorer.message.value and "solved 200 steps" in explorer.message.value
    assert explorer.last_redraw_seconds > 0


def test_the_figure_is_the_static_figure_of_the_same_settings():
    explorer = GameExplorer(steps=150, method="adib", omega_s=0.7)
    explorer.controls["mu"].value = 0.1  # a redraw, not the first drawing
    static = game_explorer_figure(solve_game(explorer.p_r, **explorer.settings()))
    assert _data(explorer.figure) == _data(static)
    assert explorer.figure.layout.yaxis.range == static.layout.yaxis.range  # the zoom follows the new game


def test_weights_off_the_simplex_are_refused_with_a_message_and_the_figure_kept():
    explorer = GameExplorer(steps=150)
    explorer.controls["omega_r"].value = 0.6
    kept = _data(explorer.figure)
    explorer.controls["omega_s"].value = 0.5  # omega_t = -0.1
    assert "refused" in explorer.message.value and "omega_t" in explorer.message.value
    assert explorer.controls["omega_t"].value == pytest.approx(-0.1)
    assert _data(explorer.figure) == kept
    explorer.controls["omega_s"].value = 0.2  # back on the simplex
    assert "refused" not in explorer.message.value
    assert _data(explorer.figure) != kept
    assert explorer.trajectory.hparams.omega == pytest.approx((0.6, 0.2, 0.2))


def test_zero_weight_is_refused_not_raised():
    explorer = GameExplorer(steps=100)
    explorer.controls["omega_r"].value = 0.0
    assert "refused" in explorer.message.value and "omega_r" in explorer.message.value


def test_methods_enable_their_weights_and_change_the_traces():
    explorer = GameExplorer(steps=100)
    adim_traces = len(explorer.figure.data)
    explorer.controls["method"].value = "adib"
    assert explorer.controls["omega_r"].disabled and not explorer.controls["omega_s"].disabled
    assert explorer.controls["omega_t"].value == pytest.approx(1 - explorer.controls["omega_s"].value, abs=1e-4)
    assert len(explorer.figure.data) == adim_traces + 3  # the mixture p_omega: path, start, end
    explorer.controls["method"].value = "ngan"
    assert explorer.controls["omega_s"].disabled
    assert len(explorer.figure.data) == adim_traces - 3  # no teacher
    assert "NGAN" in explorer.figure.layout.title.text


def test_gumbel_softmax_estimator_uses_tau():
    explorer = GameExplorer(steps=100)
    assert explorer.controls["tau"].disabled
    exact = _data(explorer.figure)
    explorer.controls["estimator"].value = "gumbel-softmax"
    assert not explorer.controls["tau"].disabled
    assert explorer.trajectory.tau == explorer.controls["tau"].value
    assert "tau" in explorer.figure.layout.title.text
    relaxed = _data(explorer.figure)
    explorer.controls["tau"].value = 10.0
    assert _data(explorer.figure) not in (exact, relaxed)


def test_unexpected_errors_are_shown_not_raised(monkeypatch):
    explorer = GameExplorer(steps=100)

    def broken():
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(explorer, "solve", broken)
    explorer.controls["mu"].value = 1.0
    assert "RuntimeError" in explorer.message.value and "solver exploded" in explorer.message.value


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="3 labels"):
        GameExplorer(p_r=(0.5, 0.5))
    with pytest.raises(ValueError, match="unknown controls: alpha"):
        GameExplorer(alpha=1.0)
    with pytest.raises(ValueError, match="omega_t is derived"):
        GameExplorer(omega_t=0.2)


def test_gumbel_softmax_game_is_biased_at_high_temperature_and_exact_as_tau_falls():
    """solve_game's GS option (Eq. 10): at tau = 10 the relaxed gradient moves the student off p_r; at small tau
    it reaches p_r as the exact game does (in expectation the relaxed gradient tends to the exact one)."""
    p_r = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    kl = {}
    for tau in (None, 10.0, 0.1):
        trajectory = solve_game(p_r, "adim", steps=1500, lr=0.3, tau=tau, samples=16, record_every=1500)
        kl[tau] = float(trajectory.kl_to_real("student")[-1])
    assert kl[None] < 1e-6
    assert kl[10.0] > 10 * kl[0.1]
    with pytest.raises(ValueError, match="tau"):
        solve_game(p_r, "adim", tau=0.0)
    with pytest.raises(ValueError, match="samples"):
        solve_game(p_r, "adim", tau=1.0, samples=0)


# ----------------------------------------------------------------------------------------------------------
# TrainingExplorer
# ----------------------------------------------------------------------------------------------------------


def _finish(explorer: TrainingExplorer) -> dict:
    result = explorer.join(120)
    assert result is not None, "the run did not finish in 120 s"
    return result


def test_training_explorer_streams_epochs_into_the_figure():
    explorer = TrainingExplorer(**TINY)
    assert explorer.run()
    result = _finish(explorer)
    assert result["status"] == "finished" and len(result["history"]) == 2
    assert explorer.progress.value == explorer.progress.max == 2
    student, teacher, adversarial, distillation = explorer.figure.data
    assert list(student.x) == [1, 2] and list(student.y) == [e["student_test_accuracy"] for e in result["history"]]
    assert list(teacher.y) == [e["teacher_test_accuracy"] for e in result["history"]]
    assert all(v >= 0 for v in adversarial.y) and len(distillation.y) == 2
    assert explorer.figure.layout.yaxis.range == (0, 1) and explorer.figure.layout.xaxis.range == (0, 2)
    assert "finished" in explorer.message.value
    assert not explorer.run_button.disabled and explorer.stop_button.disabled


def test_training_explorer_numbers_equal_the_cli(tmp_path: Path):
    explorer = TrainingExplorer(method="adim", nu=10**-0.3, **TINY)  # omegas 1/3 and nu shown to 6 digits
    explorer.run()
    history = _finish(explorer)["history"]
    argv = shlex.split(explorer.cli_command())
    assert argv[:2] == ["advdist-lab", "train"]
    assert cli.main([*argv[1:], "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert runs.load_result(tmp_path / "cli")["history"] == history
    assert runs.train(explorer.config(), progress=False)["history"] == history


def test_stop_ends_the_run_cleanly():
    explorer = TrainingExplorer(n_train=30, epochs=200)
    explorer.run()
    deadline = time.monotonic() + 60
    while not explorer.history and time.monotonic() < deadline:
        time.sleep(0.05)
    explorer.stop()
    result = _finish(explorer)
    assert result["status"] == "stopped" and 1 <= len(result["history"]) < 200
    assert "stopped after" in explorer.message.value
    assert not explorer.run_button.disabled


def test_refused_settings_leave_a_message_and_start_nothing():
    explorer = TrainingExplorer(**TINY)
    explorer.controls["omega_r"].value = 0.7
    explorer.controls["omega_s"].value = 0.7
    assert explorer.run() is False
    assert "refused" in explorer.message.value and "simplex" in explorer.message.value
    assert not explorer.running and explorer.result is None


def test_methods_without_weights_or_temperature_disable_them():
    explorer = TrainingExplorer(method="distn", **TINY)
    assert explorer.controls["omega_r"].disabled and explorer.controls["omega_s"].disabled
    assert explorer.controls["tau_start"].disabled
    assert "--omega" not in explorer.cli_command()
    explorer.controls["method"].value = "adim"
    assert not explorer.controls["omega_r"].disabled and not explorer.controls["tau_start"].disabled


def test_errors_during_training_appear_in_the_widget(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "train", broken)
    explorer = TrainingExplorer(**TINY)
    explorer.run()
    explorer.join(30)
    assert not explorer.running
    assert "RuntimeError" in explorer.message.value and "disk full" in explorer.message.value
    assert explorer.result is None and explorer.progress.bar_style == "danger"


def test_a_second_run_is_refused_while_one_runs():
    explorer = TrainingExplorer(n_train=30, epochs=200)
    explorer.run()
    try:
        assert explorer.run() is False and "in progress" in explorer.message.value
    finally:
        explorer.stop()
        _finish(explorer)


def test_train_command_writes_one_flag_per_field_with_compact_floats():
    command = train_command(
        {
            "method": "adib",
            "omega_s": 0.1 + 0.2,
            "nu": 10**-1.9,
            "mu": 1 / 3,
            "tau_start": 10.0,
            "tau_end": 1e-5,
            "n_train": 30,
            "probe_gradients": True,
        }
    )
    assert shlex.split(command) == [
        "advdist-lab",
        "train",
        "--method",
        "adib",
        "--omega-s",
        "0.3",
        "--nu",
        "0.0125893",
        "--mu",
        "0.333333",
        "--tau-start",
        "10",
        "--tau-end",
        "1e-05",
        "--n-train",
        "30",
        "--probe-gradients",
    ]
    assert [compact_number(v) for v in (0.30000000000000004, 1 / 3, 2.0, 123456789.0, 7)] == [
        "0.3",
        "0.333333",
        "2",
        "1.23457e+08",
        "7",
    ]
    with pytest.raises(ValueError, match="value must be a number"):
        compact_number("0.3")
    with pytest.raises(ValueError, match="values must map TrainConfig field names"):
        train_command(["--method", "adim"])


def _significant_digits(number: str) -> int:
    """The digits of a decimal ``number``'s mantissa after its leading zeros (trailing zeros count)."""
    return len(number.lower().split("e")[0].replace(".", "").lstrip("0"))


def test_the_explorers_command_has_short_numbers_and_trains_exactly_those():
    explorer = TrainingExplorer(**TINY)
    command = explorer.cli_command()
    numbers = re.findall(r"(?<![\w-])\d+\.\d+(?:e[-+]?\d+)?", command)
    assert numbers and all(_significant_digits(n) <= 6 for n in numbers), command
    assert "--omega-r 0.333333 --omega-s 0.333333" in command  # the sliders' 1/3
    config = explorer.config()
    assert config.omega_r == config.omega_s == 0.333333  # the run uses the numbers the command shows
    assert config.omega_t == pytest.approx(1 - 2 * 0.333333)


def test_the_command_is_shown_live_and_wraps_only_between_flags():
    explorer = TrainingExplorer(**TINY)
    shown = explorer.command.value
    assert '<pre class="advdist-command"' in shown and "white-space: pre-wrap" in shown
    groups = re.findall(r'<span style="white-space: nowrap">(.*?)</span>', shown)
    assert groups[0] == "advdist-lab train" and all(g.startswith("--") for g in groups[1:])
    assert all(len(shlex.split(html.unescape(g))) <= 2 for g in groups)  # a flag and its value stay together
    assert " ".join(html.unescape(g) for g in groups) == explorer.cli_command()  # copied: the one-line command
    assert train_command_html(explorer._values()) == shown
    explorer.controls["nu"].value = 10.0
    assert "--nu 10" in html.unescape(explorer.command.value)  # follows the controls before any run


def test_every_control_description_is_wide_enough_to_show_whole():
    """Truncated labels read ``tau_sched...``: the description width must hold the longest name, at 8 px a
    character (a wide 13 px sans-serif) plus 8 px of margin."""
    controls = list(GameExplorer(steps=50).controls.values())
    training = TrainingExplorer(**TINY)
    controls += [*training.controls.values(), training.progress]
    assert "tau_schedule" in [c.description for c in controls]
    for control in controls:
        width = control.style.description_width
        if width == "initial":
            continue
        assert width.endswith("px"), width
        assert float(width[:-2]) >= 8 * len(control.description) + 8, (control.description, width)
    assert len({c.style.description_width for c in controls}) == 1  # one width: the columns line up


def test_the_training_explorers_empty_figure_has_an_accuracy_axis_and_the_runs_epochs():
    explorer = TrainingExplorer(n_train=30, epochs=20)
    assert explorer.figure.layout.yaxis.range == (0, 1)  # not plotly's -1 .. 4 of an empty plot
    assert explorer.figure.layout.xaxis.range == (0, 20)
    explorer.controls["epochs"].value = 3
    assert explorer.figure.layout.xaxis.range == (0, 3) and explorer.figure.layout.xaxis.dtick == 1
    assert explorer.figure.layout.yaxis2.exponentformat == "power"


def test_the_package_keeps_the_former_modules_names():
    from advdist_lab import widgets
    from advdist_lab.widgets import controls, game, training

    former = {"ESTIMATORS", "GAME_METHODS", "TRAINING_DEFAULTS", "GameExplorer", "TrainingExplorer"}
    assert former <= set(widgets.__all__)
    assert widgets.GameExplorer is game.GameExplorer and widgets.TrainingExplorer is training.TrainingExplorer
    assert widgets.GAME_METHODS == ("ngan", "adib", "adim") and widgets.ESTIMATORS == ("exact", "gumbel-softmax")
    with pytest.raises(ValueError, match="needs low < high"):
        controls.float_slider("omega", 0.5, 1.0, 0.0, 0.1)


def test_the_variance_axis_is_set_before_a_run_and_autoranges_with_data():
    from advdist_lab.viz.training import training_explorer_figure
    from advdist_lab.widgets.controls import replace_traces

    explorer = TrainingExplorer(**TINY)
    assert explorer.figure.layout.yaxis2.range == (-6, 0)  # 1e-6 .. 1, not an empty log axis' 0.1 .. 1e4
    history = [{"epoch": 1, "student_test_accuracy": 0.5, "grad_var_adversarial": 1e-3}]
    replace_traces(explorer.figure, training_explorer_figure(history, "t", 2))
    assert explorer.figure.layout.yaxis2.range is None and explorer.figure.layout.yaxis2.autorange is True
    replace_traces(explorer.figure, training_explorer_figure([], "t", 2))  # the next run starts empty again
    assert explorer.figure.layout.yaxis2.range == (-6, 0) and explorer.figure.layout.yaxis2.autorange is False
    assert explorer.figure.layout.yaxis.range == (0, 1)
