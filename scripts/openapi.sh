#!/bin/sh
# Prints the path of a Python that has openapi-spec-validator (and jsonschema), installed on
# first use (scripts/python-venv.sh). The tests check the run API's OpenAPI description and its
# real answers with it.
set -eu
VERSION=0.7.2
exec "$(dirname "$0")/python-venv.sh" "openapi-spec-validator-$VERSION" \
    "openapi-spec-validator==$VERSION"
