"""JupyterLab leaves the committed notebooks alone (issue "The course as a website...", item 3): opening a Jupytext
``.py`` notebook, running it and saving it, as JupyterLab's autosave does through Jupytext's contents manager,
writes back the same bytes; and the course's JupyterLab settings (``binder/jupyterlab-overrides.json``, installed
by ``make lab`` and Binder's ``postBuild``) turn off the news pop-up and the update check."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _save_as_jupyterlab_would(folder: Path, name: str) -> None:
    """Open ``name`` as a notebook, give its cells what a run in JupyterLab adds (outputs, execution counts and
    times, scroll state), and save it through Jupytext's contents manager."""
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(root_dir=str(folder))

    async def run() -> None:
        model = await manager.get(name, content=True, type="notebook")
        for count, cell in enumerate(model["content"]["cells"], start=1):
            if cell["cell_type"] == "code":
                cell["execution_count"] = count
                cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
                cell["metadata"].update(
                    execution={"iopub.execute_input": "2026-12-06T00:00:00Z", "shell.execute_reply": "now"},
                    scrolled=True,
                    collapsed=False,
                )
        model["content"]["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
        await manager.save(model, name)

    asyncio.run(run())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_saving_a_run_notebook_in_jupyterlab_keeps_the_committed_file(tmp_path: Path, notebook: Path) -> None:
    copy = tmp_path / notebook.name
    shutil.copyfile(notebook, copy)
    _save_as_jupyterlab_would(tmp_path, notebook.name)
    assert copy.read_text() == notebook.read_text()


def test_the_header_filter_is_what_keeps_it(tmp_path: Path) -> None:
    """Without the header's ``notebook_metadata_filter``, the same save adds Jupytext's version lines: the test above
    can fail."""
    notebook = NOTEBOOKS[0]
    text = "".join(line for line in notebook.read_text().splitlines(True) if "notebook_metadata_filter" not in line)
    (tmp_path / notebook.name).write_text(text)
    _save_as_jupyterlab_would(tmp_path, notebook.name)
    saved = (tmp_path / notebook.name).read_text()
    assert "jupytext_version:" in saved and "format_version:" in saved


def test_the_lab_settings_turn_off_the_news_and_the_update_check() -> None:
    overrides = json.loads((ROOT / "binder" / "jupyterlab-overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"
    # the values are the ones the installed JupyterLab's schema accepts
    schema = Path(sys.prefix) / "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"
    properties = json.loads(schema.read_text())["properties"]
    assert {"const": "false", "title": "Never"} in properties["fetchNews"]["oneOf"]
    assert properties["checkForUpdates"]["type"] == "boolean"
