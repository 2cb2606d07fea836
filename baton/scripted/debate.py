"""Debate positions: a stance taken from the agent's role, defended with 2-3 reasons, revised
by a fixed rule when the others disagree.

A debater's input holds the question, the others' latest positions (each a ``POSITION: …``
line under the debater's name) and an instruction to start with ``POSITION: <short stance>``.

* Stance: what the role favours ("favours PostgreSQL", "prefers …", "argues for …"); else the
  option of the question ("PostgreSQL or MongoDB?") whose words its role shares most; else the
  first option.
* Reasons: the role's own ("… for its transactional guarantees, mature tooling and …"), else
  reasons drawn from the question's terms.
* Later rounds: agree when every other position matches; an open-minded debater (its role says
  "open-minded", "pragmatic", "willing to change" …) adopts the others' majority stance in the
  last round (or when the round is not stated); everyone else keeps its stance and answers the
  strongest opposing point.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from baton.scripted import text as tx
from baton.scripted.answers import answer_with
from baton.scripted.roles import has_words, read_role, short
from baton.scripted.situation import Situation
from baton.scripted.wire import Answer

__all__ = ["debate", "is_debater", "messages", "options", "positions", "question",
           "stance_key"]

_INSTRUCTION = re.compile(r"POSITION:\s*<|(?:start|begin)\w*[^\n]{0,60}POSITION", re.IGNORECASE)
_FAVOUR = re.compile(
    r"\b(?:favou?rs?|favou?ring|prefers?|preferring|advocates?(?: for)?|argues? for|champions?|"
    r"in favou?r of|supports?|believes? in|recommends?|wants? to use|pushes? for)\s+"
    r"(?:using\s+|the\s+|a\s+|an\s+)?([A-Za-z0-9][\w.+#/-]*(?:\s+[A-Z0-9][\w.+#/-]*){0,2})")
_REASONS = re.compile(r"\b(?:for its|for their|because(?: of)?|since|thanks to|due to|as it "
                      r"(?:gives|offers|has)|citing|valuing)\s+([^.\n]+)", re.IGNORECASE)
_OPTIONS = re.compile(
    r"(?:use|choose|adopt|pick|prefer|between|build|go with|migrate to|standardi[sz]e on)\s+"
    r"(?:either\s+)?(?:a |an |the )?([\w.+#/ -]{2,40}?)\s+(?:or|vs\.?|versus|and)\s+"
    r"(?:a |an |the )?([\w.+#/-]{2,40}(?:\s+[A-Z][\w.+#/-]*)?)", re.IGNORECASE)
_OPEN = ("open-minded", "open minded", "pragmatic", "willing to change", "persuadable",
         "open to", "can be convinced", "consensus-seeking", "flexible")
_ROUND = re.compile(r"\bround\s+(\d+)\s*(?:of|/)\s*(?:at most\s+)?(\d+)", re.IGNORECASE)


def is_debater(sit: Situation) -> bool:
    return bool(_INSTRUCTION.search(sit.task) or _INSTRUCTION.search(sit.system))


def question(task: str) -> str:
    labelled = re.search(r"^\s*(?:debate question|question|topic|motion|task|decide)\s*:\s*(.+)$",
                         task,
                         re.IGNORECASE | re.MULTILINE)
    if labelled:
        return labelled.group(1).strip()
    lines = [ln.strip() for ln in task.splitlines() if ln.strip() and "POSITION" not in ln]
    return lines[0] if lines else task.strip()


def options(text: str) -> list[str]:
    match = _OPTIONS.search(text)
    if not match:
        return []
    return [re.sub(r"\s+(?:for|in|as|to|with)\b.*$", "", o).strip(" ?.,") for o in match.groups()]


def stance_key(stance: str, choices: list[str]) -> str:
    lowered = stance.lower()
    for choice in choices:
        if re.search(rf"\b{re.escape(choice.lower())}\b", lowered):
            return choice.lower()
    return " ".join(sorted({tx.stem(w) for w in tx.content_words(stance)}))


def messages(text: str) -> list[tuple[str, str, str]]:
    """(source, position, argument) of every agent message given as a JSON line, the way the
    debate workflow passes the others' latest positions."""
    out = []
    for line in text.splitlines():
        if not line.lstrip().startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        payload = value.get("payload") if isinstance(value, dict) else None
        if isinstance(payload, dict) and value.get("source"):
            argument = str(payload.get("argument") or "")
            stance = str(payload.get("position") or "")
            found = re.search(r"POSITION:\s*(.+)", argument)
            out.append((str(value["source"]), found.group(1).strip() if found else stance,
                        re.sub(r"^.*POSITION:[^\n]*\n?", "", argument, count=1).strip()))
    return out


def positions(task: str, me: str) -> list[tuple[str, str, str]]:
    """(debater, stance, argument) for every position in ``task`` other than ``me``'s."""
    out = [m for m in messages(task) if m[0] != me and m[1]]
    if out:
        return out
    label = ""
    lines = task.splitlines()
    for index, line in enumerate(lines):
        head = re.match(r"^[\s#*\[-]*([A-Za-z][\w-]*)\]?(?:\s*\([^)]*\))?[^:\n]{0,30}:", line)
        if "POSITION:" not in line:
            if head and head.group(1).lower() not in ("question", "topic", "task", "round"):
                label = head.group(1)
            continue
        if _INSTRUCTION.search(line):
            continue
        before = line.split("POSITION:")[0]
        owner = head.group(1) if head and head.group(1) != "POSITION" and before.strip() else label
        stance = line.split("POSITION:", 1)[1].strip()
        rest = " ".join(ln.strip() for ln in lines[index + 1:index + 4]
                        if ln.strip() and "POSITION:" not in ln)
        if owner and owner != me and stance:
            out.append((owner, stance, rest))
    return out


def _own_stance(role_text: str, choices: list[str], topic: str) -> str:
    favour = _FAVOUR.search(role_text)
    if favour:
        preferred = favour.group(1).strip()
        for choice in choices:
            if choice.lower() in preferred.lower() or preferred.lower() in choice.lower():
                return f"Use {choice}"
        return f"Use {preferred}" if preferred[:1].isupper() else f"Favour {preferred}"
    if choices:
        role_stems = set(tx.stem_positions(role_text))
        best = max(choices, key=lambda c: (len(set(tx.stem_positions(c)) & role_stems),
                                           -choices.index(c)))
        return f"Use {best}"
    against = has_words(role_text, "skeptic", "sceptic", "against", "oppos", "caution")
    return f"{'Against' if against else 'In favour of'}: {short(topic, 60)}"


def _reasons(role_text: str, topic: str) -> list[str]:
    found = _REASONS.search(role_text)
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+|;\s*", found.group(1)) if found else []
    reasons = [p.strip(" .") for p in parts if p.strip(" .")]
    terms = [w for w in dict.fromkeys(tx.content_words(topic)) if len(w) > 3][:2] or ["the goal"]
    generic = [f"it meets the {terms[0]} requirement directly",
               f"it keeps {terms[-1]} simple to operate and to change later",
               "the team carries less delivery risk with it"]
    return reasons[:3] if len(reasons) >= 2 else (reasons + generic)[:3]


def _point(argument: str, stance: str) -> str:
    """The first reason of another debater's argument (their stance when they gave none)."""
    first = re.search(r"\(1\)\s*([^;.]+)", argument)
    return first.group(1).strip() if first else short(argument, 100) or stance


def _last_round(task: str) -> bool | None:
    match = _ROUND.search(task)
    if match:
        return int(match.group(1)) >= int(match.group(2))
    if re.search(r"\b(?:final|last) round\b", task, re.IGNORECASE):
        return True
    return None


def debate(sit: Situation) -> Answer | None:
    if not is_debater(sit):
        return None
    role = read_role(sit.system)
    topic = question(sit.task)
    choices = options(topic) or options(sit.task)
    stance = _own_stance(role.text, choices, topic)
    reasons = _reasons(role.text, topic)
    others = positions(sit.task, role.name)
    mine = stance_key(stance, choices)
    body = "Reasons: " + "; ".join(f"({i}) {r}" for i, r in enumerate(reasons, 1)) + "."
    if others:
        keys = [stance_key(s, choices) for _, s, _ in others]
        majority = Counter(keys).most_common(1)[0][0]
        open_minded = any(p in role.text.lower() for p in _OPEN)
        last = _last_round(sit.task)
        if all(k == mine for k in keys):
            names = ", ".join(n for n, _, _ in others)
            body = f"We agree: {names} reached the same position. {body}"
        elif open_minded and last is not False and majority != mine:
            name, theirs, argument = next(o for o, k in zip(others, keys, strict=True)
                                          if k == majority)
            body = (f"I argued to {stance[:1].lower() + stance[1:]}, but {name} makes the "
                    f"stronger case: {_point(argument, theirs)}. I now support the same choice. "
                    + (argument if argument.startswith("Reasons:") else ""))
            stance = theirs
        else:
            name, theirs, argument = next(o for o, k in zip(others, keys, strict=True)
                                          if k != mine)
            body = (f"I acknowledge {name}'s point that {_point(argument, theirs)} matters, but "
                    f"{reasons[0]} weighs more for this decision. {body}")
    return answer_with(sit, f"POSITION: {stance}\n{body}",
                       facts=[("position", stance), ("stance", stance)])
