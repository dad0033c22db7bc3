#!/bin/sh
# Prints the path of Prometheus' promtool: the one on PATH if any, else Debian's `prometheus`
# package, downloaded on first use (`apt-get download`, no root needed) and unpacked into the
# user's cache, outside the clone.
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

if command -v promtool >/dev/null 2>&1; then
    command -v promtool
    exit 0
fi
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
DIR="$CACHE/prometheus-deb"

mkdir -p "$CACHE"
exec 9>"$CACHE/prometheus-deb.lock"
flock 9

if [ ! -f "$DIR/.complete" ]; then
    echo "downloading Debian's prometheus package into $DIR (once)" >&2
    rm -rf "$DIR"
    mkdir -p "$DIR"
    # Stale package lists (a fresh machine): refreshed once, where that is allowed.
    (cd "$DIR" && { apt-get download prometheus >&2 ||
        { [ "$(id -u)" = 0 ] && apt-get update -qq >&2 && apt-get download prometheus >&2; }; } &&
        dpkg-deb -x prometheus_*.deb root) || {
        echo "error: cannot download Debian's prometheus package (apt-get download prometheus)" >&2
        exit 1
    }
    touch "$DIR/.complete"
fi
echo "$DIR/root/usr/bin/promtool"
