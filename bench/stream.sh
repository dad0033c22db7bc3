#!/usr/bin/env bash
# The stream replaying a simulated day from a real broker as fast as it can: DEVICES devices x 1
# day (clean sensors) published to a tansu topic of PARTITIONS partitions (timed separately),
# then one `pvflow stream` member reads all of it, closes, diagnoses and commits every window;
# it is stopped (SIGTERM) once its metrics count every reading taken and no commit is pending.
# Writes WORK/summary.json and prints it: readings, windows, wall and CPU seconds, readings per
# CPU-second, peak RSS.
#
#   cargo build --release --bin pvflow
#   DEVICES=1000 bench/stream.sh
#
# PVFLOW_BIN  the pvflow binary (default target/release/pvflow; this script does not build it)
# WORK        the broker's files, the live table and logs (default target/bench/stream-DEVICES)
set -euo pipefail
cd "$(dirname "$0")/.."

PVFLOW_BIN="${PVFLOW_BIN:-target/release/pvflow}"
DEVICES="${DEVICES:-1000}"
PARTITIONS="${PARTITIONS:-4}"
WORK="${WORK:-target/bench/stream-$DEVICES}"

# tansu's first fetch of a multi-million-message partition takes longer than librdkafka's
# default 60 s socket timeout, which would then retry it for ever.
export PVFLOW_KAFKA_CLIENT="${PVFLOW_KAFKA_CLIENT:-{\"socket.timeout.ms\"=\"300000\"\}}"
export PVFLOW_STREAMING_COMMIT_INTERVAL_SECONDS=5
. bench/stream-setup.sh
. bench/step.sh

step simulate "$PVFLOW_BIN" simulate --brokers "$BROKERS" --topic pv.bench \
    --partitions "$PARTITIONS" --devices "$DEVICES" --start 2026-06-01 --days 1 --seed 7 \
    --sensors clean

# The stream under measure.py in the background; stopped once it has taken every reading.
echo "  stream" >&2
python3 bench/measure.py "$LOGS/stream.measure.json" "$PVFLOW_BIN" -v stream \
    --brokers "$BROKERS" --topic pv.bench --group bench \
    --metrics-bind "127.0.0.1:$METRICS_PORT" >"$LOGS/stream.out" 2>"$LOGS/stream.err" &
MEASURE_PID=$!
python3 - "$METRICS_PORT" "$((DEVICES * 4320))" "$LOGS/stream.err" <<'PY'
import re, subprocess, sys, time, urllib.request
port, expected, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def metrics():
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return ""
def total(text, name):
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))
deadline = time.time() + 3600
while time.time() < deadline:
    text = metrics()
    if total(text, "pvflow_stream_readings_total") >= expected:
        break
    time.sleep(0.5)
else:
    sys.exit(f"the stream did not take {expected} readings within an hour; see {log}")
# The windows closed since the last commit are committed at the next one.
committed = total(metrics(), "pvflow_stream_commits_total")
while total(metrics(), "pvflow_stream_commits_total") == committed:
    time.sleep(0.5)
# The pvflow process itself, not measure.py, whose command line names the same port.
pids = subprocess.run(["pgrep", "-f", "--", f"--metrics-bind 127.0.0.1:{port}"],
                      capture_output=True, text=True).stdout.split()
pvflow = [p for p in pids if open(f"/proc/{p}/comm").read().strip() == "pvflow"]
subprocess.run(["kill", "-TERM", *pvflow], check=True)
PY
wait "$MEASURE_PID" || true

python3 - "$WORK" "$DEVICES" "$PARTITIONS" <<'PY'
import json, re, sys
work, devices, partitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
steps = {name: json.load(open(f"{work}/logs/{name}.measure.json")) for name in ["simulate", "stream"]}
stopped = [l for l in open(f"{work}/logs/stream.err") if l.startswith("stream stopped:")]
numbers = [int(n) for n in re.findall(r"(\d+) ", stopped[-1])] if stopped else []
readings, windows = (numbers[0], numbers[1]) if len(numbers) >= 2 else (None, None)
stream = steps["stream"]
summary = {
    "devices": devices,
    "partitions": partitions,
    "readings": readings,
    "windows_written": windows,
    "stream": stream,
    "simulate": steps["simulate"],
    "readings_per_cpu_second": readings / stream["cpu_seconds"] if readings else None,
    "readings_per_wall_second": readings / stream["wall_seconds"] if readings else None,
}
json.dump(summary, open(f"{work}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
