"""A small, safe expression language for approval conditions (``amount > 100``).

Expressions are parsed with Python's ``ast`` and evaluated by walking a whitelist of node types:
comparisons, ``and``/``or``/``not``, arithmetic, constants, lists, argument names and
``args.get``-free dotted access into nested objects (``customer.tier == 'gold'``). No calls,
no attribute access on Python objects, no ``eval``: user text never executes.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ConditionError", "check_condition", "evaluate_condition"]


class ConditionError(ValueError):
    """The condition text is not in the language, or cannot be evaluated on these arguments."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod,
}
_MISSING = object()


def _parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse condition {text!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
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
            return _BINARY[type(op)](_eval(left, args), _eval(right, args))
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
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise ConditionError(f"condition {text!r} cannot be evaluated: {exc}") from exc
