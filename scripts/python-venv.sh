#!/bin/sh
# Prints the path of a Python with PACKAGEs (pip requirement specifiers), installing them on
# first use into the virtualenv NAME under the user's cache, outside the clone. The installers
# beside this one (adbc.sh, airflow.sh, deltalake.sh, openapi.sh) name what they need through
# it. Needs python3 with venv and pip.
#
#   scripts/python-venv.sh NAME PACKAGE...
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

[ "$#" -ge 2 ] || { echo "usage: $0 NAME PACKAGE..." >&2; exit 2; }
NAME=$1
shift
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/$NAME"

mkdir -p "$CACHE"
# One installer at a time (parallel test processes may all ask on first use).
exec 9>"$CACHE/$NAME.lock"
flock 9

if [ ! -f "$VENV/.complete" ]; then
    echo "installing $* into $VENV (once)" >&2
    # .complete marks a finished install, so an interrupted one is redone, not used.
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
