"""Reading a conversation as the heuristic model needs it: "understanding" a text is comparing bags
of word stems. The agent is who the system prompt says (``baton.workflows.prompts``); the task the
latest user message unless it only asks to fix the answer before it; calls since, with results."""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.scripted.wire import ChatQuery
from baton.workflows.prompts import read_system_prompt

LEXICON = json.loads((Path(__file__).parent / "lexicon.json").read_text(encoding="utf-8"))
STOPWORDS, _PARTICLES = frozenset(LEXICON["stopwords"]), frozenset(LEXICON["particles"])


def words(text: str) -> list[str]:
    """Lowercase words; snake_case and camelCase names split into theirs."""
    return re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).lower())


def stem(word: str) -> str:
    return word[:5]  # crude but stable: "refunds" and "refund" agree


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def stems(text: str) -> dict[str, int]:
    """Each meaningful stem with the position of the word where it first appears. A short verb
    before a particle also counts joined, so "look up" matches a tool named ``lookup_order``."""
    found, out = words(text), dict[str, int]()
    for i, word in enumerate(found):
        if word not in STOPWORDS and len(word) > 1 and not word.isdigit():
            out.setdefault(stem(word), i)
        if i + 1 < len(found) and found[i + 1] in _PARTICLES and len(word) <= 5:
            out.setdefault(stem(word + found[i + 1]), i)
    return out


def overlap(text: str, about: Mapping[str, str]) -> dict[str, tuple[float, int]]:
    """How well each candidate (name -> what it does) matches ``text``: shared stems weighted
    1/(candidates having them), so "order" that every tool mentions barely counts and "refund"
    does; and where in ``text`` the first stem that at most two candidates share is."""
    in_text = stems(text)
    groups = {name: set(stems(f"{name} {desc}")) & set(in_text) for name, desc in about.items()}
    count = Counter(s for name, desc in about.items() for s in set(stems(f"{name} {desc}")))
    return {name: (sum(1 / count[s] for s in group),
                   min([in_text[s] for s in group if count[s] <= 2], default=10**6))
            for name, group in groups.items()}


def embed(text: str, dims: int = 256) -> list[float]:
    """Each stem (synonyms merged by ``concepts``) counted at a signed dimension its CRC picks."""
    crcs = [zlib.crc32(LEXICON["concepts"].get(s, s).encode()) for s in stems(text)]
    return [float(sum(1 if c & 1024 else -1 for c in crcs if c % dims == i)) for i in range(dims)]


def ids(text: str) -> list[str]:
    """Id-like tokens, once each: letters with digits (``A1001``, not "10kg"), or 4+ digits."""
    found = re.findall(r"[A-Za-z0-9][\w-]*[A-Za-z0-9]", text)
    return list(dict.fromkeys(t for t in found if re.fullmatch(r"\d{4,}", t) or (
        re.search(r"\d", t) and re.search(r"[A-Za-z]", t) and not re.fullmatch(
            r"\d+(st|nd|rd|th|s|am|pm|h|m|ms|kg|km|mb|gb|x|k)", t, re.I))))


def numbers(text: str) -> list[tuple[float, bool]]:
    """Standalone numbers, each with whether a currency sign precedes it."""
    found = re.findall(r"(?<![\w.-])([$€£])?(\d+(?:,\d{3})*(?:\.\d+)?)(?![\w-])", text)
    return [(float(n.replace(",", "")), bool(sign)) for sign, n in found]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:…") + "…"


def topic(task: str) -> str:
    """What a task is about: its first line without a label ("Task: ...", "Question: ...")."""
    return re.sub(r"^[\w ]{1,30}:\s*", "", (task.strip().splitlines() or [""])[0]).strip()


def key_sentences(text: str, about: str, count: int = 2) -> list[str]:
    """The ``count`` sentences of ``text`` sharing most stems with ``about``, in text order."""
    wanted, found = set(stems(about)), [s for s in sentences(text) if len(s.split()) >= 4]
    best = sorted(range(len(found)), key=lambda i: (-len(set(stems(found[i])) & wanted), i))
    return [found[i] for i in sorted(best[:count])]


# An error that blames the arguments is worth a retry with other values; any other is not.
_BAD_ARGS = re.compile(r"invalid|argument|validation|missing|required|not valid json|schema", re.I)


def loads(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _pairs(value: Any) -> list[tuple[str, Any]]:
    """The (key, value) pairs of a JSON object, or of each object in a list."""
    items = value[:10] if isinstance(value, list) else [value]
    return [(str(k), v) for item in items if isinstance(item, dict) for k, v in item.items()]


@dataclass(frozen=True)
class PastCall:
    name: str
    arguments: dict[str, Any] | None  # None: the arguments were not a JSON object
    result: str | None = None  # None: no result yet
    ok: bool = False
    bad_args: bool = False  # the error blames the arguments


@dataclass(frozen=True)
class Situation:
    query: ChatQuery
    task: str
    name: str  # the agent's name, "" when the system prompt does not say
    description: str
    instructions: str
    calls: tuple[PastCall, ...]
    facts: tuple[tuple[str, Any], ...]  # from the results, most recent first, then the task

    @property
    def role(self) -> str:
        return f"{self.description}\n{self.instructions}"


def read(query: ChatQuery) -> Situation:
    messages = query.messages
    system = "\n".join(m.content for m in messages if m.role == "system")
    you = read_system_prompt(system)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    while len(users) > 1 and messages[users[-1] - 1].role == "assistant" and not (
            messages[users[-1] - 1].tool_calls):
        users.pop()  # feedback on the answer before it, not a task
    index = users[-1] if users else -1
    calls: dict[str, PastCall] = {}
    for m in messages[index + 1:]:
        for c in m.tool_calls:
            args = loads(c.arguments)
            calls[c.id] = PastCall(c.name, args if isinstance(args, dict) else None)
        call = calls.get(m.tool_call_id or "") if m.role == "tool" else None
        if call is not None:
            parsed, text = loads(m.content), m.content.strip()
            failed = m.is_error or text.lower().startswith(("error", "failed", "invalid")) or (
                isinstance(parsed, dict) and "error" in parsed)
            bad = failed and (call.arguments is None or bool(_BAD_ARGS.search(text)))
            calls[m.tool_call_id or ""] = PastCall(call.name, call.arguments, m.content,
                                                   not failed, bad)
    task = messages[index].content if index >= 0 else system
    facts = [p for c in reversed(calls.values()) if c.ok for p in _pairs(loads(c.result))]
    name, description, instructions = you or ("", system, "")
    return Situation(query, task, name, description, instructions, tuple(calls.values()),
                     tuple(facts + _pairs(loads(task))))
