#!/bin/sh
# Prints the path of a Python that has delta-rs (PyPI `deltalake`), installed on first use
# (scripts/python-venv.sh). The tests use it to check that pvflow's datasets are Delta tables
# another reader agrees on.
set -eu
VERSION=1.6.6
exec "$(dirname "$0")/python-venv.sh" "deltalake-$VERSION" "deltalake==$VERSION" pyarrow
