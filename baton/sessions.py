"""Sessions: a conversation with a running team (``baton chat``, ``BatonClient.session``).

A session is one long-lived workflow (``SessionWorkflow``, its id the session id). Each user
message is a ``send`` update whose answer is the team's reply; each turn runs as a run of the
team (a child workflow) that is given the conversation so far, compacted. The session ends on
the ``close`` update (``/exit``), after ``idle_timeout_s`` without a message, or when its
budget (the team's, for the whole session) is spent (docs/architecture.md#sessions).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from baton.messages import Message, Usage
from baton.runs import MAX_INPUT_CHARS, RunStatus
from baton.specs import TeamSpec

__all__ = [
    "MAX_QUEUED",
    "SESSION_AGENT",
    "SESSION_BUSY",
    "SESSION_CLOSED",
    "SESSION_CONTINUING",
    "SESSION_WORKFLOW",
    "SessionCarry",
    "SessionInput",
    "SessionMessage",
    "SessionReply",
    "SessionTurn",
    "SessionView",
]

# Temporal allows 10 updates in flight per workflow. Five queued messages, plus the three event
# polls a run lets wait (baton.workflows._events.MAX_WAITING), leave room for ``close`` and a
# person's ``decide``.
MAX_QUEUED = 5

SESSION_WORKFLOW = "SessionWorkflow"  # the workflow type
SESSION_AGENT = "session"  # the session's own events are logged under it (search attribute too)

# Why a ``send`` was refused or failed (the ``type`` of its ApplicationError).
SESSION_BUSY = "SessionBusy"  # as many messages as the session queues wait already
SESSION_CLOSED = "SessionClosed"  # the session has ended (or ended before this was answered)
SESSION_CONTINUING = "SessionContinuing"  # it continues as new: send again (clients do)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SessionTurn(_Model):
    """One exchange: what the user said, what the team answered, and the run that answered."""

    turn: int
    message: str
    reply: str | None = None
    status: RunStatus
    reason: str | None = None
    workflow_id: str
    usage: Usage = Usage()
    cost_usd: float = 0.0


class SessionCarry(_Model):
    """What a session carries into its next continuation: the compacted conversation, the
    latest turns (to show on resume), counts, spend and where its log goes on."""

    turns: int
    conversation: list[Message]
    recent: list[SessionTurn]
    usage: Usage
    cost_usd: float
    started_at: datetime
    waited_s: float = 0.0
    log_offset: int
    previous_runs: list[str]
    closing: bool = False  # ``close`` came while the run was continuing as new


class SessionInput(_Model):
    team: TeamSpec
    tenant: str = "default"
    idle_timeout_s: float = Field(default=1800.0, gt=0)
    max_queued: int = Field(default=4, ge=1, le=MAX_QUEUED)  # unanswered messages, at most
    trace_id: str | None = None
    carry: SessionCarry | None = None  # set only by continue-as-new


class SessionMessage(_Model):
    text: str

    @field_validator("text")
    @classmethod
    def _a_message(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("a message needs some text")
        if len(text) > MAX_INPUT_CHARS:
            raise ValueError(f"a message takes at most {MAX_INPUT_CHARS:,} characters")
        return text


class SessionReply(_Model):
    """The answer of ``send``: the turn's reply (``text``) and how its run ended. ``open`` is
    False when the session ended with this turn (its budget is spent)."""

    session_id: str
    turn: int
    status: RunStatus
    text: str | None = None
    reason: str | None = None
    workflow_id: str
    usage: Usage = Usage()
    cost_usd: float = 0.0
    open: bool = True


class SessionView(_Model):
    """Answer of the ``session`` query and of ``close``."""

    session_id: str
    team: str
    state: Literal["open", "closing", "ended"]
    ended: str | None = None  # why: "closed", "idle", "budget", "cancelled", "refused"
    turns: int
    queued: int
    recent: list[SessionTurn] = Field(default_factory=list)
    usage: Usage = Usage()
    cost_usd: float = 0.0
    idle_timeout_s: float
    previous_runs: list[str] = Field(default_factory=list)
