"""JSON-schema checks shared by the workflow (structured output, members' inputs, edited
approval args) and the team loader (schemas a team declares)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

__all__ = ["input_problem", "schema_error", "schema_problem"]


def schema_error(value: Any, schema: dict[str, Any]) -> str | None:
    """The most relevant violation of ``schema`` by ``value``, in words, or None if it fits."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a JSON schema (draft 2020-12), or None."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return f"at {where}: {exc.message}"
    return None


def input_problem(value: Any, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(the JSON value, None) when ``value`` matches ``schema``; else (value, the problem). A
    string is read as JSON text (a member's input travels as text); text that is not JSON
    still fits a schema that takes a plain string."""
    if not isinstance(value, str):
        return value, schema_error(value, schema)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        if schema_error(value, schema) is None:
            return value, None
        return value, f"not valid JSON ({exc.msg} at position {exc.pos})"
    problem = schema_error(parsed, schema)
    if problem is not None and schema_error(value, schema) is None:
        return value, None
    return parsed, problem
