#!/bin/sh
# Prints the path of a Python that has Apache Airflow with its http provider (and ruff, for its
# Airflow rules), installing them on first use into a virtualenv under the user's cache,
# outside the clone (about 40 s and 300 MB). scripts/validate-orchestration.sh loads pvflow's
# DAG with Airflow's own DagBag through it. Needs python3 with venv and pip.
#
# Progress goes to stderr; only the path goes to stdout.
set -eu

AIRFLOW=3.1.3
HTTP_PROVIDER=6.3.0
RUFF=0.14.8
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/airflow-$AIRFLOW"

mkdir -p "$CACHE"
exec 9>"$CACHE/airflow-$AIRFLOW.lock"
flock 9

if [ ! -f "$VENV/.complete" ]; then
    echo "installing Apache Airflow $AIRFLOW into $VENV (once)" >&2
    # .complete marks a finished install, so an interrupted one is redone, not used.
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==$AIRFLOW" \
        "apache-airflow-providers-http==$HTTP_PROVIDER" "ruff==$RUFF" >&2
    touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
