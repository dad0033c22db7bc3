#!/usr/bin/env bash
# Validates the orchestration files offline: each Step Functions state machine under
# orchestration/stepfunctions/ with asl-validator (npm), and every request they send to the
# run API against its OpenAPI description (scripts/check_orchestration_requests.py); the
# Airflow DAGs under orchestration/airflow/ with ruff's Airflow rules and Airflow's own DagBag,
# their requests checked the same way (scripts/check_airflow_dag.py).
#
#   scripts/validate-orchestration.sh     # exits non-zero on any failure
#
# asl-validator is installed on first use from the npm registry (Node.js from Debian) into the
# user's cache, outside the clone; the request check uses scripts/openapi.sh's Python, the DAG
# checks scripts/airflow.sh's.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VALIDATOR=asl-validator@3.16.0

fail() {
    echo "validate-orchestration: FAILED: $*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || fail "node is needed (Debian: apt-get install nodejs npm)"
NODE_DIR="$("$ROOT/scripts/node-packages.sh" asl-validator "$VALIDATOR")" ||
    fail "npm could not install $VALIDATOR"

machines=("$ROOT"/orchestration/stepfunctions/*.asl.json)
[ -e "${machines[0]}" ] || fail "no state machine under orchestration/stepfunctions/"
for machine in "${machines[@]}"; do
    "$NODE_DIR/node_modules/.bin/asl-validator" --silent --json-path "$machine" ||
        fail "$machine is not a valid state machine (asl-validator)"
done
python="$("$ROOT/scripts/openapi.sh")"
"$python" "$ROOT/scripts/check_orchestration_requests.py" "$ROOT/api/openapi.json" \
    "${machines[@]}" || fail "a request does not match api/openapi.json"

airflow="$("$ROOT/scripts/airflow.sh")"
"$(dirname "$airflow")/ruff" check --quiet --select AIR,F,E,W,B,I --preview --line-length 100 \
    "$ROOT/orchestration/airflow" || fail "ruff: orchestration/airflow"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
if ! AIRFLOW_HOME="$home" "$airflow" "$ROOT/scripts/check_airflow_dag.py" \
        "$ROOT/orchestration/airflow" "$ROOT/api/openapi.json" >"$home/check.out" 2>&1; then
    cat "$home/check.out" >&2
    fail "orchestration/airflow does not load or does not match api/openapi.json"
fi
tail -n 1 "$home/check.out"
echo "validate-orchestration: ${#machines[@]} state machine(s) and the Airflow DAGs valid, their requests documented"
