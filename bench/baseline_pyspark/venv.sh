#!/bin/sh
# Prints the path of the baseline's Python, creating its virtualenv on first use (and again
# whenever requirements.txt changes) under the user's cache, outside the clone, with
# bench/run.sh's plotting packages (requirements-plot.txt) on top.
#
#   PY="$(bench/baseline_pyspark/venv.sh)"
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/baseline-venv"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"

# One installer at a time.
mkdir -p "$CACHE"
exec 9>"$CACHE/baseline-venv.lock"
flock 9

# .complete holds the hash of the requirements it was built from: an interrupted install or
# changed pins rebuild the venv rather than run with the wrong packages.
if [ "$(cat "$VENV/.complete" 2>/dev/null)" != "$WANT" ]; then
    echo "installing the PySpark baseline's packages into $VENV (once, ~1 GB)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
    echo "$WANT" > "$VENV/.complete"
fi
# A layer of its own, so that changing the plot's pins does not reinstall Spark; constrained by
# requirements.txt so that it cannot move the baseline's packages.
WANT_PLOT="$(sha256sum "$HERE/requirements-plot.txt" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.complete-plot" 2>/dev/null)" != "$WANT_PLOT" ]; then
    echo "installing the plotting packages into $VENV (once)" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$HERE/requirements.txt" \
        -r "$HERE/requirements-plot.txt" >&2
    echo "$WANT_PLOT" > "$VENV/.complete-plot"
fi
echo "$VENV/bin/python"
