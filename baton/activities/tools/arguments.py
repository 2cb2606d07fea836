"""A call's arguments checked against its tool, whichever way the tool describes them.

An ``@tool`` function has a pydantic model built from its signature: it validates and coerces
(``"3"`` for an ``int`` becomes ``3``), and the function receives the fields as keyword
arguments, nested models as models. A tool described only by a JSON schema (an MCP server's) is
checked with jsonschema against that schema and receives the arguments as one dict; its server
does any coercion itself. Both kinds report problems in one shape, field and message, so the
model reads the same kind of explanation either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import ValidationError

from baton.tools import ToolDefinition

__all__ = ["Arguments", "allowed_arguments", "check_arguments"]


@dataclass(frozen=True)
class Arguments:
    kwargs: dict[str, Any]  # what the tool's callable receives (its context parameter aside)
    canonical: dict[str, Any]  # the JSON form: the ledger's record and the read cache's key


def allowed_arguments(definition: ToolDefinition) -> list[str]:
    if definition.arguments_model is not None:
        return list(definition.arguments_model.model_fields)
    return list(definition.spec.parameters.get("properties") or {})


def check_arguments(definition: ToolDefinition,
                    arguments: dict[str, Any]) -> Arguments | list[dict[str, str]]:
    """The validated arguments, or the problems (``field``, ``message``) found in them."""
    allowed = allowed_arguments(definition)
    model = definition.arguments_model
    if model is None:
        return _check_schema(definition.spec.parameters, arguments, allowed)
    try:
        parsed = model.model_validate(arguments)
    except ValidationError as exc:
        return _pydantic_problems(exc, allowed)
    # Attribute access, not model_dump: nested pydantic arguments reach the tool as models.
    return Arguments(kwargs={field: getattr(parsed, field) for field in type(parsed).model_fields},
                     canonical=parsed.model_dump(mode="json"))


def _unknown(allowed: list[str]) -> str:
    return f"unknown argument; allowed: {', '.join(allowed) or 'none'}"


def _pydantic_problems(exc: ValidationError, allowed: list[str]) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(arguments)"
        message = err["msg"]
        if err["type"] == "missing":
            message = "required argument is missing"
        elif err["type"] == "extra_forbidden":
            message = _unknown(allowed)
        problems.append({"field": field, "message": message})
    return problems


def _check_schema(schema: dict[str, Any], arguments: dict[str, Any],
                  allowed: list[str]) -> Arguments | list[dict[str, str]]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for err in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in err.absolute_path)
        if err.validator == "required" and not err.absolute_path:
            required = err.validator_value if isinstance(err.validator_value, list) else []
            missing = [name for name in required if name not in arguments]
            problems += [{"field": name, "message": "required argument is missing"}
                         for name in missing]
        elif err.validator == "additionalProperties" and not err.absolute_path:
            properties = err.schema.get("properties") or {} if isinstance(err.schema, dict) else {}
            problems += [{"field": name, "message": _unknown(allowed)}
                         for name in arguments if name not in properties]
        else:
            problems.append({"field": where or "(arguments)", "message": err.message})
    if problems:
        return problems
    return Arguments(kwargs={"arguments": dict(arguments)}, canonical=dict(arguments))
