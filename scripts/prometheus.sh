#!/bin/sh
# Prints the path of the Prometheus server: the one on PATH if any, else the one in Debian's
# `prometheus` package that scripts/promtool.sh unpacks (into the user's cache, on first use).
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

if command -v prometheus >/dev/null 2>&1; then
    command -v prometheus
    exit 0
fi
promtool="$(dirname "$0")/promtool.sh"
echo "$(dirname "$("$promtool")")/prometheus"
