"""Drive a real JupyterLab in headless Chromium (Playwright for Python) for tests/test_browser.py.

Two halves:

* :class:`JupyterLab` starts ``python -m jupyterlab`` on a free localhost port with a random token, in a
  temporary root folder with its own runtime, config, settings and workspace folders (so neither the user's
  JupyterLab state nor another test's server leaks in), and always stops it again: the server is asked to shut
  down through its REST API (which also stops its kernels), then terminated, then killed with every process it
  started.
* Page helpers that use JupyterLab the way a user's browser does. The server runs with
  ``--LabApp.expose_app_in_browser=True``, so ``window.jupyterapp`` is the running application: the tests run
  cells through its command registry (the same commands as the Run menu) and read the kernel status from the
  notebook's session rather than from toolbar pixels.

Only the standard library is needed at import time; Playwright's ``Page`` is used through its methods.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# The JupyterLab parts that would talk to the internet or pop up toasts over the notebook.
DISABLED_LAB_PLUGINS = (
    "@jupyterlab/apputils-extension:announcements",
    "@jupyterlab/extensionmanager-extension",
)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks

# JSON-serialisable copy of every plotly graph inside `root`: typed arrays (plotly's binary transport of numpy
# arrays) become plain lists, so the traces compare by value from Python.
PLOT_DATA_JS = """
(selector) => Array.from(document.querySelectorAll(selector)).map((graph) => JSON.parse(JSON.stringify(
  (graph.data || []).map((trace) => Object.fromEntries(Object.entries(trace).filter(([key]) => key !== 'uid'))),
  (key, value) => (ArrayBuffer.isView(value) ? Array.from(value) : value),
)))
"""

KERNEL_STATUS_JS = """
() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const session = widget && widget.sessionContext;
  if (!session || !session.session || !session.session.kernel) return 'no kernel';
  return session.session.kernel.status;
}
"""

# Collect the kernel's `error` messages (a traceback in any cell, or in a widget callback run for a comm
# message) from the page's own connection to the kernel, from the moment this runs.
WATCH_ERRORS_JS = """
() => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  window.__kernelErrors = [];
  kernel.iopubMessage.connect((_, msg) => {
    if (msg.header.msg_type === 'error') {
      const {ename, evalue, traceback} = msg.content;
      window.__kernelErrors.push((traceback || []).join('\\n') || ename + ': ' + evalue);
    }
  });
  return true;
}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on ``127.0.0.1:port`` serving ``root``, with its output in ``workdir/jupyterlab.log``.

    Use as a context manager (or call :meth:`start` and :meth:`stop`): :meth:`stop` is safe to call twice and
    after a failed start.
    """

    def __init__(self, root: Path, workdir: Path, startup_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log_path = self.workdir / "jupyterlab.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The browser address of ``path`` (for example ``lab/tree/NAME.ipynb``), with the token."""
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
            "IPYTHONDIR": "ipython",
        }
        for name, folder in dirs.items():
            path = self.workdir / folder
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        labconfig = self.workdir / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        disabled = dict.fromkeys(DISABLED_LAB_PLUGINS, True)
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))
        return env

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # JupyterLab refuses to run as root otherwise (containers, CI)
        return command

    def start(self) -> JupyterLab:
        """Start the server and wait until its REST API answers; raise RuntimeError (with the log) if it does not."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.root,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() can end everything it started
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def _descendants(self) -> list[Any]:
        try:
            import psutil

            return psutil.Process(self.process.pid).children(recursive=True) if self.process else []
        except Exception:  # noqa: BLE001 - psutil missing or the server already gone
            return []

    def stop(self) -> None:
        """Shut the server and its kernels down: politely through the API, then SIGTERM, then SIGKILL."""
        if self.process is None:
            return
        children = self._descendants()  # kernels run in their own sessions: remember them before the server goes
        if self.process.poll() is None:
            try:
                request = urllib.request.Request(self.url("api/shutdown"), method="POST")
                urllib.request.urlopen(request, timeout=5).close()
                self.process.wait(timeout=15)
            except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        for child in children:
            try:
                child.kill()
            except Exception:  # noqa: BLE001 - already gone, which is the point
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server's output (its kernels' stderr included)."""
        if not self.log_path.exists():
            return "(no JupyterLab log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> JupyterLab:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def prepare_notebook(source: Path, target_dir: Path, parameters: dict[str, Any]) -> Path:
    """Convert a Jupytext ``.py`` notebook to ``target_dir/NAME.ipynb`` with papermill's parameters cell injected.

    The result is unexecuted: the browser runs it. The conversion is the course's own (``course.to_ipynb``), so
    the notebook carries the ``python3`` kernelspec the server starts without asking, and no ``jupytext``
    metadata (which would make JupyterLab refuse to open it as the paired copy of a missing ``.py``).
    """
    import papermill

    from advdist_lab import course

    target = Path(target_dir) / f"{Path(source).stem}.ipynb"
    unexecuted = course.to_ipynb(Path(source), Path(target_dir) / f".{Path(source).stem}.source.ipynb")
    papermill.execute_notebook(
        str(unexecuted), str(target), parameters=parameters, prepare_only=True, kernel_name="python3"
    )
    unexecuted.unlink()
    return target


def wait_for_kernel_idle(page: Any, timeout: float = 60.0) -> None:
    """Wait until the current notebook's kernel has started and is idle."""
    page.wait_for_function(f"({KERNEL_STATUS_JS})() === 'idle'", timeout=timeout * 1000, polling=250)


def run_all_cells(page: Any, timeout: float = 90.0) -> bool:
    """Run every cell of the current notebook (the Run menu's *Run All Cells*) and wait until all have run.

    Returns JupyterLab's verdict: False if a cell raised (execution stops there, as in the browser).
    """
    page.evaluate(
        """() => {
          window.__runAll = {done: false, ok: false};
          window.jupyterapp.commands.execute('notebook:run-all-cells').then(
            (ok) => { window.__runAll = {done: true, ok: ok !== false}; },
            () => { window.__runAll = {done: true, ok: false}; },
          );
        }"""
    )
    page.wait_for_function("() => window.__runAll.done", timeout=timeout * 1000, polling=250)
    return page.evaluate("() => window.__runAll.ok")


def notebook_errors(page: Any) -> list[str]:
    """``ename: evalue`` of every error output in the current notebook (read from its model, not its pixels)."""
    return page.evaluate(
        """() => {
          const errors = [];
          for (const cell of window.jupyterapp.shell.currentWidget.content.model.cells) {
            for (const output of (cell.toJSON().outputs || [])) {
              if (output.output_type === 'error') errors.push(output.ename + ': ' + output.evalue);
            }
          }
          return errors;
        }"""
    )


def wait_for_stable_plot(page: Any, selector: str, quiet: float = 1.0, timeout: float = 30.0) -> list[list[dict]]:
    """Wait until the plots matching ``selector`` hold the same traces for ``quiet`` seconds; return those traces.

    A snapshot taken while a widget is still redrawing would make a later comparison meaningless.
    """
    deadline = time.monotonic() + timeout
    previous = plot_data(page, selector)
    while True:
        time.sleep(quiet)
        current = plot_data(page, selector)
        if current == previous:
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"the plots {selector!r} kept changing for {timeout:.0f} s")
        previous = current


def wait_for_plot_change(page: Any, selector: str, before: list[list[dict[str, Any]]], timeout: float = 30.0) -> None:
    """Wait until the trace data of the plots matching ``selector`` differ from ``before``."""
    page.wait_for_function(
        f"([selector, before]) => JSON.stringify(({PLOT_DATA_JS})(selector)) !== JSON.stringify(before)",
        arg=[selector, before],
        timeout=timeout * 1000,
        polling=250,
    )


def watch_kernel_errors(page: Any) -> None:
    """Start collecting the kernel's error messages (see :func:`kernel_errors`)."""
    page.evaluate(WATCH_ERRORS_JS)


def kernel_errors(page: Any) -> list[str]:
    """The traceback (plain text) of every error the kernel reported since :func:`watch_kernel_errors`.

    This includes exceptions raised by widget observers, which JupyterLab shows only in its log console.
    """
    return [ANSI_ESCAPE.sub("", error) for error in page.evaluate("() => window.__kernelErrors || []")]


def plot_data(page: Any, selector: str) -> list[list[dict[str, Any]]]:
    """The trace data (plotly's ``graphDiv.data``, without uids) of every plotly graph matching ``selector``."""
    return page.evaluate(PLOT_DATA_JS, selector)


def slider(page: Any, container: str, description: str) -> Any:
    """The ipywidgets slider inside ``container`` whose description is exactly ``description``."""
    label = page.locator("label.widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    return page.locator(f"{container} .widget-slider").filter(has=label)


def nudge_slider(page: Any, container: str, description: str, key: str = "ArrowRight", presses: int = 3) -> str:
    """Move a slider with the keyboard, as a user does: focus its handle and press ``key``; return the new readout.

    Each press is one ``step`` of the slider (noUiSlider's keyboard support), and ipywidgets sends the new
    value to the kernel, where the widget's observers run.
    """
    target = slider(page, container, description)
    readout = target.locator(".widget-readout")
    before = readout.inner_text()
    handle = target.locator(".noUi-handle").first
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    page.wait_for_function(
        "([element, before]) => element.textContent.trim() !== before.trim()",
        arg=[readout.element_handle(), before],
        timeout=10_000,
    )
    return readout.inner_text()


def axis_range(page: Any, selector: str, axis: str = "yaxis") -> list[float]:
    """The range plotly drew ``axis`` of the first graph matching ``selector`` with (its full layout: after
    autorange), in data units (log axes: powers of ten)."""
    return page.evaluate(
        "([selector, axis]) => document.querySelector(selector)._fullLayout[axis].range", [selector, axis]
    )


def legend_names(page: Any, selector: str) -> list[str]:
    """The texts of the legend entries of the graphs matching ``selector``, as drawn."""
    return page.evaluate(
        "(selector) => Array.from(document.querySelectorAll(selector + ' .legendtext')).map((t) => t.textContent)",
        selector,
    )


def truncated_labels(page: Any, selector: str) -> dict[str, list[str]]:
    """The visible, non-empty labels matching ``selector`` that the browser cuts (``"cut"``: the text is wider
    than its box, shown as ``tau_sched...``), and every label's ``text width/box width`` in pixels (``"widths"``).

    The text's own width is measured with a DOM range, as ``scrollWidth`` rounds and ignores an ellipsis."""
    return page.evaluate(
        """(selector) => {
          const labels = Array.from(document.querySelectorAll(selector))
            .filter((l) => l.offsetParent !== null && l.textContent.trim());
          const textWidth = (l) => {
            const range = document.createRange();
            range.selectNodeContents(l);
            return range.getBoundingClientRect().width;
          };
          const style = (l) => getComputedStyle(l);
          const box = (l) => l.clientWidth - parseFloat(style(l).paddingLeft) - parseFloat(style(l).paddingRight);
          const describe = (l) => `${l.textContent.trim()} ${textWidth(l).toFixed(1)}/${box(l)}`;
          return {cut: labels.filter((l) => l.scrollWidth > l.clientWidth || textWidth(l) > box(l) + 0.5).map(describe),
                  widths: labels.map(describe)};
        }""",
        selector,
    )


def broken_elements(page: Any, selector: str) -> list[str]:
    """The texts of the elements matching ``selector`` that the browser broke over more than one line."""
    return page.evaluate(
        "(selector) => Array.from(document.querySelectorAll(selector))"
        ".filter((e) => e.getClientRects().length > 1).map((e) => e.textContent)",
        selector,
    )


def run_new_cell(page: Any, code: str, timeout: float = 30.0) -> None:
    """Append a code cell holding ``code`` to the current notebook and run it (the Run menu's *Run Selected Cell*),
    waiting until it has run."""
    page.evaluate(
        """async (code) => {
          const app = window.jupyterapp;
          const notebook = app.shell.currentWidget.content;
          notebook.activeCellIndex = notebook.widgets.length - 1;
          await app.commands.execute('notebook:insert-cell-below');
          notebook.activeCell.model.sharedModel.setSource(code);
          window.__cellRun = {done: false};
          app.commands.execute('notebook:run-cell').then(
            () => { window.__cellRun = {done: true}; }, () => { window.__cellRun = {done: true}; });
        }""",
        code,
    )
    page.wait_for_function("() => window.__cellRun.done", timeout=timeout * 1000, polling=250)
