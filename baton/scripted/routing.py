"""Routing by role: a supervisor's ``delegate_to_<worker>`` and a handoff's ``transfer_to_<agent>``.

**Delegation.** The task is cut into clauses ("I was charged twice; also the app won't turn on");
each clause goes to the worker whose description shares the most distinctive stems with it, and
each needed worker gets one self-contained sub-task in the third person, with the ids the task
mentions, in the order the task raises the needs. A worker already asked is never asked again.
When every need has a report, the answer integrates the reports, citing each worker's finding
(and saying which part could not be done).

**Transfer.** The current agent (``You are <name>: <description>``) competes with the transfer
targets on the same stem weights; it hands off only when a target fits strictly better, never to
an agent already on the transfer chain (no ping-pong), and at most once per task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from baton.scripted import text as tx
from baton.scripted.answers import answer_with
from baton.scripted.roles import first_sentences, read_role, short, third_person
from baton.scripted.situation import Situation
from baton.scripted.wire import Answer, AnswerCall, WireTool

__all__ = ["compose_reports", "delegate", "plan", "transfer"]

DELEGATE, TRANSFER = "delegate_to_", "transfer_to_"
_RELEVANT = 0.5
_ABOUT = re.compile(r"\((.*)\)\s*;?\s*returns its report", re.DOTALL)
_CLAUSE = re.compile(
    r"(?<=[.!?;])\s+|\s*[,;]?\s+(?:and also|but also|also|plus|as well as|additionally|"
    r"and then|but)\s+|,\s+and\s+|\s+and\s+(?=(?:I|my|we|our|it|the|please)\b)",
    re.IGNORECASE)
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_LEADING = re.compile(r"^(?:also|and|but|plus|additionally|then|so),?\s+", re.IGNORECASE)
_REPORT = re.compile(r"^([\w-]+) reports \(([\w_]+)\):\s*(.*)$", re.DOTALL)
_REPORT_LEAD = re.compile(r"^(?:Here is the combined answer from [^:\n]*:\s*(?:- )?|Here is what "
                          r"I found|Done|In short|As [^,]{1,80}),?:?\s*(?:I\s)?", re.IGNORECASE)


def _call(name: str, args: dict[str, object]) -> Answer:
    return Answer(None, (AnswerCall(name, json.dumps(args, ensure_ascii=False)),))


def _scores(text: str, about: dict[str, str]) -> dict[str, tuple[float, list[str]]]:
    """Per candidate: stem overlap with ``text`` weighted by 1/(candidates sharing the stem),
    and the words of ``text`` that matched (for the sub-task's focus)."""
    stems = {name: set(tx.stem_positions(f"{name} {desc}")) for name, desc in about.items()}
    counts: dict[str, int] = {}
    for group in stems.values():
        for s in group:
            counts[s] = counts.get(s, 0) + 1
    text_stems = tx.stem_positions(text)
    words = tx.words(text)
    out: dict[str, tuple[float, list[str]]] = {}
    for name, group in stems.items():
        matched = sorted((s for s in group if s in text_stems), key=lambda s: text_stems[s])
        score = sum(1 / counts[s] for s in matched)
        out[name] = (score, [words[text_stems[s]] for s in matched
                             if counts[s] == 1 and len(words[text_stems[s]]) > 3])
    return out


def _workers(tools: Sequence[WireTool]) -> dict[str, str]:
    out = {}
    for tool in tools:
        if tool.name.startswith(DELEGATE):
            match = _ABOUT.search(tool.description)
            out[tool.name.removeprefix(DELEGATE)] = match.group(1) if match else tool.description
    return out


def _references(task: str, clause: str) -> str:
    """The ids of the task missing from ``clause``, with the noun before each ("order A1001")."""
    refs = []
    for token in tx.id_tokens(task):
        if token in clause:
            continue
        before = re.search(rf"(\w+)\W+#?{re.escape(token)}\b", task)
        noun = before.group(1) if before and before.group(1).lower() not in tx.STOPWORDS else ""
        refs.append(f"{noun} {token}".strip())
    return f" ({', '.join(refs)})" if refs else ""


def plan(task: str, workers: dict[str, str]) -> list[tuple[str, str]]:
    """(worker, sub-task) per distinct need, in the order the task raises them. Code blocks
    are kept whole and go with every sub-task."""
    blocks = _FENCE.findall(task)
    task = _FENCE.sub(" ", task).strip()
    attached = "".join(f"\n{block}" for block in blocks)
    clauses = [c.strip(" ,.;") for c in _CLAUSE.split(task) if c and c.strip(" ,.;")]
    whole = _scores(task, workers)
    assigned: dict[str, tuple[int, list[str], list[str]]] = {}
    for index, clause in enumerate(clauses):
        scores = _scores(clause, workers)
        best = max(workers, key=lambda w: (scores[w][0], whole[w][0], -list(workers).index(w)))
        if scores[best][0] < _RELEVANT:
            continue
        first, parts, focus = assigned.get(best, (index, [], []))
        assigned[best] = (first, [*parts, clause], [*focus, *scores[best][1]])
    if not assigned:  # nothing matches clearly: the best worker for the whole task takes it
        best = max(workers, key=lambda w: (whole[w][0], -list(workers).index(w)))
        assigned[best] = (0, [task.strip()], whole[best][1])
    out = []
    for worker, (_, parts, _focus) in sorted(assigned.items(), key=lambda item: item[1][0]):
        body = third_person(" ".join(_LEADING.sub("", p).rstrip(".!?") + "." for p in parts))
        body = body[:1].lower() + body[1:]
        refs = _references(task, body)
        out.append((worker, f"Handle the {worker} part of this request: {body[:-1]}{refs}."
                            f"{attached}"))
    return out


def _reports(sit: Situation) -> list[tuple[str, bool, str]]:
    out = []
    for call in sit.calls:
        if not call.name.startswith(DELEGATE) or call.result is None:
            continue
        match = _REPORT.match(call.result.strip())
        worker = call.name.removeprefix(DELEGATE)
        if match:
            out.append((match.group(1), call.ok and match.group(2) == "completed", match.group(3)))
        elif "already handled" not in call.result:
            out.append((worker, call.ok, call.result))
    return out


def compose_reports(sit: Situation) -> str:
    """The router's final answer: one line per worker's key finding, then what is still open."""
    reports = _reports(sit)
    lines = []
    for worker, ok, text in reports:
        finding = _REPORT_LEAD.sub("", first_sentences(text, 2, 260)).strip()
        finding = re.sub(r"\s+- (?=[\w-]+: )", "; ", finding)
        if not re.match(r"[\w-]+: ", finding):  # "sre: …" stays a name, not a sentence
            finding = finding[:1].upper() + finding[1:]
        lines.append(f"- {worker}: {finding}" if ok else
                     f"- {worker} could not complete its part: {short(text, 160)}")
    failed = [w for w, ok, _ in reports if not ok]
    done = [w for w, ok, _ in reports if ok]
    head = (f"Here is the combined answer from {', '.join(done)}:" if done
            else "None of the specialists could complete the request:")
    tail = (f"\nStill open: {', '.join(failed)} did not finish; we will follow up on that part."
            if failed and done else "")
    return f"{head}\n" + "\n".join(lines) + tail


def delegate(sit: Situation) -> Answer | None:
    workers = _workers(sit.query.tools)
    if not workers or sit.query.tool_choice == "none":
        return None
    asked = {c.name.removeprefix(DELEGATE) for c in sit.calls if c.name.startswith(DELEGATE)}
    pending = [c for c in sit.calls if c.name.startswith(DELEGATE) and c.result is None]
    if pending:
        return None
    for worker, sub_task in plan(sit.task, workers):
        if worker not in asked:
            return _call(f"{DELEGATE}{worker}", {"task": sub_task})
    if not asked:
        return None
    return answer_with(sit, compose_reports(sit))


def _chain(sit: Situation) -> set[str]:
    """Agents on this conversation's transfer chain: every target, and every named source."""
    seen: set[str] = set()
    for message in sit.query.messages:
        for call in message.tool_calls:
            if call.name.startswith(TRANSFER):
                seen.add(call.name.removeprefix(TRANSFER))
                reason = re.search(r"\bthan ([A-Za-z][\w-]*)\b", call.arguments)
                if reason:
                    seen.add(reason.group(1))
        seen.update(re.findall(r"\[Transferred from ([A-Za-z][\w-]*)", message.content))
    return seen


def _own_text(sit: Situation, others: Sequence[WireTool]) -> str:
    role = read_role(sit.system)
    return " ".join([role.description, *(f"{t.name} {t.description}" for t in others)])


def transfer(sit: Situation) -> Answer | None:
    handoffs = [t for t in sit.query.tools if t.name.startswith(TRANSFER)]
    if not handoffs or sit.query.tool_choice == "none":
        return None
    if any(c.name.startswith(TRANSFER) for c in sit.calls):
        return None
    me = read_role(sit.system).name or "me"
    chain = _chain(sit) | {me}
    others = [t for t in sit.query.tools if not t.name.startswith(TRANSFER)]
    about = {t.name.removeprefix(TRANSFER): t.description for t in handoffs}
    scores = _scores(sit.task, {**about, f"__self__{me}": _own_text(sit, others)})
    own = scores[f"__self__{me}"][0]
    best = max(about, key=lambda a: (scores[a][0], -list(about).index(a)))
    if best in chain or scores[best][0] < _RELEVANT or scores[best][0] <= own:
        return None
    tool = next(t for t in handoffs if t.name == f"{TRANSFER}{best}")
    args: dict[str, object] = {}
    if "reason" in (tool.parameters.get("properties") or {}):
        focus = ", ".join(dict.fromkeys(scores[best][1][:3])) or "this request"
        args["reason"] = f"{focus}: {best} fits this request better than {me}"
    return _call(tool.name, args)

