"""The model's answers. JSON values come from the conversation mechanically: per property, the
first candidate that fits and was not sent before (a result field of that name, an id or number
of the task, an enum value the text mentions, ...). Plain answers describe results generically:
a verb from the tool's name, the object its id names ("issued refund R-7Q2"), a few fields, and
the sentences of long results that matter most for the task."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from baton.scripted import reading as rd
from baton.scripted.reading import PastCall, Situation
from baton.scripted.wire import Answer, Call

__all__ = ["SUBTASK", "Filler", "call", "reply", "summarise"]

SUBTASK = "Handle the {worker} part of this request: "  # how ``routing`` words a sub-task
_ID_WORDS, _TEXTS = frozenset(rd.LEXICON["id_words"]), tuple(rd.LEXICON["long_texts"])
_MONEY = re.compile(r"amount|total|price|cost|balance|charge|fee|refund")
# Where a string property's value comes from, judged by the words of its name.
_SOURCES = [(frozenset(words.split()), source) for words, source in rd.LEXICON["string_sources"]]
_PAST: dict[str, str] = rd.LEXICON["past_tense"]  # verbs of tools that only read


def _resolve(schema: Any, root: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """One concrete schema: ``$ref`` inlined, the first non-null of anyOf/oneOf/type lists."""
    s: dict[str, Any] = dict(schema) if isinstance(schema, Mapping) and depth < 32 else {}
    if "$ref" in s:
        target: Any = root
        for part in filter(None, str(s.pop("$ref")).lstrip("#/").split("/")):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _resolve({**(target if isinstance(target, Mapping) else {}), **s}, root, depth + 1)
    if options := s.pop("anyOf", None) or s.pop("oneOf", None):
        usable = [o for o in options if _resolve(o, root, depth + 1)["type"] != "null"]
        s = {**_resolve((usable or options)[0], root, depth + 1), **s}
    if isinstance(s.get("type"), list):
        s["type"] = next((t for t in s["type"] if t != "null"), "null")
    if "type" not in s:
        first = (s.get("enum") or [""])[0]
        s["type"] = ("object" if "properties" in s else "array" if "items" in s else
                     {bool: "boolean", int: "integer", float: "number"}.get(type(first), "string"))
    return s


class Filler:
    """One JSON value for ``root`` (a tool's parameters or an output schema), ``facts`` first.
    ``complete``: every property (a structured answer: OpenAI's strict mode wants them all) or
    the required ones (tool arguments). ``avoid``: values sent before, as JSON."""

    def __init__(self, root: Mapping[str, Any], sit: Situation, *, complete: bool,
                 answer: str = "", facts: Sequence[tuple[str, Any]] = (),
                 avoid: Collection[str] = ()) -> None:
        self.root, self.sit, self.complete, self.avoid = root, sit, complete, avoid
        self.facts = [*facts, *sit.facts]
        task = sit.task  # the reason it gives: the "because ..." clause, else the last clause
        clauses = [c.strip(" .!?") for c in re.split(r"[,;:]|\s[-–—]\s", task) if c.strip(" .!?")]
        because = re.search(r"\b(?:because|since|as|due to)\s+(\S+\s.+?)(?:[.!?]|$)", task, re.I)
        self.texts = {"answer": answer, "task": task.strip(),
                      "reason": because.group(1) if because else (clauses or [task])[-1]}

    def build(self) -> Any:
        return self.value("", self.root, 0)

    def value(self, name: str, schema: Any, depth: int) -> Any:
        s = _resolve(schema, self.root)
        if depth > 20 or s["type"] == "null":  # a schema requiring itself forever is unsatisfiable
            return None
        if "const" in s:
            return s["const"]
        found = self.candidates(name, s, depth)
        return next((v for v in found if json.dumps(v, sort_keys=True) not in self.avoid), found[0])

    def candidates(self, name: str, s: dict[str, Any], depth: int) -> list[Any]:
        kind, names = s["type"], set(rd.words(name))
        if s.get("enum"):
            return self._enum(s["enum"], s.get("default"))
        if kind == "object":
            required, props = set(s.get("required") or []), s.get("properties") or {}
            return [{k: self.value(k, sub, depth + 1) for k, sub in props.items()
                     if k in required or (self.complete and depth < 8)}]
        if kind == "array":
            items, least = _resolve(s.get("items", {}), self.root), int(s.get("minItems", 0))
            return [v for v in self._facts(name, list) if len(v) >= least] or [[
                self.value(name.removesuffix("s"), items, depth + 1)
                for _ in range(max(least, 1 if depth < 8 else 0))]]
        if kind == "boolean":
            return [*self._facts(name, bool), s.get("default", False)]
        if kind in ("number", "integer"):
            # Ids and years are no quantities; for money, amounts with a currency sign first.
            nums = sorted((n for n in rd.numbers(self.sit.task) if n[1] or n[0] < 1000),
                          key=lambda n: not n[1] and bool(_MONEY.search(name)))
            found: list[Any] = [*self._facts(name, int | float), *(n for n, _ in nums),
                                s.get("default", 1)]
            low = max(float(s.get("minimum", "-inf")), float(s.get("exclusiveMinimum", "-inf")) + 1)
            clamped = [min(max(float(v), low), float(s.get("maximum", "inf"))) for v in found]
            return [round(v) for v in clamped] if kind == "integer" else clamped
        found = [str(v) for v in self._facts(name, str | int)]
        if names & _ID_WORDS or name.lower().endswith("id"):
            found += rd.ids(self.sit.task)  # an identifier comes from id-like tokens, not prose
        if s.get("format") == "email" or "email" in names:
            found += [*re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", self.sit.task), "user@example.com"]
        if names & {"timezone", "zone"}:  # IANA names the task gives (a target is named last)
            zones = list(dict.fromkeys(
                re.findall(r"\b[A-Z][A-Za-z_]+/[A-Z][A-Za-z_/]+\b", self.sit.task)))
            found[:0] = zones[::-1] if names & {"target", "to"} else zones
        if "time" in names:  # a clock time, HH:MM
            found += re.findall(r"\b\d{1,2}:\d{2}\b", self.sit.task)
        found += [self.texts[t] for words, t in _SOURCES if names & words]
        found += [" ".join(rd.content_words(self.sit.task)[:6]) or name or "n/a"]
        fits = [v[: s.get("maxLength")] for v in found if v and re.search(s.get("pattern", ""), v)]
        return [v.ljust(int(s.get("minLength", 0)), ".") for v in fits or [name or "n/a"]]

    def _facts(self, name: str, kind: Any) -> list[Any]:
        """Result values under the same name, else the same last word but ``id`` (an ``order_id``
        is no ``refund_id``): best match first, then most recent."""
        def score(key: str) -> int:
            pw, kw = rd.words(name), rd.words(key)
            return 2 if pw == kw else int(bool(pw and kw) and pw[-1] == kw[-1] != "id")

        found = sorted((-score(k), i, v) for i, (k, v) in enumerate(self.facts) if name and score(k)
                       and isinstance(v, kind) and (kind is bool or not isinstance(v, bool)))
        return [v for _, _, v in found]

    def _enum(self, values: list[Any], default: Any) -> list[Any]:
        """The values the task or the results mention, in order, then the default, the rest."""
        text = "\n".join([self.sit.task, *(c.result or "" for c in self.sit.calls if c.ok)]).lower()
        at = {str(v): m.start() for v in values
              if (m := re.search(rf"\b{re.escape(str(v).lower())}\b", text))}
        return sorted(values, key=lambda v: (str(v) not in at, at.get(str(v), 0), v != default))


def call(name: str, arguments: Any) -> Answer:
    return Answer(None, (Call(name, json.dumps(arguments, ensure_ascii=False)),))


def reply(sit: Situation, text: str, facts: Sequence[tuple[str, Any]] = ()) -> Answer:
    """``text`` in the shape asked for: plain, ``{"answer": ...}`` or the response schema's."""
    if sit.query.response_schema is None:
        return Answer(json.dumps({"answer": text}) if sit.query.json_mode else text)
    filler = Filler(sit.query.response_schema, sit, complete=True, answer=text, facts=facts)
    return Answer(json.dumps(filler.build(), ensure_ascii=False))


def _describe(past: PastCall) -> str:
    names = rd.words(past.name) or [past.name]
    if not past.ok:
        return f"tried to run {past.name}, which failed: {rd.short(past.result or '', 120)}"
    verb = _PAST.get(names[0]) or (names[0].removesuffix("e") + "ed" if len(names) > 1 else "ran")
    noun, value = " ".join(names[1:] or names), rd.loads(past.result)
    if not isinstance(value, dict):
        size = f"{len(value)} result(s)" if isinstance(value, list) else rd.short(str(past.result))
        return f"{verb} {noun}: {size}"
    key = next((k for k in value if k.endswith("id") and rd.words(k)[:-1] == names[-1:]), "id")
    # Money in the record's own currency (a "currency" field), never a sign the data lacks.
    currency = value.get("currency") if isinstance(value.get("currency"), str) else None
    details = [f"{' '.join(x for x in rd.words(k) if x != 'id') or k} " + (
        f"{v:,.2f}" + (f" {currency}" if currency else "")
        if _MONEY.search(k) and not isinstance(v, str | bool) else rd.short(str(v)))
        for k, v in value.items() if k != key and isinstance(v, str | int | float)
        and not (currency and k == "currency")][:4]
    head = f"{noun} {value[key]}" if isinstance(value.get(key), str | int) else noun
    return f"{verb} {head}" + (f" ({', '.join(details)})" if details else "")


def summarise(sit: Situation) -> str:
    """The finished calls and the key points read, else the request's main terms (never an echo)."""
    done = [c for c in sit.calls if c.result is not None]
    if done:
        reads = all(c.ok and (rd.words(c.name) or [""])[0] in _PAST for c in done)
        passages = [t for v in (rd.loads(c.result) for c in done if c.ok)  # documents, hits
                    for item in (v if isinstance(v, list) else [v]) if isinstance(item, dict)
                    for k, t in item.items() if k in _TEXTS and isinstance(t, str)]
        points = " ".join(rd.key_sentences(" ".join(passages), sit.task))
        return (("I could not complete this" if not any(c.ok for c in done) else
                 "Here is what I found" if reads else "Done")
                + f": I {', then '.join(_describe(c) for c in done)}."
                + (f" Key points: {points}" if points else ""))
    task = re.sub(re.escape(SUBTASK).replace(r"\{worker\}", r"[\w-]+"), "", sit.task)
    terms = [t for t in dict.fromkeys(rd.content_words(task)) if t.upper() not in rd.ids(task)
             and t not in ("tell", "explain", "give", "write", "show", "help", "short")][:4]
    listed = " and ".join([", ".join(terms[:-1]), terms[-1]] if len(terms) > 1 else terms)
    return (f"The points that matter most here are {listed}. I would address {terms[0]} first "
            f"and come back to {terms[-1]} after that." if terms else
            "I have nothing specific to add; please tell me what you need.")
