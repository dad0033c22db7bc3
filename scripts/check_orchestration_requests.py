"""Checks that every request an orchestration file sends to the run API is one its OpenAPI
description documents: the operation (method and path), the headers, and the JSON body against
the operation's request schema. Values a state machine fills in at run time (`"key.$"` paths,
`States.Format`) are replaced by typical ones first.

    python check_orchestration_requests.py api/openapi.json orchestration/stepfunctions/*.asl.json

Exits 1 naming every request that does not match.
"""

import json
import re
import sys
from urllib.parse import urlparse

from openapi_spec import operation, schema_errors

# What a run-time value stands for, by the key it fills.
SAMPLES = {"date": "2026-06-01", "Idempotency-Key": "daily-2026-06-01-ingest"}
RUN_ID = "ingest-2026-06-01-3f9c2a1b"


def filled(values):
    """`values` with each `"key.$"` replaced by `"key"` and a sample value."""
    out = {}
    for key, value in values.items():
        if key.endswith(".$"):
            key = key[:-2]
            value = SAMPLES.get(key, "sample")
        out[key] = value
    return out


def endpoint_path(parameters):
    if "ApiEndpoint" in parameters:
        return urlparse(parameters["ApiEndpoint"]).path
    formatted = parameters["ApiEndpoint.$"]
    template = re.match(r"States\.Format\('([^']*)'", formatted)
    if template is None:
        raise ValueError(f"cannot read the endpoint {formatted!r}")
    return urlparse(template.group(1).replace("{}", RUN_ID)).path


def mismatches(spec, op, headers, body):
    """Why a request with `headers` and JSON `body` (None: none) does not fit operation `op`."""
    documented = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
    # Content-Type and Authorization are HTTP's and the security scheme's, not parameters.
    for header in headers:
        if header.lower() not in documented | {"content-type", "authorization"}:
            yield f"header {header} is not documented"
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        if op.get("requestBody", {}).get("required"):
            yield "no body where one is required"
        return
    if content is None:
        yield "a body where none is taken"
        return
    for error in schema_errors(spec, content["schema"], body):
        yield error.message


def http_tasks(states):
    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::http:invoke":
            yield name, state["Parameters"]
        for branch in state.get("Branches", []):
            yield from http_tasks(branch["States"])


def main():
    spec = json.load(open(sys.argv[1]))
    failed, checked = [], 0
    for path in sys.argv[2:]:
        machine = json.load(open(path))
        for name, parameters in http_tasks(machine["States"]):
            checked += 1
            what = f"{path}: {name}"
            method = parameters["Method"]
            op = operation(spec, method, endpoint_path(parameters))
            if op is None:
                failed.append(f"{what}: {method} {endpoint_path(parameters)} is not in the API")
                continue
            headers = filled(parameters.get("Headers", {}))
            body = parameters.get("RequestBody")
            body = None if body is None else filled(body)
            failed.extend(f"{what}: {why}" for why in mismatches(spec, op, headers, body))
    if failed:
        print("\n".join(failed), file=sys.stderr)
        sys.exit(1)
    if checked == 0:
        sys.exit("no request to the run API found")
    print(f"{checked} requests to the run API match its description")


if __name__ == "__main__":
    main()
