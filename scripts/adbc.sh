#!/bin/sh
# Prints the path of a Python that has ADBC's Flight SQL driver (PyPI `adbc-driver-flightsql`,
# with pyarrow), installed on first use (scripts/python-venv.sh). The tests query pvflow's
# Flight SQL through it, as an analyst's client would.
set -eu
VERSION=1.13.0
exec "$(dirname "$0")/python-venv.sh" "adbc-flightsql-$VERSION" \
    "adbc-driver-flightsql==$VERSION" "adbc-driver-manager==$VERSION" pyarrow
