"""Figures in JupyterLab's theme (:mod:`advdist_lab.viz.common`): the theme read from JupyterLab's user settings
or ``ADVDIST_LAB_THEME``, and figures built after :func:`use_theme` drawn in it."""

from __future__ import annotations

import json
from pathlib import Path

import plotly.io as pio
import pytest
import torch

from advdist_lab import course
from advdist_lab.theory.solver import solve_game
from advdist_lab.viz.common import (
    COLORS,
    DARK_TEMPLATE,
    LIGHT_TEMPLATE,
    TEMPLATE,
    THEME_VARIABLE,
    current_theme,
    jupyterlab_settings_dir,
    jupyterlab_theme,
    line_figure,
    pick_theme,
    theme_color,
    use_theme,
)
from advdist_lab.viz.game import game_explorer_figure, ternary_trajectories
from advdist_lab.viz.training import training_explorer_figure

DARK_BACKGROUND = DARK_TEMPLATE.layout.paper_bgcolor
SETTINGS = Path("lab", "user-settings", "@jupyterlab", "apputils-extension", "themes.jupyterlab-settings")

# what JupyterLab writes when a user picks Settings > Theme > JupyterLab Dark: JSON with comments
DARK_SETTINGS = """{
    // Theme
    // @jupyterlab/apputils-extension:themes
    // Theme manager settings.
    // *************************************

    /* the theme, a // inside a string is no comment */
    "theme": "JupyterLab Dark",
    "theme-scrollbars": false,
}
"""


@pytest.fixture(autouse=True)
def clean_theme(monkeypatch, tmp_path: Path):
    """No theme from the machine's JupyterLab or environment; the light theme and plotly's defaults restored."""
    for name in (THEME_VARIABLE, "JUPYTERLAB_SETTINGS_DIR", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    template, renderer = pio.templates.default, pio.renderers.default
    yield
    use_theme("light")
    pio.templates.default, pio.renderers.default = template, renderer


def write_settings(config_dir: Path, text: str) -> Path:
    path = config_dir / SETTINGS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def in_jupyterlab(monkeypatch) -> None:
    """As in a kernel that JupyterLab started: its server sets JPY_SESSION_NAME."""
    monkeypatch.setenv("JPY_SESSION_NAME", "/notebooks/06_explorer.ipynb")


def test_the_picker_reads_a_dark_theme_from_jupyterlabs_user_settings(monkeypatch, tmp_path: Path):
    config = tmp_path / "config"
    assert jupyterlab_settings_dir() == config / "lab" / "user-settings"
    assert jupyterlab_theme() == "light"  # never chosen: JupyterLab's default, Light
    write_settings(config, DARK_SETTINGS)
    assert jupyterlab_theme() == "dark"
    in_jupyterlab(monkeypatch)
    assert pick_theme() == "dark"
    write_settings(config, '{"theme": "JupyterLab Light"}')
    assert pick_theme() == "light"


def test_jupyterlab_settings_dir_honours_its_variable_and_bad_files_read_light(monkeypatch, tmp_path: Path):
    own = tmp_path / "lab-settings"
    write_settings(tmp_path / "elsewhere", DARK_SETTINGS)
    (own / SETTINGS.relative_to("lab", "user-settings")).parent.mkdir(parents=True)
    (own / SETTINGS.relative_to("lab", "user-settings")).write_text(DARK_SETTINGS)
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(own))
    assert jupyterlab_settings_dir() == own and jupyterlab_theme() == "dark"
    assert jupyterlab_theme(tmp_path / "elsewhere" / "lab" / "user-settings") == "dark"
    for broken in ("{not json", '["JupyterLab Dark"]', '{"theme": 3}', ""):
        write_settings(tmp_path / "broken", broken)
        assert jupyterlab_theme(tmp_path / "broken" / "lab" / "user-settings") == "light", broken
    with pytest.raises(ValueError, match="settings_dir must be a folder path"):
        jupyterlab_theme(3)


def test_the_environment_variable_overrides_jupyterlab(monkeypatch, tmp_path: Path):
    write_settings(tmp_path / "config", DARK_SETTINGS)
    in_jupyterlab(monkeypatch)
    monkeypatch.setenv(THEME_VARIABLE, "light")
    assert pick_theme() == "light"
    monkeypatch.setenv(THEME_VARIABLE, " Dark ")
    assert pick_theme() == "dark"
    monkeypatch.setenv(THEME_VARIABLE, "auto")
    assert pick_theme() == "dark"  # auto: JupyterLab's
    monkeypatch.setenv(THEME_VARIABLE, "blue")
    with pytest.raises(ValueError, match="ADVDIST_LAB_THEME .*must be one of light, dark"):
        pick_theme()


def test_headless_runs_draw_light_unless_told(monkeypatch, tmp_path: Path):
    """papermill and nbconvert (make course, the site) start kernels without JPY_SESSION_NAME."""
    write_settings(tmp_path / "config", DARK_SETTINGS)
    assert pick_theme() == "light"
    monkeypatch.setenv(THEME_VARIABLE, "dark")
    assert pick_theme() == "dark"


def test_figures_built_after_choosing_dark_are_dark():
    p_r = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    trajectory = solve_game(p_r, "adim", steps=20)
    before = training_explorer_figure([])
    assert before.layout.template.layout.paper_bgcolor == LIGHT_TEMPLATE.layout.paper_bgcolor == "white"
    assert use_theme("dark") == "dark" == current_theme()
    assert pio.templates.default == TEMPLATE
    for fig in (
        training_explorer_figure([]),
        game_explorer_figure(trajectory),
        ternary_trajectories(trajectory),
        line_figure([1, 2], {"a": [3, 4]}, "t", "x", "y"),
    ):
        assert fig.layout.template.layout.paper_bgcolor == DARK_BACKGROUND == "rgb(17,17,17)"
        assert fig.layout.template.layout.font.color != LIGHT_TEMPLATE.layout.font.color
    star = next(t for t in ternary_trajectories(trajectory).data if t.name == "real p_r")
    assert star.marker.color == COLORS["real"] == theme_color("foreground") == "#e0e0e0"  # visible on dark
    assert before.layout.template.layout.paper_bgcolor == "white"  # a figure keeps the template it was built with
    use_theme("light")
    assert training_explorer_figure([]).layout.template.layout.paper_bgcolor == "white"
    assert COLORS["real"] == "#222222"
    with pytest.raises(ValueError, match="theme must be one of light, dark"):
        use_theme("sepia")
    with pytest.raises(ValueError, match="name must be one of"):
        theme_color("purple")


def test_a_widget_built_in_the_dark_theme_is_dark():
    from advdist_lab.widgets.game import GameExplorer
    from advdist_lab.widgets.training import TrainingExplorer

    use_theme("dark")
    assert TrainingExplorer(n_train=30, epochs=2).figure.layout.template.layout.paper_bgcolor == DARK_BACKGROUND
    assert GameExplorer(steps=50).figure.layout.template.layout.paper_bgcolor == DARK_BACKGROUND


def test_setup_notebook_applies_the_theme_before_which_a_bad_one_is_refused(monkeypatch, tmp_path: Path):
    threads = torch.get_num_threads()
    try:
        monkeypatch.setenv(THEME_VARIABLE, "dark")
        course.setup_notebook("06_explorer", device="cpu")
        assert current_theme() == "dark" and pio.templates.default == TEMPLATE
        assert training_explorer_figure([]).layout.template.layout.paper_bgcolor == DARK_BACKGROUND
        course.setup_notebook("06_explorer", device="cpu", renderer=False)
        assert current_theme() == "dark"  # without the renderer, the theme is left alone
        monkeypatch.delenv(THEME_VARIABLE)
        course.setup_notebook("06_explorer", device="cpu")
        assert current_theme() == "light"  # headless (no JPY_SESSION_NAME): light
        monkeypatch.setenv(THEME_VARIABLE, "neon")
        out = tmp_path / "never"
        with pytest.raises(ValueError, match="ADVDIST_LAB_THEME"):
            course.setup_notebook("06_explorer", device="cpu", out=out)
        assert not out.exists()
    finally:
        torch.set_num_threads(threads)


def test_the_settings_file_format_is_what_jupyterlab_writes():
    """The key and file the picker reads are those of JupyterLab's own theme settings schema."""
    jupyterlab = pytest.importorskip("jupyterlab")
    schemas = Path(jupyterlab.__file__).parent / "schemas" / "@jupyterlab" / "apputils-extension"
    if not (schemas / "themes.json").exists():
        pytest.skip("JupyterLab's schemas are not installed with it")
    schema = json.loads((schemas / "themes.json").read_text())
    assert "theme" in schema["properties"] and schema["properties"]["theme"]["default"] == "JupyterLab Light"
