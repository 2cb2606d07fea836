"""Who the agent is and what its input looks like: the role from the system prompt, labelled
sections of an input, and small text helpers the pattern strategies share.

Baton's agent loop writes the system prompt as ``You are <name>: <description>`` followed by
the instructions (and, with an output schema, a JSON-schema paragraph). Pattern workflows write
inputs as labelled blocks (``Task: …``, ``Input from reviewer: …``, ``## branch_a (failed)``,
``billing reports (completed): …``); ``sections`` reads any of those forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from baton.scripted import text as tx

__all__ = [
    "Role",
    "Section",
    "first_sentences",
    "has_words",
    "key_sentences",
    "read_role",
    "sections",
    "short",
    "third_person",
]

_YOU_ARE = re.compile(r"\s*You are ([A-Za-z][\w-]*): ([^\n]*)\n?(.*)", re.DOTALL)
_SCHEMA_NOTE = re.compile(r"\n*Answer with only a JSON value matching this JSON schema:.*",
                          re.DOTALL)
_FAILED = re.compile(r"fail|error|timed? ?out|budget|cancel|max_steps|max_rounds|invalid|reject",
                     re.IGNORECASE)
# Labels that introduce context (and end the block before them), never a candidate.
_CONTEXT_LABELS = frozenset({
    "task", "question", "topic", "motion", "goal", "instructions", "instruction", "context",
    "board", "blackboard", "round", "format", "request", "input", "original", "rules",
})
# Labels inside a candidate's text that never start a new block.
_BODY_LABELS = frozenset({"position", "reason", "reasons", "note", "notes", "answer", "reply",
                          "user", "customer", "your", "summary", "verdict", "winner", "http",
                          "https", "failed", "error", "completed", "max_steps", "max_rounds",
                          "budget_exhausted", "cancelled", "output_invalid", "routing_loop",
                          "transferred", "max_handoffs", "running"})
_HEADER = re.compile(
    r"^(?:#{1,4}\s*|\[|---+\s*|===+\s*|\*\*)?"
    r"(?:(?:candidate|branch|option|output|proposal|answer|debater|member|stage|from)\s+"
    r"(?:of\s+|from\s+)?)?"
    r"([A-Za-z0-9][\w-]{0,63})\]?(?:\*\*)?"
    r"(?:\s+(?:reports|said|says|wrote|answered|argues|output|proposes))?"
    r"\s*(?:\(([^)]{1,60})\)|\[([^\]]{1,60})\])?\s*(?:---+|===+|\*\*)?\s*:?\s*(.*)$",
    re.IGNORECASE,
)


_ENDS = re.compile(r"^\s*(?:failed|missing) (?:branches|members|debaters|stages)\b|^\s*(?:merge|"
                   r"pick|as the judge|reply with)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    instructions: str

    @property
    def text(self) -> str:
        return f"{self.description}\n{self.instructions}"


def read_role(system: str) -> Role:
    match = _YOU_ARE.match(system)
    if match:
        name, description, rest = match.groups()
    else:
        lines = system.strip().splitlines() or [""]
        name, description, rest = "", lines[0], "\n".join(lines[1:])
    return Role(name, description.strip(), _SCHEMA_NOTE.sub("", rest).strip())


def has_words(text: str, *stems: str) -> bool:
    """Does ``text`` contain a word starting with one of ``stems``?"""
    found = tx.words(text)
    return any(w.startswith(s) for w in found for s in stems)


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:") + "…"


def first_sentences(text: str, count: int = 1, limit: int = 220) -> str:
    body = " ".join(text.split())
    return short(" ".join(tx.sentences(body)[:count]) or body, limit)


def key_sentences(text: str, about: str, count: int = 2) -> list[str]:
    """The ``count`` sentences of ``text`` sharing most stems with ``about``, in text order."""
    wanted = set(tx.stem_positions(about))
    found = [s for s in tx.sentences(" ".join(text.split())) if len(s.split()) >= 4]
    scored = sorted(range(len(found)),
                    key=lambda i: (-len(set(tx.stem_positions(found[i])) & wanted), i))
    return [found[i] for i in sorted(scored[:count])]


_PRONOUNS = ((r"\bI'm\b", "the user is"), (r"\bI've\b", "the user has"),
             (r"\bI'd\b", "the user would"), (r"\bI\b", "the user"), (r"\bmy\b", "their"),
             (r"\bme\b", "them"), (r"\bmine\b", "theirs"), (r"\bMy\b", "Their"))


def third_person(text: str) -> str:
    """"I was charged twice" → "the user was charged twice": a sub-task reads as a brief."""
    for pattern, replacement in _PRONOUNS:
        text = re.sub(pattern, replacement, text)
    return re.sub(r"\b(the user(?: also)?|and|but) (want|need|like|expect|have)\b",
                  lambda m: f"{m.group(1)} {'has' if m.group(2) == 'have' else m.group(2) + 's'}",
                  text)


@dataclass(frozen=True)
class Section:
    label: str
    status: str  # what the header said in brackets ("failed", "completed", "")
    body: str

    @property
    def failed(self) -> bool:
        return bool(_FAILED.search(self.status)) or bool(
            re.match(r"\s*\[(?:failed|error|max_steps|budget_exhausted|cancelled)", self.body))


def sections(text: str) -> list[Section]:
    """Labelled blocks of ``text`` (candidates, branch outputs, reports), in order. A header is
    a line such as ``## name``, ``[name] …``, ``--- name (failed) ---``, ``Candidate 2:`` or
    ``name reports (completed): …``; context labels (``Task:``, ``Question:``) are skipped."""
    found: list[tuple[str, str, list[str]]] = []
    current: tuple[str, str, list[str]] | None = None
    for line in text.splitlines():
        if _ENDS.match(line):
            current = None
            continue
        match = _HEADER.match(line.strip()) if line.strip() and not line[:1].isspace() else None
        label = match.group(1) if match else ""
        header_like = match is not None and (
            line.lstrip().startswith(("#", "[", "---", "===", "**"))
            or re.match(r"\s*(candidate|branch|option|output|proposal|answer|debater|member)\b",
                        line, re.IGNORECASE) is not None
            or re.search(r"\b(reports|said|says|wrote|answered|argues)\b", line[:80]) is not None
            or bool(match.group(2) or match.group(3)))
        lowered = label.lower()
        if match and header_like and lowered not in _CONTEXT_LABELS | _BODY_LABELS:
            current = (label, match.group(2) or match.group(3) or "", [match.group(4)])
            found.append(current)
        elif match and lowered in _CONTEXT_LABELS and ":" in line[:40]:
            current = None
        elif current is not None:
            current[2].append(line)
    return [Section(label, status.strip(), "\n".join(body).strip())
            for label, status, body in found if "\n".join(body).strip()]
