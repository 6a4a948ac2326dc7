#!/usr/bin/env bash
# The deep model's v3 table on a lent GPU, at the package defaults: the v3 methods on every family, with
# the randomisation check on the first clip of each family, items written as run_experiments does
# (resumable); the best other method is the one the toy model's tuning run chose (the deep model has no
# tuning run of its own); whatever finished within $BUDGET seconds is packed into $OUT/deep_items.tgz. Unpack it
# into results/benchmark_v3/mc3_18/ here and re-run the same `fep experiments` command on the CPU to
# finish any item left and to merge.
# Needs captum on the device: carry .whl/ (pip download captum --python-version 3.12 ... -d .whl).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/deep_table}"
CLIPS="${CLIPS:-8}"
BUDGET="${BUDGET:-540}"
METHODS="${METHODS:-gradient smoothgrad ig gradcam framediff ep3d fep}"
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
# shellcheck disable=SC2086
timeout "$BUDGET" "$python" -m fep experiments --family all --clips "$CLIPS" --model mc3_18_synthetic --sanity \
    --sanity-clips 1 --sanity-inits 1 --methods $METHODS --device "$DEVICE" \
    --best-from results/benchmark_v3/toy_tuning_defaults --out /tmp/deep_table_run 2>&1 | tr "\r" "\n" | grep -v "it/s" | tail -n 30
echo "items done: $(ls /tmp/deep_table_run/items | wc -l)"
tar czf "$OUT/deep_items.tgz" -C /tmp/deep_table_run items
ls -la "$OUT"
