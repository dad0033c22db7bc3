#!/bin/sh
# Prints the path of the ONNX Runtime shared library pvflow loads (for ORT_DYLIB_PATH or
# [model] onnxruntime), installing it on first use from the onnxruntime wheel on PyPI into a
# virtualenv under the user's cache, outside the clone. Needs python3 with venv and pip.
#
#   export ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

VERSION=1.31.1
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/onnxruntime-$VERSION"

find_library() {
    [ -f "$VENV/.complete" ] || return 0
    find "$VENV" -path '*/onnxruntime/capi/*' -name "libonnxruntime.so.$VERSION" -print -quit 2>/dev/null || true
}

# One installer at a time (parallel test processes may all ask on first use).
mkdir -p "$CACHE"
exec 9>"$CACHE/onnxruntime-$VERSION.lock"
flock 9

LIBRARY="$(find_library)"
if [ -z "$LIBRARY" ]; then
    echo "installing ONNX Runtime $VERSION into $VENV (once)" >&2
    # .complete marks a finished install, so an interrupted one is redone, not used.
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "onnxruntime==$VERSION" >&2
    touch "$VENV/.complete"
    LIBRARY="$(find_library)"
fi
if [ -z "$LIBRARY" ]; then
    echo "error: the onnxruntime $VERSION wheel in $VENV has no libonnxruntime.so.$VERSION" >&2
    exit 1
fi
echo "$LIBRARY"
