"""The JSON API under /api/v1, and the health endpoints."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from grader.api import assignments, courses, exercises, health, lti, me, tokens
from grader.api.converters import ExerciseIdConverter, RowIdConverter
from grader.api.openapi import openapi_document

API_PREFIX = "/api/v1"


def _package_version() -> str:
    try:
        return package_version("backprop-grader")
    except PackageNotFoundError:
        return "0"


def openapi_json() -> ResponseReturnValue:
    document = current_app.extensions.get("grader.openapi")
    if document is None:
        document = openapi_document(current_app, _package_version())
        current_app.extensions["grader.openapi"] = document
    return jsonify(document)


def init_app(app: Flask) -> None:
    app.url_map.converters["exercise_id"] = ExerciseIdConverter
    app.url_map.converters["row_id"] = RowIdConverter
    # A new parent per app: a blueprint cannot change once registered, and tests build
    # many apps.
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)
    api.register_blueprint(exercises.bp)
    api.register_blueprint(courses.bp)
    api.register_blueprint(assignments.bp)
    api.register_blueprint(me.bp)
    api.register_blueprint(lti.bp)
    api.register_blueprint(tokens.bp)
    api.add_url_rule("/openapi.json", "openapi", openapi_json)
    app.register_blueprint(api)
    app.register_blueprint(health.bp)
