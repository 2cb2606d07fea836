"""What the debugging commands return: stable pydantic models (``--json`` dumps exactly these).

``RunView`` is one workflow of a run and, recursively, its member runs (child workflows): the
tree ``team → members → agents → steps → model/tool calls``. Inside one ``RunView`` the events
of every continuation (continue-as-new) come in order, each carrying its ``agent`` and
``step``, so grouping by agent and step needs no extra structure; ``totals`` adds up the whole
subtree per agent and per model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.messages import Message, Usage
from baton.runs import AgentStatus, RunEvent, RunResult, RunStatus, SummarizedEvent

__all__ = [
    "AgentTotals",
    "ModelTotals",
    "ReplayReport",
    "RunRow",
    "RunView",
    "StepDiff",
    "ToolTotals",
    "Totals",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class AgentTotals(_View):
    workflow_id: str
    agent: str
    steps: int
    model_calls: int
    tool_calls: int
    usage: Usage
    cost_usd: float


class ModelTotals(_View):
    model: str
    calls: int
    usage: Usage
    cost_usd: float
    latency_ms: float


class ToolTotals(_View):
    """One tool's calls in a run: how often the read cache answered, and what its hits saved
    (estimated from the call that filled the cache: its time and what it reported spending)."""

    tool: str
    calls: int
    cache_hits: int = 0
    ledger_hits: int = 0
    errors: int = 0
    duration_ms: float = 0.0
    tool_tokens: int = 0  # spent by the tool itself on the calls that ran (ToolContext)
    tool_cost_usd: float = 0.0
    saved_ms: float = 0.0
    saved_tokens: int = 0
    saved_usd: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.calls if self.calls else 0.0


class Totals(_View):
    """Sums over a workflow and all its member runs, from the model and tool call events. A
    member known only from its parent's history (``source="parent"``) counts with the usage
    and cost its result reports (its calls are not known, so it adds no model calls)."""

    usage: Usage = Usage()
    cost_usd: float = 0.0
    model_calls: int = 0
    tool_calls: int = 0
    cache_hits: int = 0
    ledger_hits: int = 0
    failed_attempts: int = 0  # model-call attempts that failed (retried, failed over or final)
    per_agent: list[AgentTotals] = Field(default_factory=list)
    per_model: list[ModelTotals] = Field(default_factory=list)
    per_tool: list[ToolTotals] = Field(default_factory=list)  # activity tools, by name


class RunView(_View):
    """One workflow of a run (the top-level one, or a member run) with everything it logged."""

    run_id: str  # the workflow id
    member: str | None = None  # the name the parent knows this member by (None: top level)
    member_kind: Literal["agent", "team"] | None = None
    sees: str | None = None  # what the member was given of earlier work (its parent says)
    workflow_type: str | None = None
    team: str | None
    agent: str | None
    tenant: str | None
    version: str | None = None  # BatonTeamVersion: the team version's digest
    version_label: str | None = None  # its label and track ("v2, canary"), when deployed
    execution_status: str  # Temporal's own view: RUNNING, COMPLETED, FAILED, TERMINATED, ...
    started_at: datetime | None
    closed_at: datetime | None
    status: AgentStatus | None  # None when the workflow cannot answer queries (no worker)
    result: RunResult | None  # None while running
    previous_runs: list[str] = Field(default_factory=list)  # continuations, oldest first
    events: list[RunEvent]  # the whole run log, across continuations
    children: list[RunView] = Field(default_factory=list)  # member runs, in start order
    totals: Totals = Totals()
    query_error: str | None = None  # why the run log could not be read (no worker, ...)
    ui_url: str
    # Where ``events`` come from: the workflow's ``run_log`` query; its event history (a closed
    # run, or a running one no worker answered for: no replay, so any release's run reads);
    # or only what its parent's history says of it (a member whose own history is not at hand).
    source: Literal["queries", "history", "parent"] = "queries"
    notes: list[str] = Field(default_factory=list)  # what could not be read, and why

    @property
    def run_status(self) -> RunStatus | None:
        return self.result.status if self.result else self.status.status if self.status else None

    @property
    def usage(self) -> Usage:
        source = self.result or self.status
        return source.usage if source else self.totals.usage

    @property
    def cost_usd(self) -> float:
        source = self.result or self.status
        return source.cost_usd if source else self.totals.cost_usd

    def walk(self) -> list[RunView]:
        """This workflow and every member run below it, depth first."""
        out = [self]
        for child in self.children:
            out += child.walk()
        return out


class StepDiff(_View):
    """Memory before and after one step of one agent (``baton show RUN --step N --diff``)."""

    run_id: str
    workflow_id: str
    agent: str
    step: int
    messages_before: int | None  # conversation length before the step (None: not known)
    added: list[Message]  # what the step added to the agent's conversation
    from_run_log: bool = False  # rebuilt from the run log (the conversation was compacted)
    structured: dict[str, Any] | None = None
    board_before: dict[str, Any] = Field(default_factory=dict)  # blackboard runs only
    board_after: dict[str, Any] = Field(default_factory=dict)
    # Working memory: older messages folded into a summary before this step's model call.
    summarized: SummarizedEvent | None = None


class ReplayReport(_View):
    """A recorded tool call and its re-execution outside the run (``baton replay-tool``)."""

    run_id: str
    workflow_id: str
    call_id: str
    tool: str
    effect: str
    agent: str
    step: int
    recorded_arguments: dict[str, Any]
    arguments: dict[str, Any]
    recorded_status: str
    recorded_content: str
    recorded_key: str
    idempotency_key: str  # the key of the replay (fresh for a write tool)
    dry_run: bool
    status: str | None = None  # None on a dry run
    content: str | None = None
    error_type: str | None = None
    duration_ms: float = 0.0


class RunRow(_View):
    """One hit of ``baton runs``."""

    run_id: str
    temporal_run_id: str
    workflow_type: str
    team: str | None
    tenant: str | None
    agent: str | None
    status: str | None  # BatonStatus
    execution_status: str
    cost_usd: float | None
    version: str | None = None  # BatonTeamVersion
    started_at: datetime | None
    closed_at: datetime | None
    parent_id: str | None
