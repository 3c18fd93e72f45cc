#!/usr/bin/env bash
# On a machine with a CUDA GPU: the suite's CUDA tests, the Mario trainer's steps/s on the GPU against
# the CPU (timed side by side, benchmarks/train_speed.py), then 10 minutes of Mario with the trainer on
# the GPU and a greedy eval of where it got. Record the output in docs/experiments.md.
#
#     bash benchmarks/gpu_check.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
MINUTES=${1:-10}
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
$PY -m pytest -q tests/test_cuda.py
tmp=$(mktemp -d)
for dev in cpu cuda; do
  $PY - "$dev" "$tmp/mario_$dev.yaml" <<'PYEOF'
import sys, yaml
data = yaml.safe_load(open("configs/mario.yaml"))
data.setdefault("train", {})["device"] = sys.argv[1]
yaml.safe_dump(data, open(sys.argv[2], "w"))
PYEOF
done
$PY benchmarks/train_speed.py --configs "$tmp/mario_cpu.yaml" "$tmp/mario_cuda.yaml" --steps 100
timeout -s INT $((MINUTES * 60)) .venv/bin/muzero-lite run --config "$tmp/mario_cuda.yaml" --run-dir "$tmp/run" || true
.venv/bin/muzero-lite eval --config "$tmp/mario_cuda.yaml" --run-dir "$tmp/run" --games 20
echo "run folder: $tmp/run"
