"""An offline static checker for the code-review pipeline example: ``compile`` and ``ast``, no
third-party linters, so it runs anywhere Python does."""

from __future__ import annotations

import ast
import re
from typing import Any

from baton.tools import tool

__all__ = ["extract_code", "lint_snippet"]

_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
_MAX_LINE = 100


def extract_code(text: str) -> str:
    """The code in ``text``: the longest fenced block, else from the first line that looks like
    Python (``def``, ``class``, ``import``), else the whole text."""
    fenced: list[str] = _FENCE.findall(text)
    if fenced:
        return max(fenced, key=len)
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if re.match(r"\s*(def |class |import |from \w+ import |@\w)", ln)), 0)
    return "\n".join(lines[start:])


def _issues(tree: ast.AST, code: str) -> list[str]:
    found: list[tuple[int, str]] = []
    imported: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imported[(alias.asname or alias.name).split(".")[0]] = node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if isinstance(default, (ast.List, ast.Dict, ast.Set)):
                    found.append((node.lineno, f"mutable default argument in {node.name}()"))
            if ast.get_docstring(node) is None:
                found.append((node.lineno, f"{node.name}() has no docstring"))
        elif isinstance(node, ast.ExceptHandler) and node.type is None:
            found.append((node.lineno, "bare except"))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    found += [(line, f"unused import {name}") for name, line in imported.items()
              if name not in used]
    found += [(n, f"line longer than {_MAX_LINE} characters")
              for n, line in enumerate(code.splitlines(), 1) if len(line) > _MAX_LINE]
    return [f"line {n}: {what}" for n, what in sorted(set(found))]


@tool(cacheable=True, timeout_s=10.0)
def lint_snippet(snippet: str) -> dict[str, Any]:
    """Run static checks on a Python code snippet (syntax, unused imports, mutable defaults,
    bare except, missing docstrings, long lines) and report the problems found.

    Args:
        snippet: The code to check; fenced code blocks in surrounding text are found.
    """
    code = extract_code(snippet)
    try:
        tree = compile(code, "<snippet>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return {"syntax_ok": False, "issue_count": 1,
                "issues": f"line {exc.lineno}: syntax error: {exc.msg}"}
    issues = _issues(tree, code)
    return {"syntax_ok": True, "issue_count": len(issues),
            "issues": "; ".join(issues) or "none"}
