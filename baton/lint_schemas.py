"""Whether what one pipeline stage produces can be what the next one accepts: its
``output_schema`` against the next stage's ``input_schema``, compared structurally.

A practical check, not a proof: it compares types (an integer is a number), ``enum`` and
``const`` values, required keys, ``additionalProperties: false``, nested object properties and
array ``items``. What it cannot compare it leaves alone: ``$ref``, ``anyOf``/``oneOf``/``allOf``,
``not``, formats, patterns and numeric bounds. Each gap is one sentence naming the place
(``(root).customer.id``) and the problem; no gaps does not mean the run cannot fail on its
input, only that nothing structural stands in the way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schema_gaps"]

_MAX_DEPTH = 6
_UNCOMPARED = ("$ref", "anyOf", "oneOf", "allOf", "not")


# Python type of a parsed JSON value → its JSON type (bool before int: True is an int too).
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"))


def _json_type(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "null")


def _types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types ``schema`` allows; None: any."""
    if "const" in schema:
        return {_json_type(schema["const"])}
    if isinstance(schema.get("enum"), list):
        return {_json_type(v) for v in schema["enum"]}
    given = schema.get("type")
    if given is None:
        return None
    types = {given} if isinstance(given, str) else set(given)
    return types | {"integer"} if "number" in types else types


def _values(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    return list(schema["enum"]) if isinstance(schema.get("enum"), list) else None


def schema_gaps(produced: dict[str, Any], accepted: dict[str, Any], where: str = "(root)",
                depth: int = 0) -> list[str]:
    """Why a value matching ``produced`` may not match ``accepted``, place by place."""
    if depth > _MAX_DEPTH or any(k in s for s in (produced, accepted) for k in _UNCOMPARED):
        return []
    made, taken = _types(produced), _types(accepted)
    if taken is not None:
        if made is None:
            return [f"{where}: the output may be any JSON value; the input takes "
                    f"{' or '.join(sorted(taken))}"]
        if not made & taken:
            return [f"{where}: the output is {' or '.join(sorted(made))}; the input takes "
                    f"{' or '.join(sorted(taken))}"]
        if made - taken:
            return [f"{where}: the output may be {' or '.join(sorted(made - taken))}, which the "
                    "input does not take"]
    gaps = _value_gaps(produced, accepted, where)
    both = (made or {"object"}) & (taken or {"object"})
    if "object" in both:
        gaps += _object_gaps(produced, accepted, where, depth)
    items, wanted = produced.get("items"), accepted.get("items")
    if "array" in both and isinstance(items, dict) and isinstance(wanted, dict):
        gaps += schema_gaps(items, wanted, f"{where}[]", depth + 1)
    return gaps


def _value_gaps(produced: dict[str, Any], accepted: dict[str, Any], where: str) -> list[str]:
    allowed = _values(accepted)
    if allowed is None:
        return []
    made = _values(produced)
    if made is None:
        return [f"{where}: the input takes only {allowed}; the output is not limited to them"]
    extra = [v for v in made if v not in allowed]
    return [f"{where}: the output may be {extra}, which the input does not take"] if extra else []


def _object_gaps(produced: dict[str, Any], accepted: dict[str, Any], where: str,
                 depth: int) -> list[str]:
    gaps: list[str] = []
    made_props: dict[str, Any] = produced.get("properties") or {}
    taken_props: dict[str, Any] = accepted.get("properties") or {}
    made_required = set(produced.get("required") or ())
    for key in accepted.get("required") or ():
        if key in made_required:
            continue
        gaps.append(f"{where}.{key}: the input requires it; the output "
                    + ("may leave it out" if key in made_props else "never names it"))
    if accepted.get("additionalProperties") is False:
        gaps += [f"{where}.{key}: the output may have it; the input does not take it"
                 for key in made_props if key not in taken_props]
    for key in [k for k in made_props if k in taken_props]:  # in order: findings are stable
        made, taken = made_props[key], taken_props[key]
        if isinstance(made, dict) and isinstance(taken, dict):
            gaps += schema_gaps(made, taken, f"{where}.{key}", depth + 1)
    return gaps
