"""The small vocabulary the area modules describe their endpoints in: schemas and operations.

An operation lists its own answers; the error answers every caller can meet follow from what it
declares (who may call it, whether it takes a body or a path id), so no area repeats them and
none can forget the 401 of an authenticated endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Schema = dict[str, Any]

JSON = "application/json"
MAX_ID = 2**63 - 1

# Who may call: staff by access token or API token, people only (no API token), the widget's
# visitor token, or anyone.
STAFF: list[dict[str, list[str]]] = [{"accessToken": []}, {"apiToken": []}]
PEOPLE: list[dict[str, list[str]]] = [{"accessToken": []}]
VISITOR: list[dict[str, list[str]]] = [{"visitorToken": []}]
PUBLIC: list[dict[str, list[str]]] = []

ERRORS = {
    400: ("BadRequest", "The request is malformed (a body that is not a JSON object, ...)."),
    401: ("NotAuthenticated", "No valid credentials."),
    403: ("Forbidden", "The caller's role (or origin, or account state) does not allow this."),
    404: ("NotFound", "No such resource in the caller's tenant."),
    409: ("Conflict", "The resource's state does not allow this, or a name is taken."),
    413: ("TooLarge", "The request body is larger than the server accepts."),
    415: ("UnsupportedType", "The file's content is of a type the server does not accept."),
    416: ("RangeNotSatisfiable", "The byte range asked for lies outside the file."),
    422: ("Invalid", "A field or parameter is invalid; the message names it."),
    429: ("RateLimited", "Too many requests; `Retry-After` says when to try again."),
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def string(**rules: Any) -> Schema:
    return {"type": "string", **rules}


def integer(low: int | None = None, high: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    return schema


def array(items: Schema, **rules: Any) -> Schema:
    return {"type": "array", "items": items, **rules}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


BOOLEAN: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
ID: Schema = integer(1)


def answer(properties: Mapping[str, Schema], optional: Iterable[str] = ()) -> Schema:
    """An object the server sends: every field present unless `optional`, and no other field,
    so the conformance run notices a field added without being described."""
    skip = set(optional)
    return {
        "type": "object",
        "properties": dict(properties),
        "required": [name for name in properties if name not in skip],
        "additionalProperties": False,
    }


def body(
    properties: Mapping[str, Schema], required: Iterable[str] = (), *, closed: bool = True
) -> Schema:
    """An object the server reads; `closed` when it refuses fields it does not know (422)."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def with_text_or_files(message: Schema) -> Schema:
    """A message body: some text, or up to 5 uploaded files (ids), or both."""
    return {
        **message,
        "anyOf": [
            {"required": ["text"], "properties": {"text": {"minLength": 1}}},
            {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
        ],
    }


def path_id(name: str = "id") -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": integer(0, MAX_ID)}


def query(name: str, schema: Schema, description: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def operation(
    summary: str,
    *,
    tag: str,
    security: list[dict[str, list[str]]],
    answers: Mapping[int, Schema | None],
    params: Iterable[Schema] = (),
    request: Schema | None = None,
    request_required: bool = True,
    errors: Iterable[int] = (),
    content_type: str = JSON,
    request_type: str = JSON,
) -> Schema:
    """One operation. `answers` maps each success status to its JSON schema (None: no body);
    the errors the caller can always meet are added to `errors`."""
    params = list(params)
    # Any request can be malformed HTTP (the server answers those before routing them).
    codes = set(errors) | {400}
    if security:
        # Staff: the role, or a password still to change; visitors: the site's origins.
        codes |= {401, 403}
    if request is not None:
        codes |= {400, 413, 422}
    if any(param["in"] == "path" for param in params):
        codes.add(404)
    if any(param["in"] == "query" for param in params):
        codes.add(422)
    responses: dict[str, Schema] = {}
    for status, schema in answers.items():
        described: Schema = {"description": "Success."}
        if schema is not None:
            described["content"] = {content_type: {"schema": schema}}
        responses[str(status)] = described
    for status in sorted(codes):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    op: Schema = {"summary": summary, "tags": [tag], "security": security}
    if params:
        op["parameters"] = params
    if request is not None:
        op["requestBody"] = {
            "required": request_required,
            "content": {request_type: {"schema": request}},
        }
    op["responses"] = responses
    return op


ERROR_BODY = answer({"code": string(pattern="^[a-z][a-z0-9_]*$"), "message": string(minLength=1)})


def error_components() -> tuple[Schema, Schema]:
    """The error envelope schema and one shared response per error status."""
    envelope = answer({"error": ERROR_BODY})
    responses = {
        name: {"description": text, "content": {JSON: {"schema": ref("Error")}}}
        for name, text in ERRORS.values()
    }
    responses["RateLimited"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": integer(1)}
    }
    return envelope, responses
