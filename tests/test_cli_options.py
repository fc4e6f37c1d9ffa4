"""Tests of the option generator (advdist_lab.cli.options) and of hostile list values refused before any work."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
from test_cli import error_line  # tests/ is on sys.path (pytest rootdir conftest)

from advdist_lab import cli
from advdist_lab.cli.commands import COMMANDS
from advdist_lab.cli.common import parse_list
from advdist_lab.cli.options import add_config_options, name_list, number, option_type, option_values
from advdist_lab.methods import TrainConfig
from advdist_lab.robust.derd.config import DerdConfig
from advdist_lab.robust.dfard import DfardConfig
from advdist_lab.robust.teacher import RobustTeacherConfig


def subparser(name: str) -> argparse.ArgumentParser:
    return cli.build_parser()._subparsers._group_actions[0].choices[name]


def options_of(name: str) -> dict[str, argparse.Action]:
    return {action.dest: action for action in subparser(name)._actions}


# ------------------------------------------------------------------------------------------------------
# The one generator
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "configs", "skipped"),
    [
        ("train", (TrainConfig,), {"extra"}),
        ("table1", (TrainConfig,), {"extra", "method", "n_train", "seed"}),
        ("sweep", (TrainConfig,), {"extra", "seed"}),
        ("tags", (TrainConfig,), {"extra", "method", "dataset", "data_file", "view"}),
        ("table4", (TrainConfig,), {"extra", "method", "dataset", "seed", "data_file", "view"}),
        ("robust-teacher", (RobustTeacherConfig,), set()),
        ("dfard", (DfardConfig, DerdConfig), set()),
        ("dfard-table", (DfardConfig,), {"method", "ita", "agb", "seed"}),
    ],
)
def test_every_config_field_is_an_option_typed_by_its_annotation(command, configs, skipped) -> None:
    found = options_of(command)
    for cls in configs:
        for field in dataclasses.fields(cls):
            if field.name in skipped:
                continue
            action = found[field.name]
            assert action.option_strings == ["--" + field.name.replace("_", "-")]
            assert action.default is argparse.SUPPRESS
            if str(field.type) == "bool":
                assert action.type is None and action.const is True  # a flag
            else:
                assert action.type is option_type(field), field.name
                assert "(default:" in action.help, field.name


def test_the_type_follows_the_annotation() -> None:
    fields = {f.name: f for c in (TrainConfig, RobustTeacherConfig, DfardConfig) for f in dataclasses.fields(c)}
    assert option_type(fields["n_train"]) is int and option_type(fields["batch_size"]) is int
    assert option_type(fields["nu"]) is number and option_type(fields["eps"]) is number
    assert option_type(fields["method"]) is str and option_type(fields["eval_attacks"]) is name_list
    assert option_type(fields["agb"])("off") is False


def test_fractions_for_every_float_and_the_help_shows_the_default() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--nu", "1/4", "--tau-start", "2", "--probe-gradients"])
    assert option_values(args, TrainConfig) == {"nu": 0.25, "tau_start": 2.0, "probe_gradients": True}
    args = parser.parse_args(["robust-teacher", "--eps", "8/255", "--eval-attacks", "none"])
    assert option_values(args, RobustTeacherConfig) == {"eps": 8 / 255, "eval_attacks": ()}
    assert options_of("train")["nu"].help.endswith("(default: 1.0)")
    assert options_of("train")["omega_r"].help.endswith("(default: method default)")
    assert options_of("tags")["epochs"].help.endswith("(default: 6)")
    assert options_of("robust-teacher")["eps"].help.endswith("(default: 0.15 on digits)")
    assert options_of("dfard")["eval_attacks"].help.endswith("(default: pgd_s,pgd_t)")
    assert options_of("dfard")["ita"].help.count("(default:") == 1


def test_a_help_text_with_its_own_default_is_kept() -> None:
    @dataclasses.dataclass
    class Small:
        width: int | None = None
        rate: float = 0.5
        names: tuple[str, ...] = ("a", "b")
        verbose: bool = False

    parser = argparse.ArgumentParser()
    add_config_options(parser, Small, texts={"width": "the width (default: the dataset's)"}, unset="auto")
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["width"] == "the width (default: the dataset's)"
    assert helps["rate"] == "rate (default: 0.5)" and helps["names"] == "names (default: a,b)"
    assert helps["verbose"] == "verbose"
    args = parser.parse_args(["--rate", "1/8", "--names", "x,y", "--verbose"])
    assert option_values(args, Small) == {"rate": 0.125, "names": ("x", "y"), "verbose": True}


def test_the_table_holds_every_command_in_the_help_order() -> None:
    assert list(COMMANDS) == list(cli.build_parser()._subparsers._group_actions[0].choices)
    assert list(COMMANDS) == [
        "train",
        "table1",
        "table1-report",
        "privileged",
        "sweep",
        "tags",
        "table4",
        "robust-teacher",
        "robust-eval",
        "dfard",
        "dfard-table",
        "data",
        "report",
    ]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [("30", int, (30,)), (" 30 , 60 ", int, (30, 60)), ("adim,mimic", str, ("adim", "mimic"))],
)
def test_parse_list_reads_a_comma_separated_list(text, kind, expected) -> None:
    assert parse_list(text, "--x", "item", kind) == expected
    assert parse_list(None, "--x", "item") is None


# ------------------------------------------------------------------------------------------------------
# Hostile values: one line, exit status 2, nothing written
# ------------------------------------------------------------------------------------------------------

HOSTILE = [
    (["table1", "--sizes", ""], "--sizes must list at least one size (got '')"),
    (["table1", "--sizes", ","], "--sizes must list at least one size (got ',')"),
    (["table1", "--sizes", " , "], "--sizes must list at least one size"),
    (["table1", "--sizes", "30,,60"], "--sizes must be a comma-separated list of sizes with no empty item"),
    (["table1", "--sizes", "30,"], "no empty item (got '30,')"),
    (["table1", "--methods", ""], "--methods must list at least one method (got '')"),
    (["table1", "--methods", ",mimic"], "--methods must be a comma-separated list of methods with no empty item"),
    (["table1", "--seeds", ""], "argument --seeds: invalid int value: ''"),
    (["sweep", "--preset", "fig3", "--sizes", ""], "--sizes must list at least one size (got '')"),
    (["sweep", "--preset", "fig6", "--sizes", ","], "--sizes must list at least one size (got ',')"),
    (["sweep", "--grid", ""], "--grid must look like NAME=V1,V2,... with no empty value (got '')"),
    (["sweep", "--grid", "nu=,"], "--grid must look like NAME=V1,V2,... with no empty value"),
    (["sweep", "--grid", "nu=1", "--seeds", ""], "argument --seeds: invalid int value: ''"),
    (["table4", "--methods", ""], "--methods must list at least one method (got '')"),
    (["table4", "--label-sets", ""], "--label-sets must list at least one label set (got '')"),
    (["table4", "--label-sets", ","], "--label-sets must list at least one label set (got ',')"),
    (["table4", "--seeds", ""], "argument --seeds: invalid int value: ''"),
    (["robust-teacher", "--eval-attacks", ""], "argument --eval-attacks: must list at least one name"),
    (["robust-teacher", "--final-attacks", ","], "argument --final-attacks: must list at least one name"),
    (["robust-eval", "--model", "x.pt", "--attacks", ""], "argument --attacks: must list at least one name"),
    (["dfard", "--eval-attacks", ""], "argument --eval-attacks: must list at least one name"),
    (["dfard", "--final-attacks", "fgsm,,pgd_t"], "with no empty name (got 'fgsm,,pgd_t')"),
    (["dfard-table", "--table", "3", "--final-attacks", ""], "argument --final-attacks: must list at least one"),
    (["dfard-table", "--table", "3", "--seeds", ""], "argument --seeds: invalid int value: ''"),
    (["train", "--nu", ""], "argument --nu: '' is not a number (or a fraction such as 8/255)"),
    (["train", "--nuu", "1"], "unrecognized arguments: --nuu 1"),
    (["train", "--out", ""], "--out must not be empty"),
    (["table1", "--sizes", "30", "--out", " "], "--out must not be empty"),
    (["robust-eval", "--model", "x.pt", "--out", ""], "--out must not be empty"),
    ([], "the following arguments are required: command (see advdist-lab --help)"),
]


@pytest.mark.parametrize(("argv", "constraint"), HOSTILE, ids=[" ".join(a) or "nothing" for a, _ in HOSTILE])
def test_hostile_values_exit_2_with_one_line_before_any_work(argv, constraint, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default folders are relative: nothing may appear here
    out = [] if not argv or "--out" in argv else ["--out", "out"]
    assert cli.main([*argv, *out]) == 2
    assert constraint in error_line(capsys)
    assert list(tmp_path.iterdir()) == []
