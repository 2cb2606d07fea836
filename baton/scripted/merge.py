"""Judging and merging: an input with several labelled candidates, branch outputs or positions.

* A **judge** (role words: judge, decide, pick, choose, select, verdict, winner, best) names a
  winner with a reason: the stance most debaters share if there is a majority, else the
  candidate whose text shares most words with the judge's criteria and the question (then more
  reasons, then the earlier one). A failed candidate never wins.
* A **merger** (merge, combine, synthesise, integrate, consolidate, aggregate, compile, editor,
  report) states what each branch found, in order, which branches failed, and an overall line.
"""

from __future__ import annotations

import re
from collections import Counter

from baton.scripted import text as tx
from baton.scripted.answers import answer_with
from baton.scripted.debate import messages, options, question, stance_key
from baton.scripted.roles import Section, has_words, key_sentences, read_role, sections
from baton.scripted.roles import short as cut
from baton.scripted.situation import Situation
from baton.scripted.wire import Answer

__all__ = ["judge", "merge"]

_JUDGE = ("judg", "decid", "decis", "pick", "choos", "select", "verdict", "winner", "best",
          "arbit", "rank")
_MERGE = ("merg", "combin", "synthes", "synthesi", "integrat", "consolidat", "aggregat",
          "compil", "editor", "report", "collat")


def _stance(section: Section) -> str | None:
    match = re.search(r"POSITION:\s*(.+)", section.body)
    return match.group(1).strip() if match else None


def _candidates(sit: Situation) -> list[Section]:
    """Candidates as JSON agent messages (debate), else labelled blocks, plus the failures a
    ``Failed branches …: a: why; b: why`` line lists."""
    found = [Section(source, "", f"POSITION: {stance}\n{argument}" if stance else argument)
             for source, stance, argument in messages(sit.task)] or sections(sit.task)
    listed = re.search(r"^\s*Failed branches[^:]*:\s*(.+)$", sit.task, re.IGNORECASE | re.M)
    for part in (listed.group(1).split("; ") if listed else []):
        label, _, why = part.partition(":")
        found.append(Section(label.strip(), "failed", why.strip() or "failed"))
    return found if len(found) >= 2 or any(s.failed for s in found) else []


def judge(sit: Situation) -> Answer | None:
    role = read_role(sit.system)
    if not has_words(role.text, *_JUDGE):
        return None
    found = _candidates(sit)
    usable = [s for s in found if not s.failed]
    if not usable:
        return None
    topic = question(sit.task)
    choices = options(topic)
    stances = {s.label: _stance(s) for s in usable}
    keys = {label: stance_key(st, choices) for label, st in stances.items() if st}
    counts = Counter(keys.values())
    criteria = set(tx.stem_positions(f"{role.text} {topic}"))

    def merit(s: Section) -> tuple[int, int, int, int]:
        agreement = counts[keys[s.label]] if s.label in keys else 0
        overlap = len(set(tx.stem_positions(s.body)) & criteria)
        reasons = len(re.findall(r"\(\d\)|^\s*(?:[-*]|\d+\.)\s", s.body, re.MULTILINE))
        return (agreement if agreement * 2 > len(usable) else 0, overlap, reasons,
                -found.index(s))

    winner = max(usable, key=merit)
    if re.search(r"number only", sit.task, re.IGNORECASE):  # best-of: the workflow wants a number
        number = winner.label if winner.label.isdigit() else str(found.index(winner) + 1)
        return answer_with(sit, number, facts=[("winner", number), ("choice", number)])
    stance = stances.get(winner.label)
    role_stems = set(tx.stem_positions(role.text))
    shared = [w for w in dict.fromkeys(tx.content_words(winner.body))
              if tx.stem(w) in role_stems and len(w) > 3][:3]
    if keys and counts[keys.get(winner.label, "")] == len(usable) and len(usable) > 1:
        why = f"all {len(usable)} positions converged on it"
    elif shared:
        why = f"its case speaks to {', '.join(shared)}, which is what matters most here"
    else:
        why = (f"it makes the most complete case ({merit(winner)[2] or 'one'} reasons, "
               f"the most specific on {cut(topic, 60)})")
    losers = [s for s in usable if s is not winner]
    against = "; ".join(f"{s.label} argued {cut(stances.get(s.label) or s.body, 80)}"
                        for s in losers[:2])
    failed = [s.label for s in found if s.failed]
    lines = [f"Winner: {winner.label}" + (f" — {stance}" if stance else ""),
             f"Reason: {why}." + (f" Considered: {against}." if against else "")]
    if failed:
        lines.append(f"Not considered (failed): {', '.join(failed)}.")
    if not stance:
        lines.append(f"\n{winner.body}")
    reason = lines[1].removeprefix("Reason: ")
    return answer_with(sit, "\n".join(lines), facts=[
        ("winner", winner.label), ("decision", stance or winner.label),
        ("choice", stance or winner.label), ("reason", reason), ("rationale", reason)])


def merge(sit: Situation) -> Answer | None:
    role = read_role(sit.system)
    found = _candidates(sit)
    if not found or not has_words(role.text, *_MERGE):
        return None
    topic = question(sit.task)
    ok = [s for s in found if not s.failed]
    lines = [f"Merged answer from {len(ok)} of {len(found)} branches on {cut(topic, 100)}:"]
    used: list[str] = []
    for s in ok:
        body = re.sub(r"Key points:\s*", "", s.body)
        points = key_sentences(body, topic, 2) or [cut(body, 220)]
        used += points
        lines.append(f"- {s.label}: {cut(' '.join(points), 320)}")
    failed = [s for s in found if s.failed]
    if failed:
        lines.append("Missing: " + "; ".join(f"{s.label} failed ({cut(s.body, 100)})"
                                              for s in failed) + ".")
    asked = set(tx.content_words(topic))
    common = Counter(w for point in used for w in dict.fromkeys(tx.content_words(point))
                     if len(w) > 3 and w not in asked)
    shared = [w for w, n in common.most_common(12) if n >= min(2, len(ok))][:4]
    if len(shared) >= 2:
        lines.append(f"Overall: the branches agree that {', '.join(shared)} matter most.")
    text = "\n".join(lines)
    return answer_with(sit, text, facts=[("report", text), ("summary", text)])
