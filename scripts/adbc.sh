#!/bin/sh
# Prints the path of a Python that has ADBC's Flight SQL driver (PyPI `adbc-driver-flightsql`,
# with pyarrow), installing it on first use into a virtualenv under the user's cache, outside the
# clone. The tests query pvflow's Flight SQL through it, as an analyst's client would. Needs
# python3 with venv and pip.
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

VERSION=1.13.0
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/adbc-flightsql-$VERSION"

mkdir -p "$CACHE"
exec 9>"$CACHE/adbc-flightsql-$VERSION.lock"
flock 9

if [ ! -f "$VENV/.complete" ]; then
    echo "installing adbc-driver-flightsql $VERSION into $VENV (once)" >&2
    # .complete marks a finished install, so an interrupted one is redone, not used.
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "adbc-driver-flightsql==$VERSION" "adbc-driver-manager==$VERSION" pyarrow >&2
    touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
