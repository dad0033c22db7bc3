"""Reads a Delta table with delta-rs and prints what it sees as JSON: the e2e tests compare it
with pvflow's own view. Usage: read_delta.py URI [APP_ID ...] (a directory or s3://; S3
settings from the standard AWS variables, as pvflow takes them), with the version of each
application transaction APP_ID."""

import json
import os
import sys

from deltalake import DeltaTable

uri, app_ids = sys.argv[1], sys.argv[2:]
options = {}
if uri.startswith("s3://"):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"):
        if key in os.environ:
            options[key] = os.environ[key]
    if "AWS_ENDPOINT" in os.environ:
        options["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT"]
table = DeltaTable(uri, storage_options=options)
rows = table.to_pyarrow_table(columns=["device_id", "window_start", "date"])
print(
    json.dumps(
        {
            "version": table.version(),
            "partition_columns": table.metadata().partition_columns,
            "files": sorted(uri_.rsplit("/", 1)[-1] for uri_ in table.file_uris()),
            "rows": rows.num_rows,
            "dates": sorted({str(d) for d in rows.column("date").to_pylist()}),
            "transactions": {app: table.transaction_version(app) for app in app_ids},
        }
    )
)
sys.stdout.flush()
# pyarrow's S3 client can abort the interpreter at exit ("terminate called without an active
# exception"); everything is printed by now, so skip the interpreter's teardown.
os._exit(0)
