#!/usr/bin/env bash
# pvflow on a cluster of processes on this machine: one pvflow-scheduler and EXECUTORS
# pvflow-executors (SLOTS task slots each; with PIN=1 executor i runs on core i only, through
# taskset), running `pvflow demo --scheduler` for DEVICES devices x 1 day: the simulator
# produces the day into the demo's in-process Kafka broker (librdkafka's mock cluster), then
# ingest and predict run as jobs of the cluster. Writes WORK/summary.json and prints it: the
# demo's stage times (from its run manifests), and wall, CPU and peak RSS of the demo process
# (simulator, broker and plan client) and of each cluster process.
#
#   cargo build --release --workspace --bins
#   DEVICES=10000 bench/cluster.sh                       # two executors, one slot each
#   DEVICES=10000 EXECUTORS=1 PIN=1 bench/cluster.sh     # scale-out: one executor on one core
#   DEVICES=10000 EXECUTORS=2 PIN=1 bench/cluster.sh     #            two, one core each
#
# BIN_DIR  the pvflow binaries (default target/release; this script does not build them)
# WORK     output and logs (default target/bench/cluster-DEVICES-EXECUTORSxSLOTS[-pinned])
# PORT     the scheduler's port (default 50150; executors use the ports after it)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR="${BIN_DIR:-target/release}"
DEVICES="${DEVICES:-10000}"
EXECUTORS="${EXECUTORS:-2}"
SLOTS="${SLOTS:-1}"
PIN="${PIN:-0}"
PORT="${PORT:-50150}"
suffix=""
[ "$PIN" = 1 ] && suffix="-pinned"
WORK="${WORK:-target/bench/cluster-$DEVICES-${EXECUTORS}x$SLOTS$suffix}"

for bin in pvflow pvflow-scheduler pvflow-executor; do
    if [ ! -x "$BIN_DIR/$bin" ]; then
        echo "error: no $bin in $BIN_DIR; build with \`cargo build --release --workspace --bins\`" >&2
        exit 2
    fi
done
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
export ORT_DYLIB_PATH
export PVFLOW_MODEL_PATH="$PWD/models/pv_fault_lean.onnx"
export PVFLOW_MODEL_NORMALIZATION="$PWD/models/normalization.json"
# One task per slot per stage (docs/configuration.md, [cluster] partitions).
export PVFLOW_CLUSTER_PARTITIONS=$((EXECUTORS * SLOTS))
# The executors write only where [storage] lets them: the demo's datasets live under WORK.
export PVFLOW_STORAGE_ROOTS="[\"$PWD/$WORK/demo\"]"

rm -rf "$WORK"
mkdir -p "$WORK"
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

"$BIN_DIR/pvflow-scheduler" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
    --bind-port "$PORT" --min-ready-executors "$EXECUTORS" > "$WORK/scheduler.log" 2>&1 &
pids+=($!)
# Executors that start before the scheduler listens exit at once.
for _ in $(seq 100); do
    (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break
    sleep 0.1
done
health_ports=()
for ((i = 0; i < EXECUTORS; i++)); do
    base=$((PORT + 1 + 3 * i))
    pin=()
    [ "$PIN" = 1 ] && pin=(taskset -c "$i")
    "${pin[@]}" "$BIN_DIR/pvflow-executor" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
        --scheduler-host 127.0.0.1 --scheduler-port "$PORT" \
        --bind-port "$base" --bind-grpc-port $((base + 1)) --bind-health-port $((base + 2)) \
        --vcores "$SLOTS" --work-dir "$WORK/executor-$i" > "$WORK/executor-$i.log" 2>&1 &
    pids+=($!)
    health_ports+=($((base + 2)))
done
for port in "${health_ports[@]}"; do
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
        sleep 0.2
    done
done

for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2> /dev/null; then
        echo "error: a cluster process exited at start; logs in $WORK" >&2
        exit 1
    fi
done

python3 bench/measure.py "$WORK/demo.measure.json" "$BIN_DIR/pvflow" demo --devices "$DEVICES" \
    --scheduler "df://127.0.0.1:$PORT" --output "$PWD/$WORK/demo" > "$WORK/demo.out"
cat "$WORK/demo.out" >&2

python3 - "$WORK" "${pids[@]}" <<'EOF'
import glob, json, os, sys
work, pids = sys.argv[1], sys.argv[2:]
tick = os.sysconf("SC_CLK_TCK")
def process(pid, name):
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    hwm = next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM"))
    return {"process": name, "cpu_seconds": (int(stat[11]) + int(stat[12])) / tick,
            "peak_rss_mb": int(hwm.split()[1]) / 1024}
names = ["scheduler"] + [f"executor-{i}" for i in range(len(pids) - 1)]
cluster = [process(pid, name) for pid, name in zip(pids, names)]
stages = {}
for path in sorted(glob.glob(f"{work}/demo/*/_runs/*.json")):
    manifest = json.load(open(path))
    stages[manifest["plan"]] = {"seconds": manifest["seconds"],
                                "stages": {s["stage"]: s["seconds"] for s in manifest["stages"]}}
summary = {"demo": json.load(open(f"{work}/demo.measure.json")), "runs": stages, "cluster": cluster}
json.dump(summary, open(f"{work}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
