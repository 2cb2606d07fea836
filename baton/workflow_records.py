"""The small records workflow code passes around: pure data, defined here once per process.

Temporal's sandbox imports a run's workflow modules afresh for every workflow run, so a
dataclass defined in one is built again for every run (its generated ``__init__``, ``__eq__``
and ``__repr__`` compiled each time): in a profile of a fan-out of 50 agents, a quarter of the
sandbox's per-run cost. Defined here, in a module passed through the sandbox like the other
contract modules, they are built once. Nothing here reads a clock, does I/O or draws random
numbers; the workflow modules re-export them under their usual names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from baton.approvals import ApprovalDecision, PendingApproval
from baton.calls import ChatAttempt, ToolSchema
from baton.memory import SUMMARY_SOURCE
from baton.messages import Message, ToolCall, UserMessage
from baton.runs import RunResult, RunStatus
from baton.specs import ApprovalPolicy, ToolSpec

if TYPE_CHECKING:  # an exception class of the workflow code, built per run on purpose
    from baton.workflows._workflow_tools import Finished

__all__ = ["ApprovalResolution", "CallFailure", "CheckedInput", "FailureDecision", "FanoutJob",
           "FoldPlan", "OpenApproval", "PendingMessage", "Polls", "WorkflowTool",
           "WorkflowToolResult"]


@dataclass
class Polls:
    """Event-stream polls of one workflow: waiting now, and taken in this run."""

    waiting: int = 0
    taken: int = 0


@dataclass(frozen=True)
class CheckedInput:
    """A member's input held to its contract."""

    value: Any  # the input (parsed JSON when it has a contract)
    text: str  # as the member's task text
    problem: str | None = None  # why it does not match, in words
    exhausted: str | None = None  # the fix attempts are used up: the run's end, in words


@dataclass(frozen=True)
class CallFailure:
    """A model call's final failure as the workflow sees it, with every attempt's record.
    ``deadline``: the run's wall clock stopped it, before a wait (``retry``) or during an
    attempt (``call``)."""

    error_type: str
    message: str
    retryable: bool
    attempts: tuple[ChatAttempt, ...] = ()
    deadline: Literal["retry", "call"] | None = None


@dataclass(frozen=True)
class FailureDecision:
    """What a model call's final failure means for the run."""

    action: Literal["failover", "compact", "stop"]
    status: RunStatus = RunStatus.FAILED
    reason: str = ""
    error_type: str | None = None


@dataclass
class WorkflowToolResult:
    content: str
    is_error: bool = False
    finish: Finished | None = None  # end the agent's loop after this turn's calls
    value: Any = None  # for the run log
    key: str = ""  # what identifies the work (a child workflow id)


@dataclass
class WorkflowTool:
    schema: ToolSchema
    # (call, step of the calling agent) → result
    run: Callable[[ToolCall, int], Awaitable[WorkflowToolResult]] = field(repr=False)


@dataclass(frozen=True)
class FoldPlan:
    """Working memory's fold of ``messages``: ``[start, end)`` goes to the summariser (the
    previous summary, the task for context, the older turns); the conversation becomes
    ``messages[:start]`` + the new summary + the task + ``messages[end:]``."""

    start: int
    task: int
    end: int

    @property
    def folded(self) -> int:
        """Turns folded this time (a previous summary is folded again, the task stays)."""
        return self.end - self.task - 1

    def apply(self, messages: list[Message], summary: str) -> list[Message]:
        note = UserMessage(source=SUMMARY_SOURCE, content=summary)
        return [*messages[:self.start], note, messages[self.task], *messages[self.end:]]


@dataclass
class ApprovalResolution:
    """How a gated call ended: run it (with these args) or tell the model why not."""

    run: bool
    args: dict[str, Any]
    by: str
    reason: str | None


@dataclass
class OpenApproval:
    """An approval the gate waits on, and the decision once one came."""

    pending: PendingApproval
    policy: ApprovalPolicy
    spec: ToolSpec
    decision: ApprovalDecision | None = None


@dataclass
class FanoutJob:
    """One branch's job of a fan-out, and its result once it ran."""

    index: int
    branch: str
    task: str
    result: RunResult | None = None

    @property
    def label(self) -> str:
        return f"{self.branch} (job {self.index + 1})"

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.status is RunStatus.COMPLETED


@dataclass
class PendingMessage:
    """A session's message waiting for its turn."""

    key: str  # the send update's id
    text: str
