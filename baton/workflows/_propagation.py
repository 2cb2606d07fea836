"""What a member sees of the work done before it (an agent's ``sees``), per pattern.

Earlier work is what the team established before the member started: a pipeline's earlier
stages, the reports a supervisor's router has received so far, a handoff's conversation. A
member's task is always its last message; earlier work it sees comes as one message before it,
written by Baton (``source="baton"``), so a model (and the scripted one) still finds its task in
the latest message. The pipeline writes its stages' task texts (``pipeline.stage_task``); this
module writes what comes before them.

- ``task``: no earlier work (a pipeline stage: only the run's task, not the previous output);
- ``summary``: a digest: one short line per earlier stage or report (a handoff: the
  deterministic conversation summary); a pipeline stage still gets the previous stage's output
  in full, because that output is its input;
- ``full``: earlier work in full (a handoff: the transferred conversation);
- ``none``: nothing but its instruction (a pipeline stage: which stage it is; a supervisor's
  worker: the sub-task, as with ``task``; a handoff agent: the transfer note, without the
  request).

A sub-team member sees its task only: its own pattern decides what its members see.
"""

from __future__ import annotations

from collections.abc import Sequence

from baton.messages import Message, UserMessage
from baton.patterns import SEES_DEFAULT, Sees
from baton.runs import ChildRecord
from baton.specs import TeamSpec

__all__ = ["EARLIER_WORK", "digest_line", "sees_of", "stage_context", "worker_context"]

EARLIER_WORK = "Earlier work"  # how the message that carries it starts
_DIGEST_CHARS = 200


def sees_of(team: TeamSpec, member: str) -> Sees:
    """What ``member`` sees of earlier work: its agent's ``sees``, else the default (a sub-team:
    its task only)."""
    if member in team.teams:
        return "task"
    return team.agent(member).sees or SEES_DEFAULT


def digest_line(name: str, text: str, status: str | None = None) -> str:
    """One earlier piece of work as one short line."""
    flat = " ".join(text.split())
    cut = flat if len(flat) <= _DIGEST_CHARS else flat[: _DIGEST_CHARS - 1] + "…"
    return f"- {name}{f' ({status})' if status else ''}: {cut or '(no output)'}"


def _message(head: str, body: list[str], limit: int) -> list[Message]:
    content = f"{EARLIER_WORK} ({head}):\n" + "\n".join(body)
    if len(content) > limit:  # the team's bound on one message
        content = content[:limit] + f"\n[cut at {limit} characters]"
    return [UserMessage(source="baton", content=content)]


def stage_context(sees: Sees, *, stages: Sequence[str], index: int, outputs: dict[str, str],
                  limit: int) -> list[Message]:
    """The earlier stages a pipeline stage sees besides its input (the previous stage's output,
    which its task carries): those before the previous one, digested or in full."""
    before = [s for s in stages[: max(index - 1, 0)] if s in outputs]
    if sees in ("task", "none") or not before:
        return []
    if sees == "full":
        return _message("earlier stages' outputs, in full", [
            f"Output of {s}:\n{outputs[s]}\n" for s in before], limit)
    return _message("a digest of the earlier stages",
                    [digest_line(s, outputs[s]) for s in before], limit)


def worker_context(sees: Sees, records: Sequence[ChildRecord], *, limit: int
                   ) -> list[Message]:
    """The earlier reports a supervisor's worker sees before its sub-task (the router keeps
    them in full in its own conversation; a worker never sees another's transcript)."""
    earlier = [r for r in records if r.output or r.reason]
    if sees in ("task", "none") or not earlier:
        return []
    if sees == "full":
        return _message("what earlier workers reported, in full", [
            f"{r.member} ({r.status.value}) reported:\n{r.output or r.reason}\n"
            for r in earlier], limit)
    return _message("a digest of what earlier workers reported", [
        digest_line(r.member, r.output or r.reason or "", r.status.value) for r in earlier],
        limit)
