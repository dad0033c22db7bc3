#!/usr/bin/env bash
# Installs s3s-fs (an S3 server over a local directory: the tests' S3, on 127.0.0.1 only) once,
# into a cache outside the clone, and prints the binary's path. About 3 minutes the first time;
# later calls return at once. Override with PVFLOW_S3S_FS (a binary) or PVFLOW_CACHE (the root).
set -euo pipefail
version=0.14.1
if [[ -n "${PVFLOW_S3S_FS:-}" ]]; then
    [[ -x "$PVFLOW_S3S_FS" ]] || { echo "PVFLOW_S3S_FS=$PVFLOW_S3S_FS is not an executable" >&2; exit 1; }
    echo "$PVFLOW_S3S_FS"
    exit 0
fi
root="${PVFLOW_CACHE:-$HOME/.cache/pvflow}/s3s-fs-$version"
if [[ ! -x "$root/bin/s3s-fs" ]]; then
    echo "installing s3s-fs $version into $root (first use only, ~3 min on 2 cores)" >&2
    # 0.17 needs a newer Rust than this toolchain.
    cargo install s3s-fs --version "$version" --locked --features binary --root "$root" >&2
fi
echo "$root/bin/s3s-fs"
