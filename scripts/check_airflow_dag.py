"""Loads the Airflow DAGs under orchestration/airflow/ with Airflow's own DagBag and checks
pvflow_daily: no import error, its tasks in order (submit then wait, ingest then predict),
every request its HTTP tasks send (templates rendered for a sample day) against the run API's
OpenAPI description, and its callbacks on the API's answers.

    AIRFLOW_HOME=$(mktemp -d) python check_airflow_dag.py orchestration/airflow api/openapi.json

Run with scripts/airflow.sh's Python. Exits 1 naming every mismatch.
"""

import json
import sys
from pathlib import Path

import jinja2
from airflow.exceptions import AirflowFailException
from airflow.models.dagbag import DagBag

sys.path.insert(0, str(Path(__file__).parent))
from check_orchestration_requests import mismatches  # noqa: E402
from openapi_spec import operation  # noqa: E402

RUN_ID = "ingest-2026-06-01-3f9c2a1b"


class Answer:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


def rendered(template, dag_id):
    """`template` as Airflow renders it for the run of 2026-06-01."""
    context = {
        "ds": "2026-06-01",
        "dag": {"dag_id": dag_id},
        "ti": {"max_tries": 5, "xcom_pull": lambda task_ids: RUN_ID},
    }
    return jinja2.Template(template).render(context)


def main():
    folder, description = sys.argv[1], sys.argv[2]
    spec = json.load(open(description))
    bag = DagBag(dag_folder=folder, include_examples=False)
    failed = [f"{path}: {error}" for path, error in bag.import_errors.items()]
    dag = bag.dags.get("pvflow_daily")
    if dag is None:
        sys.exit("\n".join(failed + ["no DAG pvflow_daily"]))
    order = ["submit_ingest", "wait_ingest", "submit_predict", "wait_predict"]
    for first, then in zip(order, order[1:]):
        if dag.task_dict[first].downstream_task_ids != {then}:
            failed.append(f"{first} is not followed by {then} alone")
    for task in dag.tasks:
        method = task.method
        path = "/" + rendered(task.endpoint, dag.dag_id).lstrip("/")
        op = operation(spec, method, path)
        if op is None:
            failed.append(f"{task.task_id}: {method} {path} is not in the API")
            continue
        headers = {k: rendered(v, dag.dag_id) for k, v in (task.headers or {}).items()}
        data = getattr(task, "data", None)
        body = None if data is None else json.loads(rendered(data, dag.dag_id))
        failed.extend(f"{task.task_id}: {why}" for why in mismatches(spec, op, headers, body))
    # The callbacks, on answers the API gives.
    submit, wait = dag.task_dict["submit_ingest"], dag.task_dict["wait_ingest"]
    if submit.response_filter(Answer({"run_id": RUN_ID, "state": "running"})) != RUN_ID:
        failed.append("submit_ingest does not pass the run's ID on")
    check = wait.response_check
    if check(Answer({"run_id": RUN_ID, "state": "running"})) is not False:
        failed.append("wait_ingest does not keep waiting while the run runs")
    if check(Answer({"run_id": RUN_ID, "state": "succeeded"})) is not True:
        failed.append("wait_ingest does not go on once the run succeeded")
    for ended in ("failed", "cancelled"):
        try:
            check(Answer({"run_id": RUN_ID, "state": ended, "error": "why"}))
            failed.append(f"wait_ingest does not fail on a run that {ended}")
        except AirflowFailException:
            pass
    if failed:
        print("\n".join(failed), file=sys.stderr)
        sys.exit(1)
    print(f"pvflow_daily: {len(dag.tasks)} tasks, their requests documented")


if __name__ == "__main__":
    main()
