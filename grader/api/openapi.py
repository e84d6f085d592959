"""The OpenAPI 3.1 document, generated from the `@operation` declarations and the
pydantic models of `grader.api.schemas`."""

from __future__ import annotations

import re
import typing
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Rule

from grader.api import schemas
from grader.api.operations import IDEMPOTENCY_KEY_HEADER, Operation, declared_operation
from grader.problems import PROBLEM_JSON

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
_ALWAYS_POSSIBLE = (500, 503)


def openapi_document(app: Flask, version: str) -> dict[str, Any]:
    operations = [
        (rule, method, declared)
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
        if (declared := declared_operation(app.view_functions[rule.endpoint])) is not None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    refs, definitions = _schemas(op for _, _, op in operations)
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, op in operations:
        path, parameters = _path(rule)
        paths.setdefault(path, {})[method.lower()] = _operation(rule, op, parameters, refs)
    definitions["Problem"] = schemas.ProblemOut.model_json_schema(ref_template=REF_TEMPLATE)
    definitions.update(definitions["Problem"].pop("$defs", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Backprop Grader API",
            "version": version,
            "description": "Backpropagation exercises on computational graphs: variants, "
            "attempts graded node by node, courses and assignments. Errors are RFC 9457 "
            "problem details.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token from `grader token create`."},
            },
        },
        "security": [{"bearer": []}],
    }


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_of(arg)]


def _schemas(operations: Any) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in operations:
        for model in _models_of(op.response) + [
            m for status in op.extra_statuses.values() for m in _models_of(status)
        ]:
            wanted[(model, "serialization")] = None
        for model in (op.body, op.json_body):
            if model is not None:
                wanted[(model, "validation")] = None
    refs, top = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    return dict(refs), dict(top.get("$defs", {}))


def _schema_of(annotation: Any, mode: str, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return {"type": "array", "items": refs[(item, mode)]}
    return refs[(annotation, mode)]


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for match in _PATH_PARAMETER.finditer(rule.rule):
        schema: dict[str, Any] = {"type": "string"}
        if match["converter"] == "exercise_id":
            schema = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 100}
        elif match["converter"] == "row_id":
            schema = {"type": "integer", "minimum": 0, "maximum": schemas.ID_MAX}
        parameters.append({"name": match["name"], "in": "path", "required": True,
                           "schema": schema})
    return _PATH_PARAMETER.sub(r"{\g<name>}", rule.rule), parameters


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": HTTP_STATUS_CODES.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _operation(rule: Rule, op: Operation, parameters: list[dict[str, Any]],
               refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [rule.endpoint.split(".")[-2] if "." in rule.endpoint else "service"],
    }
    if op.public:
        result["security"] = []
    parameters = list(parameters)
    if op.query is not None:
        query_schema = op.query.model_json_schema(ref_template=REF_TEMPLATE)
        required = set(query_schema.get("required", []))
        for name, schema in query_schema.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": name in required,
                               "schema": schema})
    if op.idempotency_key:
        parameters.append({
            "name": IDEMPOTENCY_KEY_HEADER, "in": "header", "required": False,
            "description": "A retry with the same key returns the first result and stores "
            "nothing twice.",
            "schema": {"type": "string", "maxLength": 255},
        })
    if parameters:
        result["parameters"] = parameters
    body_model = op.body or op.json_body
    if body_model is not None:
        result["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": refs[(body_model, "validation")]}}}
    elif op.yaml_body:
        result["requestBody"] = {"required": True, "content": {
            "application/yaml": {"schema": {"type": "string"}}}}
    responses: dict[str, Any] = {}
    statuses = {op.status: op.response, **op.extra_statuses}
    for status, model in sorted(statuses.items()):
        response: dict[str, Any] = {"description": HTTP_STATUS_CODES.get(status, "OK")}
        if model is not None:
            content = {"application/json": {"schema": _schema_of(model, "serialization", refs)}}
            for media_type in op.also_produces:
                content[media_type] = {"schema": {"type": "string"}}
            response["content"] = content
        responses[str(status)] = response
    problems = set(op.problems) | set(_ALWAYS_POSSIBLE) | (set() if op.public else {401})
    if op.roles:
        problems.add(403)
    # What the shared machinery answers for any operation of its shape.
    if any(p["in"] == "path" for p in parameters):
        problems.add(404)  # an id that cannot name a row, or names none
    if op.query is not None:
        problems.add(422)
    if op.rate_limit is not None:
        problems.add(429)
    if body_model is not None or op.yaml_body:
        problems |= {400, 413, 415, 422}
    for status in sorted(problems):
        responses[str(status)] = _problem(status)
    if "429" in responses:
        responses["429"]["headers"] = {"Retry-After": {
            "description": "Seconds until the limit reached lets a request through again.",
            "schema": {"type": "integer", "minimum": 1}}}
    result["responses"] = responses
    return result
