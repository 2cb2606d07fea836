"""The heuristic model: a deterministic, offline stand-in for an LLM. ``think`` condenses for a
summariser, else tries: routing by role (delegate to the worker sharing most distinctive stems with
each clause of the task; transfer only to a strictly better fit, never back along the chain), the
most relevant tool not used yet, a pattern's turn (``turns``), else the answer from the results."""

from __future__ import annotations

import json
import re

from baton.scripted import reading as rd
from baton.scripted.answers import SUBTASK, Filler, call, reply, summarise
from baton.scripted.reading import PastCall, Situation
from baton.scripted.turns import debater, judge, merge, stage
from baton.scripted.wire import Answer, ChatQuery, WireTool
from baton.workflows._workflow_tools import TRANSFER_PREFIX
from baton.workflows.handoff import TRANSFERRED_FROM
from baton.workflows.prompts import SUMMARIZER_PROMPT
from baton.workflows.supervisor import DELEGATE_PREFIX, read_report

__all__ = ["think"]

_CLAUSE = re.compile(rd.LEXICON["patterns"]["clause"], re.I)  # where a task's needs part
_LEAD = re.compile(rd.LEXICON["patterns"]["lead"])  # a report's opening ("Done: I ...")
_ACTIONS = frozenset(rd.LEXICON["action_verbs"])  # a tool named <verb>_... changes something
# For these the action is what they make: "issue_refund" asks for a refund, not an issue.
_LIGHT_VERBS = frozenset(rd.LEXICON["light_verbs"])
_ASKS: dict[str, list[str]] = rd.LEXICON["asks"]  # stems of actions: phrases asking for them


def plan(task: str, workers: dict[str, str]) -> list[tuple[str, str]]:
    """(worker, sub-task) per need, in order: each clause to its best worker, code blocks whole."""
    code = "".join(f"\n{block}" for block in re.findall(r"```.*?```", task, re.S))
    task = re.sub(r"```.*?```", " ", task, flags=re.S).strip()
    whole, parts = rd.overlap(task, workers), dict[str, list[str]]()
    for clause in (c.strip(" ,.;") for c in _CLAUSE.split(task) if c and c.strip(" ,.;")):
        score = rd.overlap(clause, workers)
        best = max(workers, key=lambda n: (score[n][0], whole[n][0], -list(workers).index(n)))
        if score[best][0] >= 0.5:  # a distinctive stem in common
            parts.setdefault(best, []).append(re.sub(r"^(also|and|but|then),?\s+", "", clause,
                                                     flags=re.I))
    if not parts:
        parts[max(workers, key=lambda n: (whole[n][0], -list(workers).index(n)))] = [task]
    out = []
    for worker, clauses in parts.items():
        body = ". ".join(c.rstrip(".!?") for c in clauses)
        # The ids it lacks, each with the noun before it in the task ("order A1002").
        refs = [f"{m.group(1)} {i}" if (m := re.search(rf"(\w+)\W+#?{re.escape(i)}\b", task))
                else i for i in rd.ids(task) if i not in body]
        out.append((worker, SUBTASK.format(worker=worker) + body[:1].lower() + body[1:]
                    + (f" ({', '.join(refs)})" if refs else "") + f".{code}"))
    return out


def _compose(calls: list[PastCall]) -> str:
    """Each worker's finding (its report's first sentences), then what is still open."""
    lines, done, failed = list[str](), list[str](), list[str]()
    for c in calls:
        worker, status, text = read_report(c.result or "") or (
            c.name.removeprefix(DELEGATE_PREFIX), "completed", c.result or "")
        (done if c.ok and status == "completed" else failed).append(worker)
        finding = _LEAD.sub("", rd.short(" ".join(rd.sentences(text)[:2]), 260))
        finding = re.sub(r"\s+- (?=[\w-]+: )", "; ", finding)  # a team's report, one line
        finding = finding if re.match(r"[\w-]+: ", finding) else finding[:1].upper() + finding[1:]
        lines.append(f"- {worker}: {finding}" if worker in done else
                     f"- {worker} could not complete its part: {rd.short(text, 160)}")
    head = (f"Here is the combined answer from {', '.join(done)}:" if done
            else "None of the specialists could complete the request:")
    tail = (f"\nStill open: {', '.join(failed)} did not finish; we will follow up on that part."
            if failed and done else "")
    return "\n".join([head, *lines]) + tail


def delegate(sit: Situation) -> Answer | None:
    tools = {t.name.removeprefix(DELEGATE_PREFIX): t.description for t in sit.query.tools
             if t.name.startswith(DELEGATE_PREFIX)}
    if not tools or sit.query.tool_choice == "none":
        return None
    calls = [c for c in sit.calls if c.name.startswith(DELEGATE_PREFIX)]
    asked = {c.name.removeprefix(DELEGATE_PREFIX) for c in calls}
    for worker, sub_task in plan(sit.task, tools):
        if worker not in asked:
            return call(f"{DELEGATE_PREFIX}{worker}", {"task": sub_task})
    return reply(sit, _compose(calls))


def transfer(sit: Situation) -> Answer | None:
    tools = [t for t in sit.query.tools if t.name.startswith(TRANSFER_PREFIX)]
    if not tools or sit.query.tool_choice == "none" or any(
            c.name.startswith(TRANSFER_PREFIX) for c in sit.calls):
        return None
    me = sit.name or "me"
    chain = {me, *re.findall(rf"{re.escape(TRANSFERRED_FROM)}([\w-]+)", sit.task)}
    targets = {t.name.removeprefix(TRANSFER_PREFIX): t.description for t in tools}
    own = " ".join([sit.description, *(f"{t.name} {t.description}" for t in sit.query.tools
                                       if t not in tools)])
    score = rd.overlap(sit.task, {**targets, "(self)": own})
    best = max(targets, key=lambda a: (score[a][0], -list(targets).index(a)))
    if best in chain or score[best][0] < 0.5 or score[best][0] <= score["(self)"][0]:
        return None
    tool = next(t for t in tools if t.name == f"{TRANSFER_PREFIX}{best}")
    wants_reason = "reason" in (tool.parameters.get("properties") or {})
    return call(tool.name, {"reason": f"{best} fits this request better than {me}"}
                if wants_reason else {})


def _action(tool: WireTool) -> str | None:
    """The stem of what a tool changes ("issue_refund": "refun"); None when it only reads."""
    name = rd.words(tool.name)
    if not name or name[0] not in _ACTIONS:
        return None
    return rd.stem(name[1] if name[0] in _LIGHT_VERBS and len(name) > 1 else name[0])


def _attempt(tool: WireTool, sit: Situation) -> Answer | None:
    """A call with arguments not sent before for this task, if worth making: after a failure,
    one retry if the error blames the arguments; after a success, only for another id."""
    past = [c for c in sit.calls if c.name == tool.name and c.result is not None]
    failed = [c for c in past if not c.ok]
    if len(failed) > 1 or any(not c.bad_args for c in failed):
        return None
    sent = {json.dumps(v, sort_keys=True) for c in past for v in (c.arguments or {}).values()}
    args = Filler(tool.parameters, sit, complete=False, avoid=sent).build()
    new_ids = [v for v in (args.values() if isinstance(args, dict) else ())
               if v in rd.ids(sit.task) and json.dumps(v) not in sent]
    if any(c.arguments == args for c in past) or (any(c.ok for c in past) and not new_ids):
        return None
    return call(tool.name, args)


def next_tool(sit: Situation) -> Answer | None:
    """The tool ``tool_choice`` names, else the most relevant worth calling: a distinctive stem in
    common, reads before changes (made only when asked for), then in the task's order."""
    query, task = sit.query, sit.task
    if forced := next((t for t in query.tools if t.name == query.forced_tool), None):
        return call(forced.name, Filler(forced.parameters, sit, complete=False).build())
    tools = [t for t in query.tools if not t.name.startswith((DELEGATE_PREFIX, TRANSFER_PREFIX))]
    score = rd.overlap(task, {t.name: t.description for t in tools})
    relevant = [t for t in tools if score[t.name][0] >= 0.5 and (
        (act := _action(t)) is None or act in rd.stems(task)
        or any(phrase in task.lower() for phrase in _ASKS.get(act, ())))]
    relevant.sort(key=lambda t: (_action(t) is not None, score[t.name][1], -score[t.name][0]))
    answers = (_attempt(t, sit) for t in relevant if query.tool_choice != "none")
    return next((a for a in answers if a is not None), None)


def think(query: ChatQuery) -> Answer:
    sit = rd.read(query)
    if sit.description.startswith(SUMMARIZER_PROMPT[:40]):  # working memory: entries, shortened
        entries = re.split(r"\n\n(?=\[)", sit.task)[1:]
        return Answer(" ".join(rd.short(e, 120) for e in entries)[:1500])
    for strategy in (delegate, transfer, next_tool, debater, judge, stage, merge):
        if (answer := strategy(sit)) is not None:
            return answer
    return reply(sit, summarise(sit))
