"""Plain-language final answers: a summary of the tool results, or an answer from the task text.

The scripted model does not know the tools in advance, so results are described generically: the
tool name gives a verb and an object ("issue_refund" -> "issued refund"), the result's id field
names the object ("refund R-1"), and a few other scalar fields become the details.
"""

from __future__ import annotations

import json
import re
from typing import Any

from baton.scripted import text as tx
from baton.scripted.situation import PastCall, Situation

__all__ = ["answer_from_task", "describe_call", "key_points", "summarise"]

_PAST = {
    "lookup": "looked up",
    "look": "looked up",
    "get": "fetched",
    "fetch": "fetched",
    "read": "read",
    "find": "found",
    "search": "searched",
    "query": "queried",
    "list": "listed",
    "check": "checked",
    "verify": "verified",
    "issue": "issued",
    "create": "created",
    "make": "made",
    "send": "sent",
    "cancel": "cancelled",
    "update": "updated",
    "delete": "deleted",
    "remove": "removed",
    "add": "added",
    "set": "set",
    "book": "booked",
    "schedule": "scheduled",
    "refund": "refunded",
    "charge": "charged",
    "pay": "paid",
    "approve": "approved",
    "reject": "rejected",
    "escalate": "escalated",
    "notify": "notified",
    "open": "opened",
    "close": "closed",
    "calculate": "calculated",
    "compute": "computed",
    "convert": "converted",
    "translate": "translated",
    "write": "wrote",
    "save": "saved",
    "submit": "submitted",
    "transfer": "transferred",
    "assign": "assigned",
    "reserve": "reserved",
    "run": "ran",
    "lint": "linted",
}
_READ_VERBS = frozenset(
    {
        "looked up",
        "fetched",
        "read",
        "found",
        "searched",
        "queried",
        "listed",
        "checked",
        "verified",
        "calculated",
        "computed",
        "converted",
        "linted",
    }
)
_MONEY = re.compile(r"amount|total|price|cost|balance|charge|fee|refund")
_MAX_DETAILS = 4
_ASKING = re.compile(
    r"^(?:please|kindly|hey|hi|so|now|ok(?:ay)?|(?:can|could|would|will) you|i(?:'d| would) like"
    r" you to|tell me(?: about)?|explain|describe|give me|write(?: me)?|list|show me|help me"
    r"(?: with)?|what (?:is|are|was|were)|how (?:do|does|can|should|to)|why (?:is|are|do|does)"
    r"|who (?:is|are)|when (?:is|are)|(?:should|shall|can|do|must) (?:we|i)|is there|are there"
    r"|the|a|an)\b[,:]?\s*",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(r"^Handle the [\w-]+ part of this request:\s*", re.IGNORECASE)
_REQUEST_WORDS = frozenset(
    {
        "tell",
        "explain",
        "describe",
        "give",
        "write",
        "list",
        "show",
        "help",
        "know",
        "think",
        "want",
        "draft",
        "create",
        "provide",
        "main",
        "key",
        "thing",
        "things",
        "something",
    }
)


def _money(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _MONEY.search(key):
        return f"${value:,.2f}"
    return str(value)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def describe_call(call: PastCall) -> tuple[str, bool]:
    """One clause about a finished call, and whether the call only read data."""
    name_words = tx.words(call.name)
    verb = _PAST.get(name_words[0]) if name_words else None
    noun_words = name_words[1:] if verb else name_words
    verb = verb or "ran"
    noun = " ".join(noun_words) or call.name
    if not call.ok:
        problem = _short(call.result or "no result", 120)
        return f"tried to run {call.name}, which failed: {problem}", True
    try:
        value: Any = json.loads(call.result or "")
    except ValueError:
        value = call.result or ""
    if isinstance(value, list):
        first = next(
            (
                str(v)
                for v in (value[0].values() if value and isinstance(value[0], dict) else value[:1])
            ),
            "",
        )
        detail = f"{len(value)} result{'s' if len(value) != 1 else ''}"
        detail += f" (first: {_short(first, 80)})" if first else ""
        return f"{verb} {noun}: {detail}", verb in _READ_VERBS
    if not isinstance(value, dict):
        return f"{verb} {noun}: {_short(str(value))}", verb in _READ_VERBS
    head = noun
    primary = next(
        (k for k in value if tx.words(k)[:-1] == noun_words[-1:] and k.endswith("id")), None
    ) or next((k for k in value if k.lower() == "id"), None)
    if primary is not None and isinstance(value[primary], (str, int)):
        head = f"{noun} {value[primary]}"
    details = []
    for key, item in value.items():
        if key == primary or isinstance(item, (dict, list)) or item is None:
            continue
        label = " ".join(w for w in tx.words(key) if w != "id") or key
        details.append(f"{label} {_short(_money(key, item), 240)}")
        if len(details) == _MAX_DETAILS:
            break
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{verb} {head}{suffix}", verb in _READ_VERBS


def summarise(situation: Situation) -> str:
    """The final answer after tool calls: every finished call, in order, in one or two sentences."""
    text = _summarise(situation)
    return text[:1].upper() + text[1:]


def _summarise(situation: Situation) -> str:
    finished = [c for c in situation.calls if c.result is not None]
    clauses = [describe_call(c) for c in finished]
    if not clauses:
        return answer_from_task(situation)
    text = ", then ".join(c for c, _ in clauses)
    opener = "Here is what I found: I " if all(read for _, read in clauses) else "Done: I "
    if not any(c.ok for c in finished):
        opener = "I could not complete this: I "
    points = key_points(situation)
    return f"{opener}{text}." + (f" Key points: {points}" if points else "")


_PASSAGE_KEYS = frozenset({"passage", "snippet", "text", "content", "body", "excerpt", "summary"})
_SOURCE_KEYS = ("title", "document_id", "doc_id", "id", "article", "source")


def _passages(value: Any) -> list[tuple[str, str]]:
    """(source, text) of every long text field in a result (documents, search hits)."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[:5]:
        if not isinstance(item, dict):
            continue
        source = next((str(item[k]) for k in _SOURCE_KEYS if isinstance(item.get(k), str)), "")
        for key, text in item.items():
            if key in _PASSAGE_KEYS and isinstance(text, str) and len(text) >= 80:
                out.append((source, text))
    return out


def key_points(situation: Situation, count: int = 2) -> str:
    """The sentences of the documents read that matter most for the task, with their source."""
    wanted = set(tx.stem_positions(situation.task))
    scored: list[tuple[int, int, str, str]] = []
    for call in situation.calls:
        if not call.ok:
            continue
        try:
            value = json.loads(call.result or "")
        except ValueError:
            continue
        for source, text in _passages(value):
            for sentence in tx.sentences(" ".join(text.split())):
                overlap = len(set(tx.stem_positions(sentence)) & wanted)
                if overlap and len(sentence.split()) >= 5:
                    scored.append((-overlap, len(scored), sentence.strip(" …"), source))
    chosen: list[str] = []
    for _, _, sentence, source in sorted(scored):
        if sentence not in " ".join(chosen):
            chosen.append(f"{_short(sentence, 200)}" + (f" [{source}]" if source else ""))
        if len(chosen) == count:
            break
    return " ".join(chosen)


def _topic(task: str) -> str:
    """The subject of a request: its first sentence without the asking ("Can you explain …")."""
    topic = (tx.sentences(task) or [task])[0].strip()
    while True:
        shorter = _ASKING.sub("", topic, count=1).strip()
        if shorter == topic:
            break
        topic = shorter
    return _short(topic.rstrip("?.!:;, "), 90)


def answer_from_task(situation: Situation) -> str:
    """An answer when no tool was used: condense long input, otherwise address the request's
    main terms. Deterministic and short; it reads as an answer, never as an echo."""
    task = _PREAMBLE.sub("", situation.task.strip())
    named = re.match(r"\s*You are [A-Za-z][\w-]*: ([^.,;:\n]{3,60})", situation.system)
    role = named or re.search(r"\byou are ((?:an? |the )?[^.,;\n]{3,60})", situation.system,
                              re.IGNORECASE)
    who = role.group(1).strip() if role else ""
    if named and who[1:2].islower():  # "Billing specialist" → "billing specialist", not "API"
        who = who[:1].lower() + who[1:]
    lead = f"As {who}, " if who else ""
    if len(task) > 400 or re.match(r"(summari[sz]e|condense|tl;?dr)\b", task, re.IGNORECASE):
        body = task.split(":", 1)[1] if re.match(r"\w+[^:]{0,40}:", task) else task
        gist = " ".join(tx.sentences(body)[:2])
        return f"{lead}in short: {_short(gist, 300)}"
    ids = {i.lower() for i in tx.id_tokens(task)}
    terms = [w for w in dict.fromkeys(tx.content_words(task)) if w not in _REQUEST_WORDS | ids]
    terms = terms[:4]
    if not terms:
        return f"{lead}I have nothing specific to add; please tell me what you need."
    listed = ", ".join(terms[:-1]) + (f" and {terms[-1]}" if len(terms) > 1 else terms[-1])
    return (
        f"{lead}on {_topic(task)}: the points that matter most are {listed}. "
        f"I would address {terms[0]} first and come back to {terms[-1]} after that."
    )
