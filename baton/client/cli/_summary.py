"""A plain-language account of a run for a reviewer who is not an engineer (``baton summary``).

Built only from the run log and results (no model call): what was asked, who did what, which
approvals were given by whom and why, what it cost and how it ended.
"""

from __future__ import annotations

from collections import Counter

from baton.client.views import RunView
from baton.runs import (
    ApprovalEvent,
    ChildEvent,
    CompactedEvent,
    ContinuedEvent,
    FailoverEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    RunStatus,
    StartedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
    ValidationEvent,
)
from baton.workflows._workflow_tools import TRANSFER_PREFIX
from baton.workflows.supervisor import DELEGATE_PREFIX

__all__ = ["summary"]

_ENDINGS = {
    RunStatus.COMPLETED: "It finished successfully",
    RunStatus.RUNNING: "It is still running",
    RunStatus.AWAITING_APPROVAL: "It is waiting for a person to approve a step",
    RunStatus.MAX_STEPS: "It stopped because it reached its step limit",
    RunStatus.MAX_ROUNDS: "It stopped because it reached its round limit",
    RunStatus.ROUTING_LOOP: "It stopped because the coordinator kept repeating itself",
    RunStatus.MAX_HANDOFFS: "It stopped because the agents kept passing the work around",
    RunStatus.TRANSFERRED: "It handed the conversation over to another agent",
    RunStatus.STALLED: "It stopped because nobody could make further progress",
    RunStatus.BUDGET_EXHAUSTED: "It stopped because its budget ran out",
    RunStatus.TENANT_BUDGET_EXHAUSTED: (
        "It stopped because its tenant's budget for the day or month ran out"),
    RunStatus.OUTPUT_INVALID: "It stopped because its answer never had the required format",
    RunStatus.INPUT_INVALID: "It stopped because a member's input never had the format that "
                             "member requires",
    RunStatus.REFUSED: "It stopped because the model refused the task",
    RunStatus.CONTEXT_EXCEEDED: "It stopped because the conversation grew too long for the model",
    RunStatus.FAILED: "It failed",
    RunStatus.CANCELLED: "It was cancelled",
}


def _clip(text: str | None, limit: int = 240) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _answer_lines(agent: str, event: ValidationEvent | ModelCallEvent) -> list[str]:
    """What a reviewer should know about an answer: asked again (why), or refused (what said)."""
    if isinstance(event, ValidationEvent):
        what = ("was empty" if event.error_type == "empty_answer"
                else "did not have the required format")
        return [f"{agent}'s answer {what} (attempt {event.attempt}); it was asked again."]
    return [f"{agent}'s model refused: {_clip(event.refusal, 300)}"] if event.refusal else []


def _member_lines(event: ChildEvent) -> list[str]:
    """How a member ended, and what it said it lacked when it asked for help."""
    state = event.status.value if event.status else "unknown"
    lines = [f"{event.member} ({event.member_kind}) was given a task and ended {state}: "
             f"{_clip(event.output or event.reason, 160) or 'no answer'}."]
    if event.needs_help is not None:
        report = event.needs_help
        lines.append(f"{event.member} asked for help: it was still missing "
                     f"{_clip(report.missing, 160)} after {_plural(report.steps, 'step')}.")
    return lines


def _who_did_what(node: RunView) -> list[str]:
    lines: list[str] = []
    agents = list(dict.fromkeys(e.agent for e in node.events if e.kind == "model_call"))
    for agent in agents:
        mine = [e for e in node.events if e.agent == agent]
        steps = len({e.step for e in mine if e.kind == "model_call"})
        tools = Counter(e.tool for e in mine if isinstance(e, ToolCallEvent)
                        and e.effect != "workflow")
        work = [f"{name} ({count}×)" if count > 1 else name for name, count in tools.items()]
        sentence = f"{agent} worked for {_plural(steps, 'step')}"
        sentence += f" and used {', '.join(work)}" if work else " without using tools"
        lines.append(sentence + ".")
        for event in mine:
            if isinstance(event, ToolCallEvent) and event.status == "error" and (
                    event.effect != "workflow"):
                lines.append(f"{agent}'s call to {event.tool} failed: "
                             f"{_clip(event.content, 160)}")
            elif isinstance(event, ToolCallEvent) and event.effect == "workflow":
                target = event.tool.removeprefix(DELEGATE_PREFIX).removeprefix(TRANSFER_PREFIX)
                verb = "handed the conversation to" if event.tool.startswith(TRANSFER_PREFIX) \
                    else "asked"
                task = event.arguments.get("task") or event.arguments.get("reason") or ""
                said = f": {_clip(str(task), 120)}" if task else ""
                lines.append(f"{agent} {verb} {target}{said}.")
            elif isinstance(event, ToolRefusedEvent):
                lines.append(f"{agent} tried {event.tool}, which it may not use; it was refused.")
            elif isinstance(event, ValidationEvent | ModelCallEvent):
                lines += _answer_lines(agent, event)
        failed = [e for e in mine if isinstance(e, ModelAttemptEvent)]
        if failed:
            kinds = ", ".join(sorted({e.error_type for e in failed}))
            lines.append(f"{_plural(len(failed), 'model call attempt')} of {agent} failed "
                         f"({kinds}) and {'was' if len(failed) == 1 else 'were'} dealt with.")
    for event in node.events:
        if isinstance(event, ChildEvent) and event.action == "finished":
            lines += _member_lines(event)
        elif isinstance(event, FailoverEvent):
            lines.append(f"The model service for {event.agent} failed ({_clip(event.reason, 100)}"
                         f"); Baton switched from {event.from_profile} to {event.to_profile}.")
        elif isinstance(event, CompactedEvent):
            lines.append(f"{event.agent}'s conversation no longer fit the model; Baton compacted "
                         f"{_plural(event.compacted_messages, 'earlier message')} and asked again.")
        elif isinstance(event, ContinuedEvent):
            lines.append(f"{event.agent}'s long history was compacted to keep going "
                         f"(after step {event.step}).")
    return lines


def _approvals(root: RunView) -> list[str]:
    lines: list[str] = []
    for node in root.walk():
        for event in node.events:
            if not isinstance(event, ApprovalEvent):
                continue
            when = f"{event.at:%Y-%m-%d %H:%M} UTC"
            why = f" because {_clip(event.reason, 160)}" if event.reason else ""
            match event.action:
                case "requested":
                    lines.append(f"{event.agent} asked for a person's approval to run "
                                 f"{event.tool}{why} ({when}).")
                case "approved" | "rejected":
                    said = f": {_clip(event.reason, 160)}" if event.reason else ""
                    lines.append(f"{event.by or 'someone'} {event.action} {event.tool} at "
                                 f"{when}{said}.")
                case "edited":
                    lines.append(f"{event.by or 'someone'} approved {event.tool} with changed "
                                 f"details at {when}{why}.")
                case "refused":
                    lines.append(f"A decision on {event.tool} by {event.by or 'someone'} was not "
                                 f"accepted{why}.")
                case "expired" | "escalated":
                    lines.append(f"The approval for {event.tool} {event.action} at {when}{why}.")
    return lines


def summary(root: RunView) -> list[str]:
    """Paragraphs, in reading order."""
    started = next((e for e in root.events if isinstance(e, StartedEvent)), None)
    team = root.team or (started.team if started else "?")
    kind = (root.workflow_type or "").removesuffix("Workflow").lower() or "agent"
    paragraphs = [f"Run {root.run_id} of team {team} ({kind}) for tenant "
                  f"{root.tenant or (started.tenant if started else '?')}."]
    paragraphs.append("What was asked: " + (_clip(started.input, 400) if started
                                            else "(not recorded)"))
    work: list[str] = []
    for node in root.walk():
        work += _who_did_what(node)
    missing = _missing(root)
    # With parts of the run unreadable, an absence proves nothing: say so instead.
    nothing = "nothing could be read" if missing else "nothing was recorded yet"
    paragraphs.append("Who did what:\n" + "\n".join(f"- {line}" for line in work)
                      if work else f"Who did what: {nothing}.")
    approvals = _approvals(root)
    paragraphs.append("Approvals:\n" + "\n".join(f"- {line}" for line in approvals)
                      if approvals else "Approvals: none in what could be read." if missing
                      else "Approvals: none were needed.")
    t = root.totals
    per_agent = ", ".join(f"{a.agent} ${a.cost_usd:.4f}" for a in t.per_agent)
    reported = [n for n in root.walk() if n.source == "parent"]
    calls = _plural(t.model_calls, "model call") + (
        f" of its own plus what {_plural(len(reported), 'member')} reported" if reported else "")
    cached = (f", {t.usage.cache_read_tokens} of them from the provider's prompt cache"
              if t.usage.cache_read_tokens else "")
    paragraphs.append(
        f"Cost: {t.usage.total_tokens} tokens ({t.usage.input_tokens} read{cached}, "
        f"{t.usage.output_tokens} written) in {calls}, "
        f"${t.cost_usd:.4f} in total" + (f" ({per_agent})." if per_agent else "."))
    status = root.run_status
    ending = _ENDINGS.get(status, f"It ended {status.value}") if status else (
        f"Its state is unknown (Temporal says {root.execution_status.lower()})")
    if root.result and root.result.error_type == "empty_answer":
        ending = "It stopped because the model kept giving empty answers"
    took = ""
    if root.started_at and root.closed_at:
        took = f" after {(root.closed_at - root.started_at).total_seconds():.0f} seconds"
    reason = root.result.reason if root.result else None
    ended = f"How it ended: {ending}{took}"
    ended += f", because {_clip(reason, 300)}." if reason and status != RunStatus.COMPLETED \
        else "."
    failed = [e for node in root.walk() for e in node.events if isinstance(e, ToolCallEvent)
              and e.status == "error" and e.effect != "workflow"]
    if failed:
        tools = ", ".join(dict.fromkeys(e.tool for e in failed))
        ended += f"\n{_plural(len(failed), 'tool call')} failed along the way ({tools})."
    stage = root.result.details.get("failed_stage") if root.result else None
    if stage and status is not None and not status.succeeded:
        ended += (f"\nIt can continue from stage {stage} without redoing the earlier stages: "
                  f"baton resume {root.run_id}")
    answer = root.result.output if root.result else None
    if answer:
        ended += f"\nFinal answer: {_clip(answer, 600)}"
    paragraphs.append(ended)
    if missing:
        paragraphs.append("Not everything could be read:\n"
                          + "\n".join(f"- {line}" for line in missing))
    return paragraphs


def _missing(root: RunView) -> list[str]:
    """What the account could not include, and why (history that could not be decoded, members
    whose own histories were not read)."""
    lines = list(dict.fromkeys(note for node in root.walk() if node.source != "parent"
                               for note in node.notes))
    members = list(dict.fromkeys(n.member or n.run_id for n in root.walk()
                                 if n.source == "parent"))
    if members:
        lines.append(f"What {', '.join(members)} did is told only by the parent's history "
                     "(each one's task, how it ended and its result), not their own steps.")
    return lines
