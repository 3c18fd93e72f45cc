#!/usr/bin/env bash
# On a machine with a CUDA GPU: the suite's CUDA tests, the Mario trainer's steps/s on the GPU against
# the CPU (timed side by side, benchmarks/train_speed.py), self-play moves/s with its networks on the
# GPU against the CPU (each beside a random agent in the same run, benchmarks/selfplay_speed.py), then
# MINUTES (default 8) of Mario with run's plan (the trainer on the GPU with the batch the plan picks,
# self-play on the other cores; moves/s, train steps/s, the ratio held and each side's waiting share
# from benchmarks/run_balance.py), and a greedy eval of its newest checkpoint. Each stage goes on when
# one before it fails; the figures go to docs/experiments.md.
#
#     bash benchmarks/gpu_check.sh [MINUTES] [OUT_FOLDER]
#
# PY (default .venv/bin/python) is the Python that has muzero-lite's dependencies and a CUDA torch.
# ONLY_RUN=1 skips to the run and its eval (about MINUTES + 3 minutes in all).
set -uo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'    # this header, as the usage
  exit 0
fi
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MINUTES=${1:-8}
OUT_DIR=${2:-$(mktemp -d)}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
stage() { echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)"; then
  echo "gpu_check.sh: no CUDA device for $PY's torch: nothing to check here" >&2
  exit 2
fi
$PY -c "import torch, os; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CPUs', os.cpu_count())"

for dev in cpu cuda; do
  $PY - "$dev" "$OUT_DIR/mario_$dev.yaml" <<'PYEOF'
import sys, yaml
data = yaml.safe_load(open("configs/mario.yaml"))
data.setdefault("train", {})["device"] = sys.argv[1]
data.setdefault("selfplay", {})["device"] = sys.argv[1]
data["train"]["curve_every_moves"] = 20000
yaml.safe_dump(data, open(sys.argv[2], "w"))
PYEOF
done

if [[ -z "${ONLY_RUN:-}" ]]; then
stage "CUDA tests"
$PY -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_devices.py || echo "FAILED: CUDA tests"

stage "trainer: Mario steps/s, CPU against GPU (alternating blocks)"
$PY benchmarks/train_speed.py --configs "$OUT_DIR/mario_cpu.yaml" "$OUT_DIR/mario_cuda.yaml" --steps 60 \
  || echo "FAILED: train_speed"

for dev in cpu cuda; do
  stage "self-play: Mario moves/s with its networks on $dev"
  $PY benchmarks/selfplay_speed.py --config "$OUT_DIR/mario_$dev.yaml" --games-in-flight 16 64 --seconds 12 --rounds 1 \
    || echo "FAILED: selfplay_speed $dev"
done
fi

stage "$MINUTES minutes of Mario with run's plan: the trainer on the GPU, self-play on the other cores"
$PY - "$OUT_DIR/mario_plan.yaml" <<'PYEOF'
import sys, yaml
data = yaml.safe_load(open("configs/mario.yaml"))
data.setdefault("train", {}).update(device="cuda", curve_every_moves=20000)
data.setdefault("selfplay", {})["device"] = "cpu"
yaml.safe_dump(data, open(sys.argv[1], "w"))
PYEOF
# moves/s, train steps/s, the ratio held, each side's waiting share and the cores kept busy, past the first 2 minutes
$PY benchmarks/run_balance.py --config "$OUT_DIR/mario_plan.yaml" --seconds $((MINUTES * 60)) --skip 120 \
  --keep "$OUT_DIR/runs" || echo "FAILED: run"
grep -h "\[run\] plan" "$OUT_DIR/runs/this_0/run.log"
stage "eval of the newest checkpoint (20 greedy games, networks on the GPU)"
$PY -m muzero_lite eval --config "$OUT_DIR/mario_cuda.yaml" --run-dir "$OUT_DIR/runs/this_0" --games 20 || echo "FAILED: eval"
ls "$OUT_DIR/runs/this_0/checkpoints/curve" 2>/dev/null
echo "run folder: $OUT_DIR/runs/this_0"
