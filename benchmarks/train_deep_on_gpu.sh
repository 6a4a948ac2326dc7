#!/usr/bin/env bash
# Train the deep model of the synthetic benchmark on a lent GPU (same script and seed as on a CPU):
#   python -m fep.models.train --model mc3_18 --device cuda ...
# then copy the weights (split into parts under 16 MiB, the device tool's limit per file) and the card
# to $OUT. Join them here with: cat mc3_18_synthetic.pt.part* > data/mc3_18_synthetic.pt
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/train_deep}"
STEPS="${STEPS:-2400}"
mkdir -p "$OUT" /tmp/deep
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m fep.models.train --model mc3_18 --device cuda --steps "$STEPS" --batch-size 32 --lr 1e-3 --workers 14 \
    --eval-clips 128 --out /tmp/deep 2>&1 | tr "\r" "\n" | grep -v "it/s" | tail -n 60 | tee "$OUT/train.log"
split -b 15M -d /tmp/deep/mc3_18_synthetic.pt "$OUT/mc3_18_synthetic.pt.part"
cp /tmp/deep/mc3_18_synthetic_card.json "$OUT/"
ls -la "$OUT"
