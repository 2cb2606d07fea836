"""A pattern's turns, recognised by what its workflow writes (its markers and parsers, imported).
A debater takes the stance its role favours, kept unless it is open-minded and most disagree; a
judge names the majority, else the case closest to its criteria; a pipeline stage reviews,
summarises or passes on its input; a merger says what each branch found and which failed."""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

from pydantic import ValidationError

from baton.messages import AgentMessage
from baton.scripted import reading as rd
from baton.scripted.answers import reply
from baton.scripted.reading import Situation
from baton.scripted.wire import Answer
from baton.workflows.debate import POSITION_INSTRUCTION, POSITION_PREFIX, normalise, stance_of
from baton.workflows.fanout import FAILED_BRANCHES, OUTPUT_OF
from baton.workflows.pipeline import read_stage_task

__all__ = ["debater", "judge", "merge", "stage"]

_FAVOUR = re.compile(rd.LEXICON["patterns"]["favour"])  # "favours PostgreSQL": the stance
_REASONS = re.compile(r"\b(?:for its|for their|because(?: of)?|since|due to)\s+([^.;\n]+)", re.I)
_OPEN = ("open-minded", "open minded", "pragmatic", "willing to change", "persuadable")
_SERIOUS = re.compile(r"inject|secret|syntax|crash|data loss|bare except|mutable default", re.I)


class Position(NamedTuple):
    debater: str
    stance: str
    argument: str


def positions(task: str) -> list[Position]:
    out = []
    for line in task.splitlines():
        try:
            message = AgentMessage.model_validate_json(line)
        except ValidationError:
            continue
        payload = message.payload if isinstance(message.payload, dict) else {}
        argument = str(payload.get("argument") or "")
        if stance := payload.get("position") or stance_of(argument):
            out.append(Position(message.source, str(stance), argument))
    return out


def _point(position: Position) -> str:
    """Another debater's first reason, else its stance."""
    first = re.search(r"\(1\)\s*([^;.]+)", position.argument)
    return first.group(1).strip() if first else position.stance


def debater(sit: Situation) -> Answer | None:
    if POSITION_INSTRUCTION not in sit.task:
        return None
    favour, found = _FAVOUR.search(sit.description), _REASONS.search(sit.description)
    stance = f"Use {favour.group(1)}" if favour else f"In favour of: {rd.topic(sit.task)[:60]}"
    reasons = re.split(r",\s*(?:and\s+)?|\s+and\s+", found.group(1).strip()) if found else []
    reasons = reasons or [f"it meets the goal of {rd.short(rd.topic(sit.task), 60)} directly"]
    body = "Reasons: " + "; ".join(f"({i}) {r}" for i, r in enumerate(reasons[:3], 1)) + "."
    others = [p for p in positions(sit.task) if p.debater != sit.name]
    keys = [normalise(p.stance) for p in others]
    majority = Counter(keys).most_common(1)[0][0] if keys else normalise(stance)
    if others and set(keys) == {normalise(stance)}:
        body = f"We agree: {', '.join(p.debater for p in others)} reached the same position. {body}"
    elif majority != normalise(stance) and any(x in sit.role.lower() for x in _OPEN):
        best = others[keys.index(majority)]
        body = (f"I argued to {stance[:1].lower() + stance[1:]}, but {best.debater} makes the "
                f"stronger case: {_point(best)}. I now support the same choice.")
        stance = best.stance
    elif others:
        other = next(p for p, k in zip(others, keys, strict=True) if k != normalise(stance))
        body = (f"I acknowledge {other.debater}'s point that {_point(other)} matters, but "
                f"{reasons[0]} weighs more for this decision. {body}")
    return reply(sit, f"{POSITION_PREFIX} {stance}\n{body}", [("position", stance)])


def judge(sit: Situation) -> Answer | None:
    found = positions(sit.task)
    if not found or POSITION_INSTRUCTION in sit.task:
        return None
    votes = Counter(normalise(p.stance) for p in found)
    criteria = set(rd.stems(f"{sit.role} {rd.topic(sit.task)}"))

    def merit(p: Position) -> tuple[int, int]:
        agreed = votes[normalise(p.stance)]  # a majority first, then the case
        return agreed if agreed * 2 > len(found) else 0, len(set(rd.stems(p.argument)) & criteria)

    winner = max(found, key=merit)
    why = (f"all {len(found)} positions converged on it" if len(votes) == 1 else
           f"its case meets the criteria best ({_point(winner)})")
    dissent = "; ".join(f"{p.debater} argued {rd.short(p.stance, 80)}" for p in found
                        if normalise(p.stance) != normalise(winner.stance))
    text = f"Winner: {winner.debater} — {winner.stance}\nReason: {why}." + (
        f" Considered: {dissent}." if dissent else "")
    return reply(sit, text, [("winner", winner.debater), ("decision", winner.stance)])


def _review(source: str, material: str) -> str:
    """The issues the previous stage reported ("line N: ..."), numbered, with a verdict."""
    # "line 5: bare except)." -> "line 5: bare except": a closing bracket only if unbalanced.
    reported = [re.sub(r"\)$", "", m) if m.count(")") > m.count("(") else m
                for m in (m.rstrip(" .") for m in re.findall(r"\b(line \d+: [^;\n]+)", material))]
    issues = sorted(dict.fromkeys(reported), key=lambda i: int(re.findall(r"\d+", i)[0]))
    return "\n".join([f"Review of the code from {source}: {len(issues)} issue(s) found.",
                      *(f"{n}. {i}" for n, i in enumerate(issues, 1)),
                      f"Verdict: {'changes requested' if issues else 'approve'}."])


def _summary(task: str, source: str, material: str) -> str:
    items = re.findall(r"^\s*(?:\d+[.)]|[-*])\s+(.+)$", material, re.M)
    verdict = re.search(r"verdict:\s*([^.\n]+)", material, re.I)
    serious_first = sorted(items, key=lambda item: not _SERIOUS.search(item))
    top = "; ".join(rd.short(t, 120) for t in serious_first[:2])
    text = (f"Summary: {source} lists {len(items)} point{'s' * (len(items) != 1)}; the most "
            f"important: {top}." if items else
            f"Summary of {source}'s input: {' '.join(rd.key_sentences(material, task))}")
    return text + (f" Verdict: {verdict.group(1).strip()}." if verdict else "")


def stage(sit: Situation) -> Answer | None:
    if (found := read_stage_task(sit.task)) is None:
        return None
    task, source, material = found
    for text in (sit.name, sit.description, sit.role):  # the name says it best
        if re.search(r"\b(summar|condens|digest|recap)", text, re.I):
            return reply(sit, _summary(task, source, material))
        if re.search(r"\b(review|critiq|audit|inspect)", text, re.I):
            return reply(sit, _review(source, material))
    points = rd.key_sentences(material, f"{task} {sit.role}", 3) or [rd.short(material, 220)]
    lead = sit.description.split(";")[0].rstrip(".") or sit.name
    return reply(sit, f"{lead} — from {source}'s input: " + " ".join(points))


def merge(sit: Situation) -> Answer | None:
    head, found, rest = sit.task.partition(f"\n\n{OUTPUT_OF}")
    if not found:
        return None
    outputs, _, failures = rest.partition(f"\n\n{FAILED_BRANCHES}")
    done = [block.partition(":\n")[::2] for block in outputs.split(f"\n\n{OUTPUT_OF}")]
    failed = [f.partition(": ")[::2] for f in failures.split("; ") if f.strip()]
    asked = rd.topic(head)
    lines = [f"Merged answer from {len(done)} of {len(done) + len(failed)} branches on "
             f"{rd.short(asked, 100)}:"]
    lines += [f"- {label}: " + rd.short(" ".join(rd.key_sentences(
        output.replace("Key points:", ""), asked)) or output, 320) for label, output in done]
    if failed:
        lines.append("Missing: " + "; ".join(f"{label} failed ({rd.short(why, 100)})"
                                              for label, why in failed) + ".")
    return reply(sit, "\n".join(lines))

