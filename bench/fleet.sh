#!/usr/bin/env bash
# A fleet's day end to end in one `pvflow run` process per plan (in-process DataFusion, every
# core): the simulator writes DEVICES devices x 1 day of readings as Parquet (timed separately),
# then ingest and predict run under a memory pool of POOL, so the window aggregate spills what
# does not fit. Writes WORK/summary.json and prints it: wall, CPU and peak RSS of each step, the
# runs' stages and counts (from their manifests), and the sizes of readings, silver and gold.
#
#   cargo build --release --workspace --bins
#   DEVICES=100000 bench/fleet.sh
#   DEVICES=1000 bench/fleet.sh          # the same at 1,000 devices, for cost per device-day
#
# PVFLOW_BIN  the pvflow binary (default target/release/pvflow; this script does not build it)
# POOL        [memory] pool of the runs (default 4GiB)
# WORK        readings, silver, gold, logs and spills (default target/bench/fleet-DEVICES;
#             about 5 GB of readings and 4 GB of silver at 100,000 devices, plus spills while
#             ingest runs)
set -euo pipefail
cd "$(dirname "$0")/.."

PVFLOW_BIN="${PVFLOW_BIN:-target/release/pvflow}"
DEVICES="${DEVICES:-100000}"
POOL="${POOL:-4GiB}"
WORK="${WORK:-target/bench/fleet-$DEVICES}"
DATE=2026-06-01
SEED=7

if [ ! -x "$PVFLOW_BIN" ]; then
    echo "error: no pvflow binary at $PVFLOW_BIN; build it with" \
         "\`cargo build --release --workspace --bins\` (or set PVFLOW_BIN)" >&2
    exit 2
fi
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
export ORT_DYLIB_PATH
export PVFLOW_MODEL_PATH=models/pv_fault_lean.onnx
export PVFLOW_MODEL_NORMALIZATION=models/normalization.json
export PVFLOW_MEMORY_POOL="$POOL"
export PVFLOW_MEMORY_SPILL_DIR="$WORK/spill"

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/spill"

LOGS="$WORK/logs"
. bench/step.sh

step simulate "$PVFLOW_BIN" simulate --output-parquet "$WORK/readings.parquet" \
    --devices "$DEVICES" --start "$DATE" --days 1 --seed "$SEED"
step ingest "$PVFLOW_BIN" run ingest --date "$DATE" --readings-parquet "$WORK/readings.parquet" \
    --silver "$WORK/silver" --gold "$WORK/gold" --json
step predict "$PVFLOW_BIN" run predict --date "$DATE" \
    --silver "$WORK/silver" --gold "$WORK/gold" --json

python3 - "$WORK" "$DEVICES" "$POOL" <<'EOF'
import json, os, sys
work, devices, pool = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6
steps = {}
for name in ["simulate", "ingest", "predict"]:
    steps[name] = json.load(open(f"{work}/logs/{name}.measure.json"))
    if name != "simulate":
        manifest = json.load(open(f"{work}/logs/{name}.out"))
        steps[name]["counts"] = manifest["counts"]
        steps[name]["stages"] = {s["stage"]: s["seconds"] for s in manifest["stages"]}
runs = [steps["ingest"], steps["predict"]]
summary = {
    "devices": devices,
    "memory_pool": pool,
    "steps": steps,
    "ingest_and_predict": {
        "wall_seconds": sum(r["wall_seconds"] for r in runs),
        "cpu_seconds": sum(r["cpu_seconds"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "cpu_seconds_per_1000_device_days": sum(r["cpu_seconds"] for r in runs) / devices * 1000,
    },
    "sizes_mb": {d: size_mb(f"{work}/{d}") for d in ["readings.parquet", "silver", "gold"]},
}
json.dump(summary, open(f"{work}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
