#!/usr/bin/env bash
# Installs the tansu Kafka broker (tests' broker process) once, into a cache outside the clone,
# and prints the binary's path. A cold build takes ~21 minutes on 2 cores; later calls return at
# once. Override the location with PVFLOW_TANSU (a binary) or PVFLOW_CACHE (the cache root).
set -euo pipefail
version=0.6.0
if [[ -n "${PVFLOW_TANSU:-}" ]]; then
    [[ -x "$PVFLOW_TANSU" ]] || { echo "PVFLOW_TANSU=$PVFLOW_TANSU is not an executable" >&2; exit 1; }
    echo "$PVFLOW_TANSU"
    exit 0
fi
root="${PVFLOW_CACHE:-$HOME/.cache/pvflow}/tansu-$version"
if [[ ! -x "$root/bin/tansu" ]]; then
    echo "installing tansu $version into $root (first use only, ~21 min on 2 cores)" >&2
    # sqlite storage (libsql) is the one whose offsets-for-times and watermarks are right.
    cargo install tansu --version "$version" --locked --features dynostore,libsql \
        --root "$root" >&2
fi
echo "$root/bin/tansu"
