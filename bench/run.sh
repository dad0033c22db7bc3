#!/usr/bin/env bash
# pvflow side by side with the PySpark + PyWavelets baseline (bench/baseline_pyspark), same
# machine, same data. For each device count: one simulated day of readings as Parquet, run
# through the baseline (ingest, predict) and through `pvflow run` (ingest, predict); then pvflow
# from Kafka (`pvflow demo`: mock broker + Ballista scheduler and executor, in one process).
# Checks that every gold matches the baseline's (compare.py) and writes bench/results/:
# results.md, results.csv, stages.csv, throughput.png.
#
#   bench/run.sh
#   DEVICES=5 PVFLOW_BIN=target/debug/pvflow bench/run.sh       # a quick try
#
# PVFLOW_BIN  the pvflow binary (default target/release/pvflow; this script does not build it)
# DEVICES     device counts (default "50 200 1000")
# BENCH_WORK  readings, silver, gold and logs (default target/bench; ~13 GB at 1,000 devices,
#             replaced on each run)
# BASELINE_DRIVER_MEMORY  the baseline's JVM heap (default 12g: at 1,000 devices its predict
#             runs out of 8g, holding the day's cached silver)
# Relative paths are from the repository's root.
set -euo pipefail
cd "$(dirname "$0")/.."

PVFLOW_BIN="${PVFLOW_BIN:-target/release/pvflow}"
DEVICES="${DEVICES:-50 200 1000}"
WORK="${BENCH_WORK:-target/bench}"
RESULTS=bench/results
DATE=2026-06-01
SEED=7
BASELINE_DRIVER_MEMORY="${BASELINE_DRIVER_MEMORY:-12g}"

if [ ! -x "$PVFLOW_BIN" ]; then
    echo "error: no pvflow binary at $PVFLOW_BIN; build it with" \
         "\`cargo build --release --workspace --bins\` (or set PVFLOW_BIN)" >&2
    exit 2
fi

PY="$(bench/baseline_pyspark/venv.sh)"
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
export ORT_DYLIB_PATH
export PVFLOW_MODEL_PATH=models/pv_fault_lean.onnx
export PVFLOW_MODEL_NORMALIZATION=models/normalization.json

# step NAME COMMAND... (LOGS is set per device count below)
. bench/step.sh

# compare SYSTEM: SYSTEM's gold against the baseline's (same windows, same fault codes,
# probabilities within 1e-4); a mismatch stops the benchmark.
compare() {
    local report="$LOGS/compare-$1.txt"
    if ! "$PY" bench/baseline_pyspark/compare.py --date "$DATE" \
            "$RUN/$1/gold" "$RUN/baseline/gold" > "$report"; then
        cat "$report" >&2
        echo "error: $1's gold does not match the baseline's at $N devices ($report)" >&2
        exit 1
    fi
    echo "  $1 gold matches the baseline's" >&2
}

for N in $DEVICES; do
    RUN="$WORK/$N"
    LOGS="$RUN/logs"
    rm -rf "$RUN"
    mkdir -p "$LOGS"
    echo "== $N devices ($RUN)" >&2

    # Both pipelines read this one file, so they start from the same bytes.
    "$PVFLOW_BIN" simulate --output-parquet "$RUN/readings.parquet" --devices "$N" \
        --start "$DATE" --days 1 --seed "$SEED" > "$LOGS/simulate.out"

    step baseline-ingest "$PY" bench/baseline_pyspark/pipeline.py ingest --date "$DATE" \
        --readings "$RUN/readings.parquet" --silver "$RUN/baseline/silver" \
        --driver-memory "$BASELINE_DRIVER_MEMORY"
    step baseline-predict "$PY" bench/baseline_pyspark/pipeline.py predict --date "$DATE" \
        --silver "$RUN/baseline/silver" --gold "$RUN/baseline/gold" \
        --driver-memory "$BASELINE_DRIVER_MEMORY"

    step pvflow-ingest "$PVFLOW_BIN" run ingest --date "$DATE" \
        --readings-parquet "$RUN/readings.parquet" \
        --silver "$RUN/pvflow/silver" --gold "$RUN/pvflow/gold" --json
    step pvflow-predict "$PVFLOW_BIN" run predict --date "$DATE" \
        --silver "$RUN/pvflow/silver" --gold "$RUN/pvflow/gold" --json

    # The same plant (same seed) simulated into the demo's in-process Kafka broker.
    step demo "$PVFLOW_BIN" demo --devices "$N" --date "$DATE" --seed "$SEED" --output "$RUN/demo"

    compare pvflow
    compare demo
done

mkdir -p "$RESULTS"
"$PY" bench/report.py --work "$WORK" --devices "$DEVICES" --pvflow-bin "$PVFLOW_BIN" \
    --out "$RESULTS"
echo "results: $RESULTS/results.md, results.csv, stages.csv, throughput.png" >&2
