"""pvflow's daily runs over its run API (docs/run-api.md): ingest the day, then predict it.

Each plan is submitted with the http provider's `HttpOperator` (`POST /runs`) and followed with
an `HttpSensor` on `GET /runs/<id>` until it ends: `succeeded` goes on, `failed` or `cancelled`
fails the task without retrying. Set up an HTTP connection `pvflow_api` whose host is the API
(`http://pvflow-api.pvflow:8080` in the cluster) and whose extra is
`{"Authorization": "Bearer <token>"}` (Secret `pvflow-api-token`).

A submit retried after a lost answer sends the same `Idempotency-Key` and gets the first run
back instead of starting another; clearing the task (a deliberate re-run) raises `max_tries`,
and so sends a new key and starts a new run.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pendulum
from airflow.exceptions import AirflowFailException
from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor
from airflow.sdk import DAG, chain

CONNECTION = "pvflow_api"
PLANS = ("ingest", "predict")


def run_id(response):
    """The run a submit started (202) or found again by its Idempotency-Key (200)."""
    return response.json()["run_id"]


def run_ended(response):
    """True once the run succeeded; fails the sensor for good if it failed or was cancelled."""
    run = response.json()
    if run["state"] == "running":
        return False
    if run["state"] == "succeeded":
        return True
    raise AirflowFailException(f"run {run['run_id']} ended {run['state']}: {run.get('error')}")


with DAG(
    dag_id="pvflow_daily",
    description="pvflow: ingest, then predict, the previous day",
    schedule="0 1 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        # 5xx answers and lost connections: retried with exponential backoff, 6 attempts.
        "retries": 5,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
    },
    tags=["pvflow"],
) as dag:
    tasks = []
    for plan in PLANS:
        submit = HttpOperator(
            task_id=f"submit_{plan}",
            http_conn_id=CONNECTION,
            method="POST",
            endpoint="runs",
            data=json.dumps({"plan": plan, "date": "{{ ds }}"}),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": "{{ dag.dag_id }}-{{ ds }}-" + plan + "-{{ ti.max_tries }}",
            },
            response_filter=run_id,
        )
        wait = HttpSensor(
            task_id=f"wait_{plan}",
            http_conn_id=CONNECTION,
            method="GET",
            endpoint="runs/{{ ti.xcom_pull(task_ids='submit_" + plan + "') }}",
            response_check=run_ended,
            poke_interval=30,
            timeout=6 * 3600,
            mode="reschedule",
        )
        tasks += [submit, wait]
    chain(*tasks)
