#!/bin/sh
# Prints the path of a Python that has delta-rs (PyPI `deltalake`), installing it on first use
# into a virtualenv under the user's cache, outside the clone. The tests use it to check that
# pvflow's datasets are Delta tables another reader agrees on. Needs python3 with venv and pip.
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

VERSION=1.6.6
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/deltalake-$VERSION"

mkdir -p "$CACHE"
exec 9>"$CACHE/deltalake-$VERSION.lock"
flock 9

if [ ! -f "$VENV/.complete" ]; then
    echo "installing deltalake $VERSION into $VENV (once)" >&2
    # .complete marks a finished install, so an interrupted one is redone, not used.
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "deltalake==$VERSION" pyarrow >&2
    touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
