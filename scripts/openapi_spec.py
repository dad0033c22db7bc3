"""Looking things up in an OpenAPI 3.1 description, for the checks that hold requests and
answers against the run API's (api/openapi.json)."""

import re

from jsonschema import Draft202012Validator


def operation(spec, method, path):
    """The operation `method` `path` (a concrete path, `/runs/ingest-...`) is, or None."""
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    return None


def deref(spec, node):
    """`node`, or what its `$ref` points to."""
    if "$ref" not in node:
        return node
    target = spec
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return target


def schema_errors(spec, schema, value):
    """Why `value` does not match `schema` (its `$ref`s into the description resolved)."""
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    return sorted(validator.iter_errors(value), key=str)
