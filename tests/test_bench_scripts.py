"""The one-command GPU script (bench/gpu_table1.sh, issue 16 item 4) parses and refuses a machine without a GPU in
one line before any work; the GPU run itself needs a device and is not a test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_table1.sh"


def test_the_gpu_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_the_gpu_script_refuses_a_machine_without_nvidia_smi(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mkdir", "date", "cat"):  # what the script may call before its check; no nvidia-smi
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    out = tmp_path / "out"
    done = subprocess.run(
        [shutil.which("bash"), str(SCRIPT), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bin_dir)},
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "nvidia-smi not found: this script measures a CUDA GPU"
    assert not (out / "table1").exists()
