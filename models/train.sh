#!/bin/sh
# The one command that reproduces pvflow's fault models from scratch (about 45-60 min on
# 2 cores): a Python venv with the pinned requirements, the pvflow binary (dev profile), the
# datasets (pvflow simulate + pv_scalogram, see models/train/dataset.py), the normalisation
# (models/normalization.json), both networks (models/pv_fault_lean.onnx, the default, and
# models/pv_fault_lenet.onnx) and their held-out metrics (models/metrics/).
#
#   models/train.sh            # everything
#   models/train.sh lean       # only the lean network (datasets are reused when present)
#
# Heavy steps run under `nice -n 19`. Scratch data goes to $PVFLOW_TRAIN_DATA (default
# models/data, ignored by git; about 5 GB).
set -eu
cd "$(dirname "$0")/.."

ARCHS="${*:-lean lenet}"
VENV=models/.venv
DATA="${PVFLOW_TRAIN_DATA:-models/data}"
PVFLOW="${CARGO_TARGET_DIR:-target}/debug/pvflow"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r models/train/requirements.txt
cargo build --quiet -p pvflow-cli

nice -n 19 "$VENV/bin/python" models/train/dataset.py --pvflow "$PVFLOW" \
    --work "$DATA/work" --out "$DATA" --normalization models/normalization.json
mkdir -p models/metrics
for arch in $ARCHS; do
    nice -n 19 "$VENV/bin/python" models/train/train.py --arch "$arch" --data "$DATA" \
        --out "models/pv_fault_$arch.onnx"
    nice -n 19 "$VENV/bin/python" models/train/evaluate.py --model "models/pv_fault_$arch.onnx" \
        --data "$DATA" --json "models/metrics/$arch.json" | tee "models/metrics/$arch.txt"
done
