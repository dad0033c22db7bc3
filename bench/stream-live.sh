#!/usr/bin/env bash
# The stream at a fleet's live rate: `pvflow simulate --live-minutes` publishes DEVICES devices
# to a tansu topic of PARTITIONS partitions at their real rate (one reading per device every
# 20 s: 5,000 readings/s for 100,000 devices), each reading when the wall clock reaches its
# time, for MINUTES minutes; one `pvflow stream` member takes them meanwhile. Nothing is
# compressed in time, so the delay from a window's end to its diagnosis is the one operators
# would see. A window is 21 min 20 s: 45 minutes close the first, partial windows (by watermark)
# and at least one whole window of every device.
#
# Writes WORK/summary.json and prints it: the stream's CPU seconds and share of a core, peak
# RSS, readings and windows, and the delay's p50/p99, from the
# stream's own histogram (pvflow_stream_diagnosis_delay_seconds), interpolated within buckets
# as Prometheus' histogram_quantile does.
#
#   cargo build --release --bin pvflow
#   DEVICES=100000 MINUTES=45 bench/stream-live.sh
#
# PVFLOW_BIN  the pvflow binary (default target/release/pvflow; this script does not build it)
# SENSORS     realistic (default: lost readings leave windows to close by watermark) or clean
# WORK        the broker's files, the live table and logs (default target/bench/stream-live-DEVICES)
set -euo pipefail
cd "$(dirname "$0")/.."

PVFLOW_BIN="${PVFLOW_BIN:-target/release/pvflow}"
DEVICES="${DEVICES:-100000}"
MINUTES="${MINUTES:-45}"
PARTITIONS="${PARTITIONS:-8}"
SENSORS="${SENSORS:-realistic}"
WORK="${WORK:-target/bench/stream-live-$DEVICES}"

. bench/stream-setup.sh

echo "  simulate (live, $MINUTES min) and stream" >&2
python3 bench/measure.py "$LOGS/simulate.measure.json" "$PVFLOW_BIN" simulate \
    --brokers "$BROKERS" --topic pv.live --partitions "$PARTITIONS" --devices "$DEVICES" \
    --live-minutes "$MINUTES" --seed 7 --sensors "$SENSORS" \
    >"$LOGS/simulate.out" 2>"$LOGS/simulate.err" &
SIMULATE_PID=$!
# The simulator creates the topic first, so the member is given its partitions from the start.
sleep 3
python3 bench/measure.py "$LOGS/stream.measure.json" "$PVFLOW_BIN" -v stream \
    --brokers "$BROKERS" --topic pv.live --group bench-live \
    --metrics-bind "127.0.0.1:$METRICS_PORT" >"$LOGS/stream.out" 2>"$LOGS/stream.err" &
MEASURE_PID=$!

# Once the simulator is done and one more commit has landed, stops the stream.
python3 - "$METRICS_PORT" "$SIMULATE_PID" "$LOGS" <<'PY'
import os, re, subprocess, sys, time, urllib.request
port, simulate, logs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def metrics():
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return ""
def total(text, name):
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
while alive(simulate):
    time.sleep(2)
committed = total(metrics(), "pvflow_stream_commits_total")
deadline = time.time() + 120
while total(metrics(), "pvflow_stream_commits_total") == committed and time.time() < deadline:
    time.sleep(0.5)
open(f"{logs}/metrics.txt", "w").write(metrics())
pids = subprocess.run(["pgrep", "-f", "--", f"--metrics-bind 127.0.0.1:{port}"],
                      capture_output=True, text=True).stdout.split()
pvflow = [p for p in pids if open(f"/proc/{p}/comm").read().strip() == "pvflow"]
subprocess.run(["kill", "-TERM", *pvflow], check=True)
PY
wait "$SIMULATE_PID" || { tail -n 20 "$LOGS/simulate.err" >&2; exit 1; }
wait "$MEASURE_PID" || true

python3 - "$WORK" "$DEVICES" "$PARTITIONS" "$MINUTES" "$SENSORS" <<'PY'
import json, re, sys
work, devices, partitions, minutes, sensors = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
logs = f"{work}/logs"
text = open(f"{logs}/metrics.txt").read()
def total(name):
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))
buckets = sorted(
    (float("inf") if le == "+Inf" else float(le), float(n))
    for le, n in re.findall(
        r'^pvflow_stream_diagnosis_delay_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)$', text, re.M))
def quantile(q):
    """Prometheus' histogram_quantile: linear within the bucket the rank falls in."""
    count = buckets[-1][1] if buckets else 0
    if count == 0:
        return None
    rank, lower, below = q * count, None, 0.0
    for upper, n in buckets:
        if n >= rank:
            if upper == float("inf"):
                return lower
            if lower is None:
                return upper
            return lower + (upper - lower) * (rank - below) / max(n - below, 1e-9)
        lower, below = upper, n
    return None
stream = json.load(open(f"{logs}/stream.measure.json"))
readings = total("pvflow_stream_readings_total")
summary = {
    "devices": devices,
    "partitions": partitions,
    "minutes": minutes,
    "sensors": sensors,
    "readings_per_second_offered": devices / 20,
    "readings": readings,
    "windows_committed": float(re.search(
        r'^pvflow_stream_commits_total\{[^}]*what="windows"[^}]*\} (\S+)$', text, re.M)[1]),
    "windows_closed": {r: float(n) for r, n in re.findall(
        r'^pvflow_stream_windows_closed_total\{reason="([^"]+)"[^}]*\} (\S+)$', text, re.M)},
    "diagnosis_delay_seconds": {"p50": quantile(0.5), "p99": quantile(0.99),
                                "count": buckets[-1][1] if buckets else 0},
    "stream": stream,
    "stream_cores": stream["cpu_seconds"] / stream["wall_seconds"],
    "simulate": json.load(open(f"{logs}/simulate.measure.json")),
}
json.dump(summary, open(f"{work}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
