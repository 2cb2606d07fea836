"""The heuristic model: a deterministic, offline stand-in for an LLM that still behaves sensibly.

It works as an ordered list of strategies. Each looks at the ``Situation`` (task, calls since
the task, facts from results) and either returns an ``Answer`` or passes. New behaviours for
later patterns (routing by role, debate positions, merges) are added as strategies without
touching the others. The default order:

1. ``forced_tool``   the request names a tool in ``tool_choice``: call it.
2. ``delegate``      ``delegate_to_<worker>`` tools (a supervisor's router): one self-contained
                     sub-task per distinct need, then an answer integrating the reports
                     (``routing``).
3. ``transfer``      ``transfer_to_<agent>`` tools exist and a target's role fits the task
                     strictly better than this agent's own: hand off, never back along the
                     chain, once per task (``routing``).
4. ``next_tool``     the most relevant tool not yet used for this task, in the order the task
                     mentions them; arguments come from the tool's schema (``fill.Filler``).
5. ``debate``        asked for ``POSITION: …``: a stance from the role, with reasons; revised
                     by a fixed rule in later rounds (``debate``).
6. ``judge``         a judging role with labelled candidates: a winner and a reason (``merge``).
7. ``merge``         a merging role with labelled branch outputs: what each found (``merge``).
8. ``stage``         ``Input from <previous>: …``: transform it per role (``stages``).
9. ``blackboard``    a schema of board keys: fill them from results, board and task (``board``).
10. ``final_answer`` plain text summarising the results, or JSON matching the output schema.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from baton.scripted import text as tx
from baton.scripted.answers import answer_with, canonical
from baton.scripted.board import blackboard
from baton.scripted.debate import debate
from baton.scripted.fill import Context, Filler
from baton.scripted.merge import judge, merge
from baton.scripted.routing import delegate, transfer
from baton.scripted.schema import is_id_name
from baton.scripted.situation import Situation, read_situation
from baton.scripted.stages import stage
from baton.scripted.summary import summarise
from baton.scripted.wire import Answer, AnswerCall, ChatQuery, WireTool

__all__ = [
    "DEFAULT_STRATEGIES",
    "Strategy",
    "final_answer",
    "forced_tool",
    "next_tool",
    "relevance",
    "think",
    "transfer",
]

Strategy = Callable[[Situation], Answer | None]
_RELEVANT = 0.5  # at least one distinctive shared stem (shared by at most two tools)
_TRANSFER = "transfer_to_"
_DELEGATE = "delegate_to_"


def relevance(task: str, tools: Sequence[WireTool]) -> dict[str, tuple[float, int]]:
    """Per tool: (score, position in the task of its first distinctive matching word).

    The score sums shared stems weighted by 1/(number of tools having that stem), so a word
    every tool mentions ("order") barely counts while a distinctive one ("refund") does.
    """
    task_stems = tx.stem_positions(task)
    stems = {t.name: set(tx.stem_positions(f"{t.name} {t.description}")) for t in tools}
    frequency = Counter(s for group in stems.values() for s in group)
    out: dict[str, tuple[float, int]] = {}
    for tool in tools:
        matched = stems[tool.name] & set(task_stems)
        score = sum(1 / frequency[s] for s in matched)
        strong = [task_stems[s] for s in matched if 1 / frequency[s] >= _RELEVANT]
        out[tool.name] = (score, min(strong or [task_stems[s] for s in matched] or [10**6]))
    return out


def _context(sit: Situation, answer: str | None = None) -> Context:
    return Context(sit.task, list(sit.facts), sit.mentions, answer)


def _call(tool: WireTool, args: Any) -> Answer:
    return Answer(None, (AnswerCall(tool.name, json.dumps(args, ensure_ascii=False)),))


def _shortfall(tool: WireTool, sit: Situation) -> int:
    """Required numbers and ids the conversation cannot supply yet: call other tools first."""
    filler = Filler(tool.parameters, _context(sit), include_optional=False)
    props = tool.parameters.get("properties") or {}
    missing = 0
    for key in tool.parameters.get("required") or []:
        kind = filler.candidates(key, props.get(key, {}), 1)
        schema_type = (props.get(key) or {}).get("type")
        idish = schema_type in (None, "string") and is_id_name(key)
        if (schema_type in ("number", "integer") or idish) and not (kind and kind[0].strong):
            missing += 1
    return missing


def forced_tool(sit: Situation) -> Answer | None:
    tool = next((t for t in sit.query.tools if t.name == sit.query.forced_tool), None)
    if tool is None:
        return None
    ctx = _context(sit, summarise(sit))
    return _call(tool, Filler(tool.parameters, ctx, include_optional=True).build())


def _attempt(tool: WireTool, sit: Situation) -> Answer | None:
    """Arguments for ``tool`` never sent before for this task, or None if there are none worth
    trying: a tool that failed for another reason than its arguments is not called again."""
    past = [c for c in sit.calls if c.name == tool.name and c.result is not None]
    if any(not c.ok and not c.invalid_args for c in past):
        return None
    if sum(c.invalid_args for c in past) >= 2:
        return None
    avoid: dict[str, set[str]] = {}
    for call in past:
        mentioned = (
            [k for k in (call.arguments or {}) if k in (call.result or "")] if (not call.ok) else []
        )
        for key, value in (call.arguments or {}).items():
            if call.ok or not mentioned or key in mentioned:
                avoid.setdefault(key, set()).add(canonical(value))
    args = Filler(tool.parameters, _context(sit), include_optional=False, avoid=avoid).build()
    tried = {canonical(c.arguments) if c.arguments is not None else c.raw for c in past}
    if canonical(args) in tried:
        return None
    if any(c.ok for c in past):
        # Called successfully already: again only for another id the task mentions.
        ids = set(tx.id_tokens(sit.task))
        used = {str(v) for c in past for v in (c.arguments or {}).values()}
        if not any(isinstance(v, str) and v in ids and v not in used for v in args.values()):
            return None
    return _call(tool, args)


# Verbs of tools with side effects: such a tool runs only when the task asks for its action
# ("refund it"), not because it shares a noun with the task ("where is my order?").
_ACTIONS = frozenset({
    "issue", "create", "make", "send", "cancel", "update", "delete", "remove", "add", "set",
    "book", "schedule", "refund", "charge", "pay", "approve", "reject", "escalate", "notify",
    "open", "close", "write", "save", "submit", "transfer", "assign", "reserve", "post"})
_LIGHT_VERBS = frozenset({"issue", "create", "make", "add", "set", "post", "open", "send", "write"})
_SYNONYMS = {"refun": ("money back", "reimburs", "repay", "my money"),
             "cance": ("call off", "stop the order"), "send": ("email me", "mail me")}


def _asked_for(tool: WireTool, task: str) -> bool:
    """A side-effecting tool (name starts with an action verb) runs only when the task asks for
    its action: the verb, or for a light verb ("issue", "send") what it produces."""
    name = tx.words(tool.name)
    if not name or name[0] not in _ACTIONS:
        return True
    # "issue_refund" asks for a refund; "cancel_order" asks for a cancellation, not an order.
    words = name[1:] if name[0] in _LIGHT_VERBS and len(name) > 1 else name[:1]
    wanted = {tx.stem(w) for w in words if w not in tx.STOPWORDS}
    task_stems = set(tx.stem_positions(task))
    lowered = task.lower()
    return bool(wanted & task_stems) or any(
        phrase in lowered for stem in wanted for phrase in _SYNONYMS.get(stem, ()))


def next_tool(sit: Situation) -> Answer | None:
    if sit.query.tool_choice == "none":
        return None
    tools = [t for t in sit.query.tools if not t.name.startswith((_TRANSFER, _DELEGATE))]
    scores = relevance(sit.task, tools)
    relevant = [t for t in tools if scores[t.name][0] >= _RELEVANT and _asked_for(t, sit.task)]
    relevant.sort(key=lambda t: (_shortfall(t, sit) > 0, scores[t.name][1], -scores[t.name][0]))
    for tool in relevant:
        answer = _attempt(tool, sit)
        if answer is not None:
            return answer
    if sit.query.tool_choice == "required" and sit.query.tools:
        ranked = sorted(sit.query.tools, key=lambda t: -scores.get(t.name, (0.0, 0))[0])
        tool = ranked[0]
        return _call(tool, Filler(tool.parameters, _context(sit), include_optional=False).build())
    return None


def final_answer(sit: Situation) -> Answer:
    return answer_with(sit, summarise(sit))


DEFAULT_STRATEGIES: tuple[Strategy, ...] = (
    forced_tool, delegate, transfer, next_tool, debate, judge, merge, stage, blackboard)


def think(query: ChatQuery, strategies: Sequence[Strategy] = DEFAULT_STRATEGIES) -> Answer:
    """The heuristic answer to ``query``: the first strategy that acts, else the final answer."""
    situation = read_situation(query)
    for strategy in strategies:
        answer = strategy(situation)
        if answer is not None:
            return answer
    return final_answer(situation)
