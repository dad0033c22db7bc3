#!/bin/sh
# Prints the path of a Python that has openapi-spec-validator (and jsonschema), installing it on
# first use into a virtualenv under the user's cache, outside the clone. The tests check the run
# API's OpenAPI description and its real answers with it. Needs python3 with venv and pip.
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

VERSION=0.7.2
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/openapi-spec-validator-$VERSION"

mkdir -p "$CACHE"
exec 9>"$CACHE/openapi-spec-validator-$VERSION.lock"
flock 9

if [ ! -f "$VENV/.complete" ]; then
    echo "installing openapi-spec-validator $VERSION into $VENV (once)" >&2
    # .complete marks a finished install, so an interrupted one is redone, not used.
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "openapi-spec-validator==$VERSION" >&2
    touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
