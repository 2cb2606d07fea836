"""JSON-schema checks shared by the workflow (structured output, edited approval args)."""

from __future__ import annotations

from typing import Any

import jsonschema

__all__ = ["schema_error"]


def schema_error(value: Any, schema: dict[str, Any]) -> str | None:
    """The most relevant violation of ``schema`` by ``value``, in words, or None if it fits."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"
