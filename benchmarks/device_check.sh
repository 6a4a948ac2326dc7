#!/usr/bin/env bash
# The GPU checks, in one run on a lent CUDA machine (a few minutes on an H100):
#   1. the cuda-marked tests (tests/test_cuda.py: device follows the clip, CPU parity, auto, autocast parity);
#   2. the per-iteration overhead on the GPU (benchmarks/bench_explain.py --device cuda);
#   3. whole explanations, toy model and r2plus1d_18 (weights=None), auto and fixed-100, fp32 and bf16,
#      and the 2026-12 defaults against the faster 2026-12b ones side by side (benchmarks/bench_gpu.py),
#      with absolute times and the GPU's name.
# The machine's python3 has torch, torchvision, pytest(-timeout), matplotlib, tqdm; fep runs from this
# checkout (PYTHONPATH), no install needed. Logs and JSON go to $OUT (or /tmp/device_check).
# Usage: bash benchmarks/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/device_check}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi: not available"
"$python" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"

status=0
step() {  # name, command...: run, keep the log, remember a failure, go on with the next check
  local name=$1; shift
  local started=$SECONDS
  echo "== $name"
  "$@" 2>&1 | tee "$OUT/$name.log"
  local code=${PIPESTATUS[0]}
  echo "== $name: exit $code in $((SECONDS - started)) s"
  [ "$code" -eq 0 ] || status=1
}
step cuda_tests "$python" -m pytest tests/test_cuda.py -v -p no:cacheprovider
step overhead "$python" benchmarks/bench_explain.py --device cuda
step explanations "$python" benchmarks/bench_gpu.py
cp results/performance/explain_overhead_cuda.json results/performance/gpu.json "$OUT"/ 2>/dev/null
exit $status
