#!/bin/sh
# The one command that reproduces pvflow's fault models from scratch: a Python venv with the
# pinned requirements, the pvflow binary (dev profile), the datasets (pvflow simulate +
# pv_scalogram, see models/train/dataset.py), the normalisation, the networks and their
# held-out metrics (models/metrics/).
#
#   models/train.sh                    # the shipped standard models, lean and lenet (45-60 min)
#   models/train.sh lean               # only the lean network (datasets are reused when present)
#   models/train.sh general            # the nameplate-normalised lean model of many modules,
#                                      # layouts and sites: models/general/ (pv_fault.onnx,
#                                      # normalization.json, metrics, calibration, card)
#   models/train.sh --plant plant.toml # a model fitted to your plant: models/plant-<name>/
#                                      # pv_fault.onnx, normalization.json, metrics and card
#
# PVFLOW_TRAIN_ARCH picks the network of `general` and `--plant` (lean, wide; default lean),
# PVFLOW_TRAIN_SCALE their normalisation (operating_point, nameplate; default operating_point).
# Heavy steps run under `nice -n 19`. Scratch data goes to $PVFLOW_TRAIN_DATA (default
# models/data, ignored by git): about 5 GB for the standard models, 18 GB for `general` (its
# scalograms are 64 KiB a window); check the disk first.
set -eu
cd "$(dirname "$0")/.."

VENV=models/.venv
DATA="${PVFLOW_TRAIN_DATA:-models/data}"
PVFLOW="${CARGO_TARGET_DIR:-target}/debug/pvflow"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r models/train/requirements.txt
# The whole workspace, as `make test` builds it: one feature set, so nothing rebuilds twice.
cargo build --quiet --workspace
PY="nice -n 19 $VENV/bin/python"

# A nameplate-normalised lean model from a variety of described plants, into directory $3.
train_described() {
    variety="$1" data="$2" out="$3"
    mkdir -p "$out"
    $PY models/train/dataset.py --pvflow "$PVFLOW" --variety "$variety" \
        --scale "${PVFLOW_TRAIN_SCALE:-operating_point}" --work "$data/work" --out "$data" \
        --normalization "$out/normalization.json"
    $PY models/train/train.py --arch "${PVFLOW_TRAIN_ARCH:-lean}" --data "$data" --out "$out/pv_fault.onnx"
    $PY models/train/evaluate.py --model "$out/pv_fault.onnx" --data "$data" \
        --json "$out/metrics.json" --calibration "$out/calibration.svg" | tee "$out/metrics.txt"
    $PY models/train/card.py --out "$out" --data "$data" > "$out/README.md"
}

case "${1:-}" in
--plant)
    [ -n "${2:-}" ] || { echo "usage: models/train.sh --plant plant.toml" >&2; exit 2; }
    name="$(basename "$2" .toml)"
    train_described "plant:$(realpath "$2")" "$DATA/plant-$name" "models/plant-$name"
    echo "models/plant-$name: point [model] path and normalization at its pv_fault.onnx and normalization.json"
    ;;
general)
    train_described general "$DATA/general" models/general
    ;;
*)
    ARCHS="${*:-lean lenet}"
    $PY models/train/dataset.py --pvflow "$PVFLOW" \
        --work "$DATA/work" --out "$DATA" --normalization models/normalization.json
    mkdir -p models/metrics
    for arch in $ARCHS; do
        $PY models/train/train.py --arch "$arch" --data "$DATA" --out "models/pv_fault_$arch.onnx"
        $PY models/train/evaluate.py --model "models/pv_fault_$arch.onnx" \
            --data "$DATA" --json "models/metrics/$arch.json" | tee "models/metrics/$arch.txt"
    done
    ;;
esac
