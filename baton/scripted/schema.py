"""JSON-schema plumbing for the heuristic model: concrete schemas, key matching, string fitting.

Pydantic and hand-written schemas use ``$ref``, ``allOf``, ``anyOf`` (for optionals) and type
lists; ``resolve`` reduces all of that to one concrete schema so value generation stays simple.
``key_score`` decides whether a tool-result field answers a property ("amount" answers
"refund_amount", "total" answers "amount", but "order_id" never answers "refund_id").
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

from baton.scripted import text as tx

__all__ = [
    "MONEY",
    "fit",
    "fits",
    "is_id_name",
    "key_score",
    "norm_key",
    "resolve",
    "sample_pattern",
]

MONEY = frozenset({"amount", "total", "price", "cost", "value", "sum", "balance", "charge", "fee"})
_ID_WORDS = frozenset({"id", "sku", "code", "ref", "reference", "number", "no", "uuid", "key"})
_COUNT = frozenset({"quantity", "qty", "count", "number", "num", "units"})
_SYNONYMS = (
    MONEY,
    _COUNT,
    frozenset({"reason", "justification", "explanation", "rationale"}),
    frozenset({"name", "title", "label"}),
)


def norm_key(name: str) -> str:
    """``orderId``, ``order_id`` and ``Order ID`` all become ``orderid``."""
    return "".join(tx.words(name))


def is_id_name(name: str) -> bool:
    """Does a property name ask for an identifier (``order_id``, ``orderId``, ``sku``,
    ``tracking_number``)? Such values come from id-like tokens, never from prose."""
    words = tx.words(name)
    return bool(words) and (
        words[-1] in _ID_WORDS or norm_key(name).endswith("id") or "id" in words
    )


def resolve(schema: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` (local only), merge ``allOf``, pick the first non-null ``anyOf``/``oneOf``
    branch and the first non-null type of a type list, so callers see one concrete schema."""
    current: dict[str, Any] = dict(schema) if isinstance(schema, Mapping) else {}
    for _ in range(32):
        if "$ref" in current:
            target: Any = root
            path = str(current.pop("$ref")).lstrip("#/")
            for part in path.split("/") if path else ():
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            current = {**target, **current}
        elif "allOf" in current:
            merged: dict[str, Any] = {}
            for part in current.pop("allOf"):
                sub = resolve(part, root)
                props = {**merged.get("properties", {}), **sub.get("properties", {})}
                required = [*merged.get("required", []), *sub.get("required", [])]
                merged = {**merged, **sub, "properties": props, "required": required}
            current = {**merged, **current}
        elif "anyOf" in current or "oneOf" in current:
            options = current.pop("anyOf", None) or current.pop("oneOf", None) or []
            usable = [o for o in options if resolve(o, root).get("type") != "null"] or options
            current = {**resolve(usable[0], root), **current} if usable else current
        else:
            break
    if isinstance(current.get("type"), list):
        types = [t for t in current["type"] if t != "null"] or ["null"]
        current["type"] = types[0]
    if "type" not in current:
        if "properties" in current:
            current["type"] = "object"
        elif "items" in current:
            current["type"] = "array"
        elif current.get("enum"):
            current["type"] = {str: "string", bool: "boolean", int: "integer", float: "number"}.get(
                type(current["enum"][0]), "string"
            )
    return current


def fits(value: str, s: Mapping[str, Any]) -> bool:
    pattern = s.get("pattern")
    return not pattern or re.search(str(pattern), value) is not None


def fit(value: str, s: Mapping[str, Any]) -> str:
    if "maxLength" in s:
        value = value[: int(s["maxLength"])]
    while len(value) < int(s.get("minLength", 0)):
        value += " " + (value or "x")
    return value[: int(s["maxLength"])] if "maxLength" in s else value


def key_score(prop: str, key: str) -> int:
    """3 same name, 2 same last word (not ``id``: ``order_id`` is not ``refund_id``),
    1 synonyms (``amount`` ~ ``total``)."""
    if norm_key(prop) == norm_key(key):
        return 3
    pw, kw = tx.words(prop), tx.words(key)
    if not pw or not kw or pw[-1] == "id" or kw[-1] == "id":
        return 0
    if pw[-1] == kw[-1]:
        return 2
    return 1 if any(pw[-1] in g and kw[-1] in g for g in _SYNONYMS) else 0


_PARSER: Any = importlib.import_module("re._parser")  # stdlib, untyped: imported dynamically
_CATEGORY_SAMPLE = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
}


def sample_pattern(pattern: str) -> str | None:
    """A short string matching ``pattern`` (a string property's regex), or None when the pattern
    is beyond this little generator (back-references, lookarounds). Always verified by ``re``."""
    try:
        sample = _emit(_PARSER.parse(pattern))
    except (ValueError, TypeError, re.error, KeyError, IndexError, StopIteration):
        return None
    return sample if re.search(pattern, sample) else None


def _emit(items: Any) -> str:
    parts: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            parts.append(chr(arg))
        elif name in ("NOT_LITERAL", "ANY"):
            parts.append("y" if arg == ord("x") else "x")
        elif name == "IN":
            parts.append(_from_set(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            parts.append(_emit(sub) * low)
        elif name == "SUBPATTERN":
            parts.append(_emit(arg[-1]))
        elif name == "ATOMIC_GROUP":
            parts.append(_emit(arg))
        elif name == "BRANCH":
            parts.append(_emit(arg[1][0]))
        elif name == "CATEGORY":
            parts.append(_CATEGORY_SAMPLE[str(arg)])
        elif name != "AT":
            raise ValueError(f"unsupported regex construct {name}")
    return "".join(parts)


def _from_set(items: Any) -> str:
    if items and str(items[0][0]) == "NEGATE":
        excluded = "".join(_from_set([i]) for i in items[1:])
        return next(c for c in "xa0-_ Z" if c not in excluded)
    op, arg = items[0]
    name = str(op)
    if name == "LITERAL":
        return chr(arg)
    if name == "RANGE":
        return chr(arg[0])
    if name == "CATEGORY":
        return _CATEGORY_SAMPLE[str(arg)]
    raise ValueError(f"unsupported set member {name}")
