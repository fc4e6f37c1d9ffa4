"""``advdist-lab table1 --executor ray`` against a real Ray cluster started here with ``ray start --head`` on this
machine (issue "Sweeps and tables on a distributed engine", items 3 and 5): Ctrl-C stops the command within seconds
with one line saying what was kept, ``ray stop`` of the cluster does too, and the same command again finishes only
the missing runs, reading the kept ones back untouched.

Each test starts its own head node (``ray start --head --block`` in a process group of its own, about 5 s) and
stops it at the end by signalling that group. The ``ray stop`` test runs the real ``ray stop``, which stops every
Ray instance of the machine: it is skipped, saying so, where another one runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is the [cluster] extra")

from advdist_lab.runs.folder import RESULT, load_result  # noqa: E402

RAY = Path(sys.executable).parent / "ray"
# Eight runs of a couple of seconds each on the cluster's 2 CPUs: a stop after the first finished finds others
# running and queued.
TABLE1 = ["table1", "--sizes", "300", "--methods", "distn,adim", "--seeds", "4", "--epochs", "25", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    # A cluster of this machine only, for the test: no token authentication (Ray's default for `ray start` since
    # 2.5x, README 'Many runs on a Ray cluster' says how a real cluster shares its token).
    return {**env, "RAY_DISABLE_USAGE_STATS": "1", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def ray_head() -> Iterator[tuple[str, subprocess.Popen]]:
    """A Ray head node of 2 CPUs on this machine: ``(address, process)``; stopped (SIGTERM to its process group,
    as ``ray stop``) on leaving."""
    port = _free_port()
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port)]
        + ["--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
        start_new_session=True,
    )
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert head.poll() is None, head.communicate()[1][-2000:]
            status = subprocess.run(
                [str(RAY), "status", "--address", address], capture_output=True, text=True, env=_env(), timeout=60
            )
            if status.returncode == 0:
                break
            time.sleep(1)
        else:
            pytest.fail(f"the Ray head did not start in 90 s: {status.stderr[-2000:]}")
        yield address, head
    finally:
        stop_head(head)
        # a head stopped by a signal leaves Ray's pointer to it behind, which a later ray.init() would follow
        current = Path("/tmp/ray/ray_current_cluster")
        with contextlib.suppress(OSError):
            if current.read_text().strip().endswith(f":{port}"):
                current.unlink()


def stop_head(head: subprocess.Popen) -> None:
    """Stop this head only: SIGTERM to its process group, SIGKILL to what is left after 10 s; return when none of
    its processes runs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, sig)
        deadline = time.monotonic() + 10
        while _running(lambda pgid, _: pgid == head.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=10)


def _running(match) -> bool:
    """Whether a live (not zombie) process of this machine has ``match(process_group, name)``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            state, _, pgid = text[text.rindex(")") + 2 :].split()[:3]
            if state != "Z" and match(int(pgid), name):
                return True
    return False


def other_ray_runs() -> bool:
    """Whether a raylet (a Ray node) runs on this machine."""
    return _running(lambda _, name: name == "raylet")


def finished_runs(out: Path) -> dict[str, int]:
    return {str(p.parent.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob(RESULT)}


def start_command(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "advdist_lab.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def stop_after_first_run(process: subprocess.Popen, out: Path, stop) -> tuple[float, str]:
    """Wait until a run of ``process`` finished, call ``stop()``; the seconds from the call until ``process``
    ended, and its stderr."""
    try:
        deadline = time.monotonic() + 300
        while not finished_runs(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        stopped = time.monotonic()
        stop()
        _, stderr = process.communicate(timeout=60)
        return time.monotonic() - stopped, stderr
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def check_kept_and_rerun(out: Path, stderr: str, argv: list[str], first: str) -> None:
    """The last line of ``stderr`` starts with ``first`` and accounts for the kept runs; the same command again
    (``argv``) finishes the others and reads the kept ones back untouched."""
    kept = finished_runs(out)
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"advdist-lab: error: {first}"), stderr[-3000:]
    assert f"{len(kept)} of 8 runs finished and are kept in {out}; " in line, stderr[-3000:]
    assert "run the same command (or cell) again" in line
    assert 1 <= len(kept) < 8
    for folder in kept:
        assert load_result(out / folder)["status"] == "finished"
    again = subprocess.run(
        [sys.executable, "-m", "advdist_lab.cli", *argv], capture_output=True, text=True, env=_env(), timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = finished_runs(out)
    assert len(rerun) == 8 and {k: rerun[k] for k in kept} == kept  # kept runs read back, not trained again
    assert (out / "table1.csv").exists()


def test_ctrl_c_stops_a_ray_table_within_seconds_and_the_same_command_finishes_it(tmp_path: Path) -> None:
    out = tmp_path / "table1"
    with ray_head() as (address, _):
        argv = [*TABLE1, "--executor", "ray", "--address", address, "--out", str(out)]
        process = start_command(argv)
        seconds, stderr = stop_after_first_run(process, out, lambda: os.killpg(process.pid, signal.SIGINT))
        assert process.returncode == 130, stderr[-3000:]
        assert seconds < 10, f"took {seconds:.1f} s to stop"
        print(f"--executor ray: stopped {seconds:.2f} s after Ctrl-C")
        assert not list(out.rglob("*.tmp"))  # no half-written file
        assert not list(out.glob(".stop-*"))  # the stop file that reached the tasks is removed
        check_kept_and_rerun(out, stderr, argv, "interrupted: ")


def ray_stop() -> None:
    stopped = subprocess.run([str(RAY), "stop"], capture_output=True, text=True, env=_env(), timeout=120)
    assert stopped.returncode == 0, stopped.stderr[-2000:]


def test_ray_stop_ends_the_command_within_seconds_and_a_local_rerun_finishes_it(tmp_path: Path) -> None:
    if other_ray_runs():
        pytest.skip("another Ray instance runs on this machine, and `ray stop` would stop it too")
    out = tmp_path / "table1"
    with ray_head() as (address, _):
        process = start_command([*TABLE1, "--executor", "ray", "--address", address, "--out", str(out)])
        seconds, stderr = stop_after_first_run(process, out, ray_stop)
    assert process.returncode == 1, stderr[-3000:]
    assert seconds < 20, f"took {seconds:.1f} s to stop"  # ray stop itself takes about 3 s
    print(f"--executor ray: the command ended {seconds:.2f} s after ray stop began")
    # the runs the stop killed mid-epoch resume from their checkpoints on this machine
    check_kept_and_rerun(
        out, stderr, [*TABLE1, "--jobs", "2", "--out", str(out)], "the Ray cluster stopped during the runs"
    )
