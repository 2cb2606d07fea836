"""Blackboard turns: a structured answer whose schema lists the board keys this agent fills.

The input shows the board (a JSON object, or ``key: value`` lines) and the task. Values come,
best first, from tool results whose field names the key, from the board, and otherwise from a
sentence composed for the key's meaning: symptoms and observations are the task's problem
sentences; a cause or diagnosis links the most specific symptom to the board; actions,
remediation and next steps follow from the diagnosis.
"""

from __future__ import annotations

import json
import re
from typing import Any

from baton.scripted import text as tx
from baton.scripted.answers import answer_with
from baton.scripted.roles import short
from baton.scripted.situation import Situation, flatten
from baton.scripted.summary import summarise
from baton.scripted.wire import Answer

__all__ = ["blackboard", "read_board"]

_PROBLEM = re.compile(r"error|fail|slow|latenc|timeout|timed out|down|spike|5\d\d|exhaust|"
                      r"crash|refus|drop|high|full|leak|degrad|stuck|unavailable", re.IGNORECASE)


def read_board(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (the board), else ``key: value`` lines under Board."""
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    board: dict[str, Any] = {}
    block = re.search(r"board[^\n]*:\s*\n((?:\s*[-*]?\s*\w+\s*:.*\n?)+)", text, re.IGNORECASE)
    for line in (block.group(1).splitlines() if block else []):
        match = re.match(r"\s*[-*]?\s*(\w+)\s*:\s*(.*)", line)
        if match and match.group(2).strip() not in ("", "null", "None", "(empty)"):
            board[match.group(1)] = match.group(2).strip()
    return board


_CAUSE = re.compile(r"exhaust|leak|full|pool|lock|oom|memory|disk|cpu|connection|queue|deploy|"
                    r"config|certificat|quota|limit", re.IGNORECASE)


def _problems(text: str) -> list[str]:
    parts = (re.sub(r"^\s*[-*]?\s*(?:task|goal|input|report)\s*:\s*", "", s, flags=re.I)
             for s in re.split(r"(?<=[.!?;])\s+|\n", text))
    return [s.strip(" -*") for s in parts if _PROBLEM.search(s) and len(s.split()) >= 3
            and "{" not in s and not re.match(r"\s*board\b", s, re.I)][:5]


def _items(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    return [str(value)] if value not in (None, "") else []


def _compose(key: str, board: dict[str, Any], sit: Situation) -> Any:
    words = set(tx.words(key))
    known_items = [item for v in board.values() for item in _items(v)]
    known = "; ".join(known_items)
    results = [c for c in sit.calls if c.ok]
    if words & {"symptom", "symptoms", "observation", "observations", "signal", "signals",
                "evidence", "facts", "findings"}:
        return _problems(f"{sit.task}\n" + "\n".join(c.result or "" for c in results))
    causes = [i for i in known_items if _CAUSE.search(i)] or known_items[-1:]
    if words & {"diagnosis", "cause", "root", "hypothesis", "analysis"}:
        others = [i for i in known_items if i not in causes[:1]]
        also = f"; it explains {short(others[0], 100)}" if others else ""
        return (f"Most likely cause: {short(causes[0], 160)}{also}." if causes
                else summarise(sit))
    if words & {"remediation", "actions", "action", "fix", "plan", "steps", "mitigation",
                "recommendations", "next"}:
        basis = short(str(board.get("diagnosis") or board.get("cause") or known), 160)
        basis = re.sub(r"^most likely cause:\s*", "", basis, flags=re.I).rstrip(".")
        return [f"Mitigate first: relieve the pressure behind {basis}",
                "Verify recovery on the symptoms listed on the board",
                "Schedule a follow-up to remove the root cause and add an alert"]
    return summarise(sit) if results else short(known or sit.task, 240)


def blackboard(sit: Situation) -> Answer | None:
    schema = sit.query.response_schema
    if schema is None or not re.search(r"board", f"{sit.task}\n{sit.system}", re.IGNORECASE):
        return None
    board = read_board(sit.task)
    facts: list[tuple[str, Any]] = [(k, v) for c in reversed(sit.calls) if c.ok
                                    for k, v in flatten(_loads(c.result))]
    facts += [(k, v) for k, v in board.items() if v not in (None, "", [], {})]
    have = {k for k, _ in facts}
    for key, prop in (schema.get("properties") or {}).items():
        if key in have:
            continue
        value = _compose(key, board, sit)
        if isinstance(prop, dict) and prop.get("type") == "string" and isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        facts.append((key, value))
    return answer_with(sit, summarise(sit), facts=facts)


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None
