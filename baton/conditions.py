"""A small, safe expression language for approval conditions (``amount > 100``).

Expressions are parsed with Python's ``ast`` and evaluated by walking a whitelist of node types:
comparisons, ``and``/``or``/``not``, arithmetic, constants, lists, argument names and
``args.get``-free dotted access into nested objects (``customer.tier == 'gold'``). No calls,
no attribute access on Python objects, no ``eval``: user text never executes.

Conditions run inside workflow code, on arguments a model chose, so they are bounded: the text
(``MAX_CONDITION_CHARS``, ``MAX_NODES``), constants (``MAX_CONSTANT_CHARS``, ``MAX_NUMBER``),
every intermediate value (numbers within ``MAX_NUMBER``, strings and lists within
``MAX_VALUE_LENGTH``) and multiplication (numbers only: no string or list repetition). Whatever
still goes wrong while evaluating is a ``ConditionError``, which the approval gate answers by
asking a person: a condition can never crash or stall a run.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "MAX_CONDITION_CHARS",
    "MAX_CONSTANT_CHARS",
    "MAX_NODES",
    "MAX_NUMBER",
    "MAX_VALUE_LENGTH",
    "ConditionError",
    "check_condition",
    "evaluate_condition",
]

MAX_CONDITION_CHARS = 500
MAX_NODES = 100
MAX_CONSTANT_CHARS = 1_000
MAX_NUMBER = 10**15
MAX_VALUE_LENGTH = 10_000


class ConditionError(ValueError):
    """The condition text is not in the language, or cannot be evaluated on these arguments."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _multiply(a: Any, b: Any) -> Any:
    # Only numbers: 'a' * 10**11 or [0] * 10**9 would exhaust memory inside a workflow task.
    if not (_number(a) and _number(b)):
        raise ConditionError("only numbers can be multiplied in a condition")
    return a * b


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: _multiply,
    ast.Div: operator.truediv, ast.Mod: operator.mod,
}
_MISSING = object()


def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(f"condition is {len(text)} characters; at most "
                             f"{MAX_CONDITION_CHARS}")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        raise ConditionError(f"cannot parse condition {text[:80]!r}: {exc}") from exc
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ConditionError(f"condition has {len(nodes)} parts; at most {MAX_NODES}")
    for node in nodes:
        _check_constant(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and any(
                isinstance(side, ast.List | ast.Tuple) or (
                    isinstance(side, ast.Constant) and not _number(side.value))
                for side in (node.left, node.right)):
            raise ConditionError("only numbers can be multiplied in a condition")
        allowed = (ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Name,
                   ast.Constant, ast.List, ast.Tuple, ast.Attribute, ast.Load, ast.And, ast.Or,
                   ast.Not, ast.USub, ast.cmpop, ast.operator)
        if not isinstance(node, allowed):
            raise ConditionError(
                f"condition {text!r} uses {type(node).__name__}, which is not allowed "
                "(use comparisons, and/or/not, arithmetic, constants and argument names)")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ConditionError(f"field {node.attr!r} is not allowed (no private names)")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
            raise ConditionError(f"operator {type(node.op).__name__} is not allowed")
    return tree


def _check_constant(node: ast.AST) -> None:
    if not isinstance(node, ast.Constant):
        return
    value = node.value
    if isinstance(value, str | bytes) and len(value) > MAX_CONSTANT_CHARS:
        raise ConditionError(f"a constant of {len(value)} characters; at most "
                             f"{MAX_CONSTANT_CHARS}")
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise ConditionError(f"a number beyond ±{MAX_NUMBER:.0e}")


def _bounded(value: Any) -> Any:
    """Refuse an intermediate value that would grow without bound."""
    if _number(value) and abs(value) > MAX_NUMBER**2:
        raise ConditionError("a number in the condition grew beyond its bound")
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_LENGTH:
        raise ConditionError(f"a value of length {len(value)} in the condition; at most "
                             f"{MAX_VALUE_LENGTH}")
    return value


def check_condition(text: str) -> None:
    """Raise ConditionError if ``text`` is not a valid condition (used when specs load)."""
    _parse(text)


def _eval(node: ast.AST, args: Mapping[str, Any]) -> Any:  # noqa: PLR0911  # one case per node
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return args.get(name, None)
        case ast.Attribute(value=inner, attr=attr):
            base = _eval(inner, args)
            return base.get(attr) if isinstance(base, Mapping) else None
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_eval(e, args) for e in elts]
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, args)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_eval(operand, args)
        case ast.BoolOp(op=op, values=values):
            results = (bool(_eval(v, args)) for v in values)
            return all(results) if isinstance(op, ast.And) else any(results)
        case ast.BinOp(left=left, op=op, right=right):
            return _bounded(_BINARY[type(op)](_bounded(_eval(left, args)),
                                              _bounded(_eval(right, args))))
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, args)
            for cmp, comparator in zip(ops, comparators, strict=True):
                right = _eval(comparator, args)
                if not _COMPARE[type(cmp)](current, right):
                    return False
                current = right
            return True
    raise ConditionError(f"cannot evaluate {type(node).__name__}")


def evaluate_condition(text: str, args: Mapping[str, Any]) -> bool:
    """True when the condition holds for these tool arguments.

    A missing argument is ``None``; comparing it with a number is an error, reported as
    ConditionError so the caller can fail safe (ask for approval) rather than skip the gate.
    """
    try:
        return bool(_eval(_parse(text).body, args))
    except ConditionError:
        raise
    except Exception as exc:  # whatever the arguments provoke, the caller asks a person
        raise ConditionError(f"condition {text[:80]!r} cannot be evaluated: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from exc
