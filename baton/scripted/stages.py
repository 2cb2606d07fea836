"""Pipeline stages: ``Task: …`` plus ``Input from <previous>: …`` → a transformation of that
input according to the stage's role.

* reviewer (review, critique, audit, inspect): the issues in the code of the input — problems
  the previous stage reported (``line N: …``) plus its own reading of the code (``ast``): eval,
  SQL built from strings, hard-coded secrets, ``== None``, bare ``except``, files opened
  without ``with`` — then a verdict.
* summariser (summar, condens, digest, brief, tl;dr): how many points the input makes and the
  two that matter most for the task.
* any other role: the input's key points, restated for the next stage.
"""

from __future__ import annotations

import ast
import re

from baton.scripted import text as tx
from baton.scripted.answers import answer_with
from baton.scripted.roles import (
    first_sentences,
    has_words,
    key_sentences,
    read_role,
    short,
)
from baton.scripted.situation import Situation
from baton.scripted.wire import Answer

__all__ = ["code_issues", "extract_code", "stage"]

_INPUT = re.compile(r"^\s*Input from ([\w-]+)[^:\n]*:\s*(.*)", re.IGNORECASE | re.DOTALL
                    | re.MULTILINE)
_TASK = re.compile(r"^\s*Task:\s*(.*?)(?=^\s*Input from |\Z)", re.IGNORECASE | re.DOTALL
                   | re.MULTILINE)
_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
_ISSUE_LINE = re.compile(r"(?:^|[\s;(])((?:line \d+|L\d+)[:,]?\s[^;\n]+)", re.IGNORECASE)
_SECRET = re.compile(r"pass(?:word|wd)?|secret|token|api_?key", re.IGNORECASE)
_SQL = re.compile(r"\b(select|insert|update|delete)\b", re.IGNORECASE)


def extract_code(text: str) -> str | None:
    fenced: list[str] = _FENCE.findall(text)
    if fenced:
        return max(fenced, key=len)
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if re.match(r"\s*(def |class |import |from \w+ import |@\w)", ln)), None)
    return "\n".join(lines[start:]) if start is not None else None


def code_issues(code: str) -> list[str]:
    """Review findings a careful reader would raise, each ``line N: what and why``."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: syntax error ({exc.msg}); the code does not run"]
    issues: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id in ("eval", "exec")):
            issues.append((line, f"{node.func.id}() runs arbitrary code; parse the input instead"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                node.func.attr in ("execute", "executemany") and node.args
                and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp))):
            issues.append((line, "SQL built by string formatting allows SQL injection; use "
                                 "query parameters"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id == "open") and not _inside_with(tree, node):
            issues.append((line, "file opened without `with` may leak the handle"))
        elif isinstance(node, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value is None for c in node.comparators) and (
                any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)):
            issues.append((line, "comparison with None should use `is None`"))
        elif isinstance(node, ast.ExceptHandler) and node.type is None:
            issues.append((line, "bare `except:` hides real errors; catch specific exceptions"))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and (
                isinstance(node.value.value, str) and node.value.value) and any(
                isinstance(t, ast.Name) and _SECRET.search(t.id) for t in node.targets):
            issues.append((line, "hard-coded secret; read it from the environment"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                _SQL.search(node.value) and "%s" in node.value and "%" in code):
            issues.append((line, "SQL assembled with % formatting; use query parameters"))
    return [f"line {n}: {what}" for n, what in sorted(set(issues))]


def _inside_with(tree: ast.AST, call: ast.Call) -> bool:
    return any(isinstance(n, ast.With) and any(item.context_expr is call for item in n.items)
               for n in ast.walk(tree))


def _review(task: str, source: str, material: str) -> str:
    reported = [m.strip(" .);") for m in _ISSUE_LINE.findall(material)]
    code = extract_code(material) or extract_code(task)
    own = code_issues(code) if code else []
    seen: list[set[str]] = []
    issues = []
    for issue in [*reported, *own]:
        about = {tx.stem(w) for w in tx.content_words(issue.split(":", 1)[-1])[:4]}
        if not any(len(about & other) >= 2 for other in seen):
            seen.append(about)
            issues.append(issue)
    if not issues:
        what = "the code" if code else "the input"
        return (f"Review of {what} from {source}: no issues found. The checks passed and the "
                "logic reads correctly. Verdict: approve.")
    serious = [i for i in issues if re.search(r"inject|secret|arbitrary|syntax", i)]
    lines = [f"Review of the code from {source}: {len(issues)} issue"
             f"{'s' if len(issues) != 1 else ''} found ({len(serious)} serious)."]
    lines += [f"{n}. {issue}" for n, issue in enumerate(issues, 1)]
    verdict = "changes requested" if serious or len(issues) > 2 else "approve with fixes"
    lines.append(f"Verdict: {verdict}.")
    return "\n".join(lines)


def _summary(task: str, source: str, material: str) -> str:
    items = re.findall(r"^\s*(?:\d+[.)]|[-*])\s+(.+)$", material, re.MULTILINE)
    verdict = re.search(r"verdict:\s*([^.\n]+)", material, re.IGNORECASE)
    if items:
        serious = re.compile(r"inject|secret|arbitrary|syntax|crash|data loss", re.IGNORECASE)
        top = sorted(items, key=lambda item: not serious.search(item))[:2]
        text = (f"Summary: {source} lists {len(items)} point{'s' if len(items) != 1 else ''}; "
                f"the most important: {'; '.join(short(t, 120) for t in top)}.")
    else:
        gist = " ".join(key_sentences(material, task, 2)) or short(material, 300)
        text = f"Summary of {source}'s input: {gist}"
    if verdict:
        text += f" Verdict: {verdict.group(1).strip()}."
    return text


def stage(sit: Situation) -> Answer | None:
    found = _INPUT.search(sit.task)
    if not found:
        return None
    source, material = found.group(1), found.group(2).strip()
    task_match = _TASK.search(sit.task)
    task = task_match.group(1).strip() if task_match else ""
    role = read_role(sit.system)
    summariser = ("summar", "condens", "digest", "brief", "tldr", "recap")
    reviewer = ("review", "critiq", "critic", "audit", "inspect")
    kind = ("summary" if has_words(role.name, *summariser) else
            "review" if has_words(role.name, *reviewer) else
            "summary" if has_words(role.description, *summariser) else
            "review" if has_words(role.text, *reviewer) else "")
    if kind == "review":
        text = _review(task, source, material)
    elif kind == "summary":
        text = _summary(task, source, material)
    else:
        points = key_sentences(material, f"{task} {role.text}", 3) or [first_sentences(material)]
        lead = role.description.rstrip(".") or role.name or "Next stage"
        text = f"{lead} — from {source}'s input: " + " ".join(points)
    return answer_with(sit, text)
