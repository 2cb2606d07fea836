"""Final answers in the shape the request asks for: plain text, a JSON object (``json_mode``)
or JSON matching the response schema, filled from the conversation and a plain-language text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from baton.scripted.fill import Context, Filler
from baton.scripted.situation import Situation
from baton.scripted.wire import Answer

__all__ = ["answer_with", "canonical"]


def canonical(args: Any) -> str:
    return json.dumps(args, sort_keys=True, ensure_ascii=False)


def answer_with(sit: Situation, text: str,
                facts: Sequence[tuple[str, Any]] = ()) -> Answer:
    """``text`` as the answer; with a response schema, a value built from ``facts`` (best
    first), the conversation's facts and ``text`` for summary-like fields."""
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
                    avoid[key] = {canonical(value)}
    ctx = Context(sit.task, [*facts, *sit.facts], sit.mentions, text)
    value = Filler(query.response_schema, ctx, include_optional=True, avoid=avoid).build()
    return Answer(json.dumps(value, ensure_ascii=False))
