#!/bin/sh
# Prints the path of a Chromium for the dashboard's browser test: `PVFLOW_CHROMIUM` or the one on
# PATH if any, else Debian's `chromium` package, installed on first use (as root; it brings the
# libraries it needs, so an unpacked .deb would not do).
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

if [ -n "${PVFLOW_CHROMIUM:-}" ]; then
    echo "$PVFLOW_CHROMIUM"
    exit 0
fi
for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null 2>&1; then
        command -v "$candidate"
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "error: no chromium on PATH; install Debian's chromium package (apt-get install chromium) or set PVFLOW_CHROMIUM" >&2
    exit 1
fi
echo "installing Debian's chromium package (once)" >&2
export DEBIAN_FRONTEND=noninteractive
{ apt-get install -y -qq --no-install-recommends chromium >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends chromium >&2; }; } || {
    echo "error: cannot install Debian's chromium package" >&2
    exit 1
}
command -v chromium
