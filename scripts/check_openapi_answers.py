"""Checks an OpenAPI 3.1 description, and real answers against it.

    python check_openapi_answers.py OPENAPI.json ANSWERS.json

ANSWERS.json is a list of {"method", "path", "status", "body"} (body: the JSON answered, or
null for a non-JSON one): each must be an operation and a status the description documents,
and a JSON body must match that response's schema. Exits 1 naming every mismatch.
"""

import json
import sys

from openapi_spec import deref, operation, schema_errors
from openapi_spec_validator import validate


def main():
    spec = json.load(open(sys.argv[1]))
    answers = json.load(open(sys.argv[2]))
    validate(spec)
    failed = []
    for answer in answers:
        what = f"{answer['method']} {answer['path']} -> {answer['status']}"
        op = operation(spec, answer["method"], answer["path"])
        if op is None:
            failed.append(f"{what}: no such operation")
            continue
        response = op["responses"].get(str(answer["status"]))
        if response is None:
            failed.append(f"{what}: status not documented")
            continue
        response = deref(spec, response)
        body = answer["body"]
        if body is None:
            continue
        content = response.get("content", {}).get("application/json")
        if content is None:
            failed.append(f"{what}: a JSON body where none is documented")
            continue
        errors = schema_errors(spec, content["schema"], body)
        failed.extend(f"{what}: {e.message} at {list(e.absolute_path)}" for e in errors)
    if failed:
        print("\n".join(failed), file=sys.stderr)
        sys.exit(1)
    print(f"{len(answers)} answers match the description")


if __name__ == "__main__":
    main()
