#!/bin/sh
# Prints the path of a Python that has Apache Airflow with its http provider (and ruff, for its
# Airflow rules), installed on first use (scripts/python-venv.sh; about 40 s and 300 MB).
# scripts/validate-orchestration.sh loads pvflow's DAG with Airflow's own DagBag through it.
set -eu
AIRFLOW=3.1.3
exec "$(dirname "$0")/python-venv.sh" "airflow-$AIRFLOW" "apache-airflow==$AIRFLOW" \
    "apache-airflow-providers-http==6.3.0" "ruff==0.14.8"
