#!/usr/bin/env bash
# Prints the path of a directory whose node_modules holds PACKAGEs (npm specifiers), installing
# them on first use from the npm registry into NAME under the user's cache, outside the clone
# (Node.js and npm from Debian: apt-get install nodejs npm). validate-deploy.sh and
# validate-orchestration.sh get their Node.js validators through it.
#
#   scripts/node-packages.sh NAME PACKAGE...
#
# Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

[ "$#" -ge 2 ] || { echo "usage: $0 NAME PACKAGE..." >&2; exit 2; }
NAME=$1
shift
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
DIR="$CACHE/$NAME"
command -v npm >/dev/null 2>&1 || {
    echo "error: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
    exit 1
}

mkdir -p "$CACHE"
exec 9>"$CACHE/$NAME.lock"
flock 9
# The marker names the package list, so a changed list is installed afresh.
MARKER="$DIR/.complete-$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
if [ ! -f "$MARKER" ]; then
    echo "installing $* into $DIR (once)" >&2
    rm -rf "$DIR"
    mkdir -p "$DIR"
    (cd "$DIR" && echo '{"private": true}' >package.json &&
        npm install --silent --no-audit --no-fund "$@" >&2) || {
        echo "error: npm could not install $*" >&2
        exit 1
    }
    touch "$MARKER"
fi
echo "$DIR"
