"""The heuristic model: a deterministic, offline stand-in for an LLM that still behaves sensibly.

It works as an ordered list of strategies. Each looks at the ``Situation`` (task, calls since
the task, facts from results) and either returns an ``Answer`` or passes. New behaviours for
later patterns (routing by role, debate positions, merges) are added as strategies without
touching the others. The default order:

1. ``forced_tool``   the request names a tool in ``tool_choice``: call it.
2. ``transfer``      ``transfer_to_<agent>`` tools exist and the task fits one of them better
                     than any ordinary tool: hand off (once per task).
3. ``next_tool``     the most relevant tool not yet used for this task, in the order the task
                     mentions them; arguments come from the tool's schema (``fill.Filler``).
4. ``final_answer``  plain text summarising the results, or JSON matching the output schema.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from activities.llm.scripted import text as tx
from activities.llm.scripted.fill import Context, Filler
from activities.llm.scripted.schema import is_id_name
from activities.llm.scripted.situation import Situation, read_situation
from activities.llm.scripted.summary import summarise
from activities.llm.scripted.wire import Answer, AnswerCall, ChatQuery, WireTool

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


def _canonical(args: Any) -> str:
    return json.dumps(args, sort_keys=True, ensure_ascii=False)


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


def transfer(sit: Situation) -> Answer | None:
    if sit.query.tool_choice == "none" or any(c.name.startswith(_TRANSFER) for c in sit.calls):
        return None
    tools = sit.query.tools
    handoffs = [t for t in tools if t.name.startswith(_TRANSFER)]
    if not handoffs:
        return None
    scores = relevance(
        sit.task,
        [WireTool(t.name.removeprefix(_TRANSFER), t.description, t.parameters) for t in handoffs],
    )
    best = max(handoffs, key=lambda t: (scores[t.name.removeprefix(_TRANSFER)][0], -tools.index(t)))
    best_score = scores[best.name.removeprefix(_TRANSFER)][0]
    others = [t for t in tools if not t.name.startswith(_TRANSFER)]
    own = max((s for s, _ in relevance(sit.task, others).values()), default=0.0)
    if best_score < _RELEVANT or best_score <= own:
        return None
    return _call(best, Filler(best.parameters, _context(sit), include_optional=False).build())


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
                avoid.setdefault(key, set()).add(_canonical(value))
    args = Filler(tool.parameters, _context(sit), include_optional=False, avoid=avoid).build()
    tried = {_canonical(c.arguments) if c.arguments is not None else c.raw for c in past}
    if _canonical(args) in tried:
        return None
    if any(c.ok for c in past):
        # Called successfully already: again only for another id the task mentions.
        ids = set(tx.id_tokens(sit.task))
        used = {str(v) for c in past for v in (c.arguments or {}).values()}
        if not any(isinstance(v, str) and v in ids and v not in used for v in args.values()):
            return None
    return _call(tool, args)


def next_tool(sit: Situation) -> Answer | None:
    if sit.query.tool_choice == "none":
        return None
    tools = [t for t in sit.query.tools if not t.name.startswith(_TRANSFER)]
    scores = relevance(sit.task, tools)
    relevant = [t for t in tools if scores[t.name][0] >= _RELEVANT]
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
    text = summarise(sit)
    query = sit.query
    if query.response_schema is None and not query.json_mode:
        return Answer(text)
    if query.response_schema is None:
        return Answer(json.dumps({"answer": text}, ensure_ascii=False))
    avoid: dict[str, set[str]] = {}
    if sit.feedback and sit.previous_answer:
        # Rejected before: do not repeat the values of the fields the complaint names.
        try:
            before = json.loads(sit.previous_answer)
        except ValueError:
            before = None
        if isinstance(before, dict):
            for key, value in before.items():
                if key in sit.feedback:
                    avoid[key] = {_canonical(value)}
    value = Filler(
        query.response_schema, _context(sit, text), include_optional=True, avoid=avoid
    ).build()
    return Answer(json.dumps(value, ensure_ascii=False))


DEFAULT_STRATEGIES: tuple[Strategy, ...] = (forced_tool, transfer, next_tool)


def think(query: ChatQuery, strategies: Sequence[Strategy] = DEFAULT_STRATEGIES) -> Answer:
    """The heuristic answer to ``query``: the first strategy that acts, else the final answer."""
    situation = read_situation(query)
    for strategy in strategies:
        answer = strategy(situation)
        if answer is not None:
            return answer
    return final_answer(situation)
