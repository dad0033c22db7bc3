# Sourced by the stream benchmarks (stream.sh, stream-live.sh) once PVFLOW_BIN and WORK are
# set: checks the binary, points pvflow at the shipped model and at WORK/live, empties WORK,
# and starts a tansu broker (SQLite storage, WORK/broker) on a free port of 127.0.0.1, stopped
# when the script exits. Sets LOGS, BROKERS and METRICS_PORT (a free port for the stream).
if [ ! -x "$PVFLOW_BIN" ]; then
    echo "error: no pvflow binary at $PVFLOW_BIN; build it with" \
         "\`cargo build --release --bin pvflow\` (or set PVFLOW_BIN)" >&2
    exit 2
fi
TANSU="$(scripts/tansu.sh)"
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
export ORT_DYLIB_PATH
export PVFLOW_MODEL_PATH="$PWD/models/pv_fault_lean.onnx"
export PVFLOW_MODEL_NORMALIZATION="$PWD/models/normalization.json"
export PVFLOW_STORAGE_LIVE="$PWD/$WORK/live"

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/broker"
LOGS="$WORK/logs"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BROKER_PORT="$(free_port)"
METRICS_PORT="$(free_port)"
BROKERS="127.0.0.1:$BROKER_PORT"
(cd "$WORK/broker" && exec "$TANSU" broker --listener-url "tcp://$BROKERS" \
    --advertised-listener-url "tcp://$BROKERS" --storage-engine sqlite://tansu.db) \
    >"$LOGS/tansu.log" 2>&1 &
TANSU_PID=$!
trap 'kill "$TANSU_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$BROKER_PORT") 2>/dev/null && break
    sleep 0.1
done
