#!/usr/bin/env bash
# Every test behind docs/reliability.md's table, then the run API and Flight SQL load at a
# larger scale, its figures written to bench/results/load.json.
#
#   bench/reliability.sh
#   API_CLIENTS=64 FLIGHT_CLIENTS=8 bench/reliability.sh
#
# API_CLIENTS     concurrent run API clients (default 32)
# FLIGHT_CLIENTS  concurrent Flight SQL sessions (default 4)
# The binaries are the workspace's dev build, as `make test` uses (built here if needed).
set -euo pipefail
cd "$(dirname "$0")/.."

PVFLOW_TANSU="$(scripts/tansu.sh)"
PVFLOW_S3S_FS="$(scripts/s3s-fs.sh)"
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
export PVFLOW_TANSU PVFLOW_S3S_FS ORT_DYLIB_PATH

cargo nextest run --workspace --no-fail-fast -E '
    test(/late_and_reordered|late_readings|mutated|oversized|generated|refused|refuses|secret|reaches_only|confined|credentials/)
  | test(/stopped|loses_an_executor|a_scheduler_that_is_not_there|scheduler_restart|unreachable|spills/)
  | test(/storage_failures|stale_files_outside_the_log|over_tls_only/)
  | test(/with_a_token|https|408|plans_on_the_cluster_equal/)'

mkdir -p bench/results
PVFLOW_LOAD_API_CLIENTS="${API_CLIENTS:-32}" PVFLOW_LOAD_REQUESTS=200 \
PVFLOW_LOAD_FLIGHT_CLIENTS="${FLIGHT_CLIENTS:-4}" PVFLOW_LOAD_QUERIES=20 \
PVFLOW_LOAD_REPORT="$PWD/bench/results/load.json" \
  cargo nextest run -p pvflow-e2e --no-capture -E 'test(concurrent_load)'
cat bench/results/load.json
