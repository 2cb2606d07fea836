"""Schema-driven values: tool arguments and structured outputs that validate by construction.

A real model reads a JSON schema and writes values taken from the conversation. The scripted
model does the same mechanically: for each property it lists candidate values in order of
confidence (a tool result field with the same name, an id mentioned in the task, a number with a
currency sign, the reason clause, ...) and takes the first one that fits the schema's type and
constraints. Retrying after an "invalid arguments" error simply skips values already tried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.scripted import text as tx
from baton.scripted.schema import (
    MONEY,
    fit,
    fits,
    is_id_name,
    key_score,
    resolve,
    sample_pattern,
)

__all__ = ["Context", "Filler"]

_QUERY = frozenset({"query", "question", "text", "q", "search", "keywords", "terms", "topic"})
_FULLTEXT = frozenset(
    {
        "message",
        "body",
        "content",
        "prompt",
        "input",
        "instructions",
        "task",
        "request",
        "description",
        "snippet",
        "source",
    }
)
_REASON = frozenset(
    {"reason", "justification", "note", "notes", "comment", "explanation", "rationale", "why"}
)
_SUMMARY = frozenset(
    {
        "summary",
        "answer",
        "response",
        "reply",
        "result",
        "output",
        "conclusion",
        "text",
        "message",
        "explanation",
        "reasoning",
        "analysis",
        "final",
    }
)
_POINTS = frozenset(
    {
        "points",
        "steps",
        "highlights",
        "findings",
        "items",
        "reasons",
        "bullets",
        "arguments",
        "recommendations",
        "notes",
        "actions",
    }
)
_MAX_DEPTH = 6  # below this, optional properties and extra array items are left out
_HARD_DEPTH = 16
_SCALAR_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
}
# Property names that imply a string format when the schema does not state one.
_FORMAT_HINTS = {
    "email": frozenset({"email", "mail"}),
    "date": frozenset({"date", "day", "birthday"}),
    "uri": frozenset({"url", "uri", "link", "website", "homepage"}),
}


@dataclass
class Context:
    """What the model knows: the task, facts from tool results (most recent first) and, when
    writing a final structured answer, the plain-language answer for summary-like fields."""

    task: str
    facts: list[tuple[str, Any]] = field(default_factory=list)
    mentions: str = ""  # text searched for enum values: the task, then tool results
    answer: str | None = None


@dataclass
class _Candidate:
    value: Any
    strong: bool  # taken from the conversation, not invented: worth sending even if optional


class Filler:
    """Builds one JSON value for ``root`` (a tool's parameters or an output schema).

    ``include_optional``: structured outputs fill every property (OpenAI strict mode requires
    all); tool arguments include an optional property only when the conversation supplies it.
    ``avoid``: per property, values already tried and rejected.
    """

    def __init__(
        self,
        root: Mapping[str, Any],
        ctx: Context,
        *,
        include_optional: bool,
        avoid: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self.root = root
        self.ctx = ctx
        self.include_optional = include_optional
        self.avoid = avoid or {}
        self._ids = tx.id_tokens(ctx.task)
        self._used_ids: set[str] = set()

    def build(self) -> Any:
        return self.value("", self.root, 0)

    def value(self, name: str, schema: Any, depth: int) -> Any:
        if depth > _HARD_DEPTH:
            return None  # a schema that requires itself forever cannot be satisfied anyway
        cands = self.candidates(name, schema, depth)
        avoid = self.avoid.get(name, ())
        fresh = [c for c in cands if json.dumps(c.value, sort_keys=True) not in avoid]
        chosen = (fresh or cands)[0].value
        if isinstance(chosen, str) and chosen in self._ids:
            self._used_ids.add(chosen)
        return chosen

    def candidates(self, name: str, schema: Any, depth: int) -> list[_Candidate]:
        s = resolve(schema, self.root)
        kind = s.get("type", "string")
        if "const" in s:
            out = [_Candidate(s["const"], True)]
        elif s.get("enum"):
            out = self._enum(s)
        elif kind in ("object", "array"):
            made = self._object(s, depth) if kind == "object" else self._array(name, s, depth)
            out = [_Candidate(made, False)]
        elif kind in ("number", "integer"):
            out = self._number(name, s, integer=kind == "integer")
        elif kind == "boolean":
            found = [_Candidate(v, True) for v in self._facts(name, bool)]
            out = [*found, _Candidate(bool(s.get("default", False)), False)]
        elif kind == "null":
            out = [_Candidate(None, False)]
        else:
            out = self._string(name, s)
        return out

    # -------------------------------------------------------------- structured values

    def _object(self, s: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = s.get("properties") or {}
        required = set(s.get("required") or [])
        out: dict[str, Any] = {}
        if depth >= _MAX_DEPTH:
            props = {k: v for k, v in props.items() if k in required}
        for key, sub in props.items():
            if key in required or self.include_optional:
                out[key] = self.value(key, sub, depth + 1)
                continue
            cands = self.candidates(key, sub, depth + 1)
            if cands and cands[0].strong:
                out[key] = self.value(key, sub, depth + 1)
        return out

    def _array(self, name: str, s: Mapping[str, Any], depth: int) -> list[Any]:
        items = resolve(s.get("items", {}), self.root)
        low, high = int(s.get("minItems", 0)), s.get("maxItems")
        scalar = _SCALAR_TYPES.get(str(items.get("type")))
        if "type" not in items and not items.get("enum"):  # untyped items: any scalars do
            scalar = (str, int, float)
        for found in self._facts(name, list):
            fits_count = low <= len(found) <= (high if high is not None else len(found))
            if (
                fits_count
                and scalar
                and not items.get("enum")
                and all(isinstance(v, scalar) and not isinstance(v, bool) for v in found)
            ):
                return list(found)
        words = set(tx.words(name))
        if (
            items.get("type") == "string"
            and not items.get("enum")
            and words & _POINTS
            and self.ctx.answer
        ):
            points = tx.sentences(self.ctx.answer)[: max(low, 3)]
        else:
            points = []
        count = max(low, len(points), 1 if depth < _MAX_DEPTH - 1 else low)
        if high is not None:
            count = min(count, int(high))
        out = points[:count]
        singular = name[:-1] if name.endswith("s") else name
        while len(out) < count:
            item = self.value(singular, items, depth + 1)
            if s.get("uniqueItems") and item in out:
                item = f"{item} {len(out) + 1}" if isinstance(item, str) else item
            out.append(item)
        return out

    # -------------------------------------------------------------- scalars

    def _facts(self, name: str, kind: type | tuple[type, ...]) -> list[Any]:
        """Tool-result values whose key names the same thing, best match then most recent."""
        if not name:
            return []
        facts = enumerate(self.ctx.facts)
        scored = [(key_score(name, key), i, value) for i, (key, value) in facts]
        ranked = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1]))
        out = []
        for _score, _i, value in ranked:
            if kind is bool or not isinstance(value, bool):
                if isinstance(value, kind):
                    out.append(value)
                elif kind == (int, float) and isinstance(value, str):
                    num = tx.numbers(value)
                    out.extend(v for v, _ in num[:1])
        return out

    def _enum(self, s: Mapping[str, Any]) -> list[_Candidate]:
        values = list(s["enum"])
        text = self.ctx.mentions or self.ctx.task
        lowered = text.lower()
        stems = tx.stem_positions(text)
        mentioned = []
        for v in values:
            if not isinstance(v, str):
                continue
            v_stems = {tx.stem(w) for w in tx.content_words(v)}
            literal = re.search(rf"\b{re.escape(v.lower())}\b", lowered) if v else None
            at = literal.start() if literal else -1
            if at < 0 and v_stems and v_stems <= set(stems):
                # a stem-level mention ranks after every literal one
                at = len(lowered) + min(stems[st] for st in v_stems)
            if at >= 0:
                mentioned.append((at, v))
        ordered = [v for _, v in sorted(mentioned, key=lambda x: x[0])]
        rest = [v for v in values if v not in ordered]
        if "default" in s and s["default"] in rest:
            rest.remove(s["default"])
            rest.insert(0, s["default"])
        return [_Candidate(v, True) for v in ordered] + [_Candidate(v, False) for v in rest]

    def _number(self, name: str, s: Mapping[str, Any], *, integer: bool) -> list[_Candidate]:
        found = [_Candidate(v, True) for v in self._facts(name, (int, float))]
        nums = [
            (v, cur)
            for v, cur in tx.numbers(self.ctx.task)
            if cur or not (v.is_integer() and v >= 1000)
        ]
        money = bool(set(tx.words(name)) & MONEY)
        nums.sort(key=lambda x: not x[1] if money else False)
        found += [_Candidate(v, True) for v, _ in nums]
        found.append(_Candidate(s.get("default", 1), False))
        out = []
        for c in found:
            v = float(c.value) if isinstance(c.value, (int, float)) else 1.0
            if "minimum" in s:
                v = max(v, float(s["minimum"]))
            if "exclusiveMinimum" in s and v <= float(s["exclusiveMinimum"]):
                v = float(s["exclusiveMinimum"]) + 1
            if "maximum" in s:
                v = min(v, float(s["maximum"]))
            out.append(_Candidate(round(v) if integer else v, c.strong))
        return out

    def _string(self, name: str, s: Mapping[str, Any]) -> list[_Candidate]:
        ctx, words = self.ctx, set(tx.words(name))
        is_id = is_id_name(name)
        out = [
            _Candidate(str(v), True)
            for v in self._facts(name, (str, int))
            if not isinstance(v, bool)
        ]
        if is_id:
            unused = [t for t in self._ids if t not in self._used_ids]
            out += [_Candidate(t, True) for t in unused + self._ids]
        fmt = s.get("format") or next(
            (f for f, hints in _FORMAT_HINTS.items() if words & hints), None
        )
        if fmt == "email":
            out += [_Candidate(e, True) for e in re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", ctx.task)]
            out.append(_Candidate("customer@example.com", False))
        elif fmt in ("date", "date-time"):
            out += [_Candidate(d, True) for d in re.findall(r"\d{4}-\d{2}-\d{2}", ctx.task)]
            out.append(_Candidate("2025-01-01" if fmt == "date" else "2025-01-01T00:00:00Z", False))
        elif fmt in ("uri", "url"):
            out += [_Candidate(u, True) for u in re.findall(r"https?://\S+", ctx.task)]
            out.append(_Candidate("https://example.com", False))
        if ctx.answer and words & _SUMMARY:
            out.append(_Candidate(ctx.answer, False))
        if words & _QUERY:
            out.append(_Candidate(" ".join(tx.content_words(ctx.task)[:12]) or ctx.task, False))
        if words & _FULLTEXT:
            out.append(_Candidate(ctx.task.strip(), False))
        if words & _REASON:
            out.append(_Candidate(tx.because_clause(ctx.task) or ctx.task.strip(), False))
        out += [_Candidate(p, False) for p in tx.proper_nouns(ctx.task)[:1]]
        out.append(_Candidate(" ".join(tx.content_words(ctx.task)[:6]) or name or "n/a", False))
        fitting = [_Candidate(fit(str(c.value), s), c.strong) for c in out if fits(str(c.value), s)]
        sample = sample_pattern(str(s["pattern"])) if "pattern" in s and not fitting else None
        return fitting or [_Candidate(sample if sample is not None else fit(name, s), False)]
