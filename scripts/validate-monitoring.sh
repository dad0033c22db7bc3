#!/usr/bin/env bash
# Checks the monitoring files offline with Prometheus' own promtool: the alerting rules parse
# (`promtool check rules`) and each alert fires and resolves on the series of its unit tests
# (`promtool test rules monitoring/prometheus/pvflow-rules.test.yaml`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
promtool="$("$ROOT/scripts/promtool.sh")"
cd "$ROOT/monitoring/prometheus"
"$promtool" check rules pvflow-rules.yaml
"$promtool" test rules pvflow-rules.test.yaml
echo "validate-monitoring: the rules parse, and each alert fires and resolves in its tests"
