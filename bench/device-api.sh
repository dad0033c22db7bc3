#!/usr/bin/env bash
# The operators' reads on a day of DEVICES devices: the simulator writes the day as Parquet,
# `pvflow run ingest` and `pvflow run predict` make silver, gold and fault_events (as
# bench/fleet.sh), then `pvflow serve` serves them and each read is timed REPEAT times over HTTP
# with curl (the first, cold, and the rest warm). Prints one line per route: cold, median and
# slowest seconds, and the answer's size.
#
#   DEVICES=10000 bench/device-api.sh
#
# PVFLOW_BIN  the pvflow binary (default target/release/pvflow, else target/debug/pvflow)
# WORK        readings, silver and gold (default target/bench/device-api-DEVICES; kept, and
#             reused when its gold exists: delete it to make the day again)
# REPEAT      requests per route (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES="${DEVICES:-10000}"
REPEAT="${REPEAT:-20}"
WORK="${WORK:-target/bench/device-api-$DEVICES}"
PVFLOW_BIN="${PVFLOW_BIN:-$( [ -x target/release/pvflow ] && echo target/release/pvflow || echo target/debug/pvflow)}"
PORT="${PORT:-18181}"
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
export ORT_DYLIB_PATH

export PVFLOW_MODEL_PATH=models/pv_fault_lean.onnx
export PVFLOW_MODEL_NORMALIZATION=models/normalization.json
export PVFLOW_STORAGE_SILVER="$WORK/silver" PVFLOW_STORAGE_GOLD="$WORK/gold"
mkdir -p "$WORK"
if [ ! -d "$WORK/gold/_fault_events" ]; then
    echo "making the day: $DEVICES devices ($PVFLOW_BIN), in $WORK" >&2
    "$PVFLOW_BIN" simulate --output-parquet "$WORK/readings.parquet" \
        --devices "$DEVICES" --start 2026-06-01 --days 1 --seed 7 >&2
    "$PVFLOW_BIN" run ingest --date 2026-06-01 --readings-parquet "$WORK/readings.parquet" >&2
    "$PVFLOW_BIN" run predict --date 2026-06-01 >&2
fi
"$PVFLOW_BIN" serve --bind "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
    kill -0 $server 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 1
done
base="http://127.0.0.1:$PORT"
device=$(curl -sf "$base/fleet?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"][0]["device_id"])')
window=$(curl -sf "$base/devices/$device/diagnoses" | python3 -c 'import json,sys; print(json.load(sys.stdin)["diagnoses"][30]["window_start"])')

printf '%-44s %8s %8s %8s %10s\n' route cold_s median_s max_s bytes
for route in "/devices/$device/diagnoses" "/devices/$device/series" \
    "/devices/$device/scalogram.png?window_start=$window" "/episodes" "/episodes?state=open" \
    "/fleet" "/fleet/heatmap"; do
    times=()
    for _ in $(seq "$REPEAT"); do
        times+=("$(curl -sf -o "$WORK/answer" -w '%{time_total}' "$base$route")")
    done
    bytes=$(stat -c %s "$WORK/answer")
    printf '%s\n' "${times[@]}" | python3 -c '
import statistics, sys
t = [float(x) for x in sys.stdin.read().split()]
route, size = sys.argv[1], sys.argv[2]
print(f"{route[:44]:<44} {t[0]:8.3f} {statistics.median(t[1:] or t):8.3f} {max(t[1:] or t):8.3f} {size:>10}")
' "$route" "$bytes"
done
