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
# The dashboard's queries parse as PromQL: each as a recording rule, with Grafana's
# $__rate_interval as an interval (the cluster e2e test runs them against a real Prometheus).
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 - "$ROOT/monitoring/grafana/pvflow-dashboard.json" >"$WORK/dashboard-queries.yaml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
print("groups:\n  - name: pvflow-dashboard-queries\n    rules:")
for n, panel in enumerate(p for p in dashboard["panels"] if p.get("targets")):
    for target in panel["targets"]:
        expr = target["expr"].replace("$__rate_interval", "5m")
        print(f"      - record: pvflow_dashboard_panel_{n}_{target['refId']}")
        print(f"        expr: {json.dumps(expr)}")
PY
"$promtool" check rules "$WORK/dashboard-queries.yaml"
echo "validate-monitoring: the rules parse, each alert fires and resolves in its tests, and the dashboard's queries parse"
