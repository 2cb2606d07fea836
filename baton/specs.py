"""Specs are data: what a team, an agent, a tool and a model profile *are*.

A run carries its ``TeamSpec`` (with resolved ``ToolSpec``s) in its workflow input, so editing
a YAML never changes a run in flight. Callables, HTTP clients and secrets live only in the
worker, which resolves tools and model profiles by name.

Model profiles (``ModelProfile``, ``ServedProfile``) are defined in ``baton.profiles`` and
re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from baton.approvals import ApprovalPolicy  # re-exported: a ToolSpec carries one
from baton.canary import RolloutRule
from baton.memory import MemorySpec
from baton.messages import CompactModel
from baton.patterns import (
    BlackboardSpec,
    DebateSpec,
    FanoutSpec,
    HandoffSpec,
    HierarchicalSpec,
    PatternSpec,
    PipelineSpec,
    Sees,
    SupervisorSpec,
    with_coordinator_model,
)
from baton.profiles import ModelProfile, ServedProfile  # re-exported: profiles are specs
from baton.schemas import schema_problem

__all__ = [
    "MAX_TOOLS_PER_AGENT",
    "PATTERN_SECTIONS",
    "WORKER_OWNED_KEYS",
    "AgentSpec",
    "ApprovalPolicy",
    "Budget",
    "HistorySpec",
    "ModelProfile",
    "Pattern",
    "Reference",
    "RetrySpec",
    "ServedProfile",
    "TeamSpec",
    "ToolSpec",
]

MAX_TOOLS_PER_AGENT = 10
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")

PATTERN_SECTIONS = (
    "supervisor", "hierarchical", "pipeline", "fanout", "debate", "handoff", "blackboard")

Pattern = Literal[
    "single", "supervisor", "hierarchical", "pipeline", "fanout", "debate", "handoff", "blackboard"
]


# Keys that used to be team settings and belong to the worker's configuration now.
WORKER_OWNED_KEYS = frozenset({"models", "tool_modules", "tools", "approver_groups"})


class _Spec(CompactModel):
    # A team spec travels in every run's input, so unknown keys are ignored when it is decoded
    # (a newer client's field must not stop an older worker). What a person writes is checked
    # strictly before it gets here: the loader refuses unknown keys, with a suggestion.
    model_config = ConfigDict(extra="ignore", frozen=True)


class LocatedError(ValueError):
    """A cross-reference error found by a model validator, with its place in the document
    (pydantic gives a model validator's errors no location; the loader reads this one)."""

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '_' or '-', "
            "starting with a letter"
        )
    return value


class RetrySpec(_Spec):
    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_interval_s: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_s: float = Field(default=30.0, gt=0)


class ToolSpec(_Spec):
    """A tool as the workflow and the model see it: no callable, only data. The worker's registry
    produces it (``@tool``); a run receives it through the catalog resolved at its start."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # wire payload, see ServedProfile

    name: str
    # Empty only in a ToolInvocation (``for_execution``): the worker resolves the tool by name.
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)  # JSON schema of the arguments
    effect: Literal["read", "write"] = "read"
    cacheable: bool = False
    cache_ttl_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float | None = Field(default=None, gt=0)
    retry: RetrySpec = RetrySpec()
    approval: ApprovalPolicy = ApprovalPolicy()
    # A write tool whose approval expires may run unapproved only when its code says so.
    expiry_may_approve: bool = False
    stop: bool = False  # calling it ends the agent's loop with its result as the answer

    @model_validator(mode="after")
    def _expiry_approval_opted_in(self) -> ToolSpec:
        if self.effect == "write" and self.approval.on_expiry == "approve" and (
                not self.expiry_may_approve):
            raise ValueError(f"write tool {self.name!r} approves itself on expiry: set "
                             "expiry_may_approve=True to allow a side effect nobody approved")
        return self

    _v_name = field_validator("name")(_check_name)

    def for_execution(self) -> ToolSpec:
        """What an ``execute_tool`` call needs to know about its tool: the worker finds the
        function (and its description and schema) in its own registry, and the run decided the
        approval already, so neither travels with every call."""
        return self.model_copy(update={"description": "", "parameters": {},
                                       "approval": ApprovalPolicy()})


class AgentSpec(_Spec):
    name: str
    description: str
    instructions: str
    model: str = "default"  # a model profile the worker serves
    tools: tuple[str, ...] = ()
    output_schema: dict[str, Any] | None = None
    max_steps: int = Field(default=8, ge=1, le=10_000)
    max_output_fix_attempts: int = Field(default=2, ge=0, le=10)
    approvals: dict[str, ApprovalPolicy] = Field(default_factory=dict)  # per-tool overrides
    # As a pattern member: the JSON its input must match (a delegation's task, a transfer's
    # input, the previous stage's output); a mismatch goes back to whoever produced it.
    input_schema: dict[str, Any] | None = None
    max_input_fix_attempts: int = Field(default=2, ge=0, le=10)
    sees: Sees | None = None  # what it is given of earlier work; None: the pattern's default
    memory: MemorySpec | None = None  # replaces the team's default memory policy (docs/memory.md)

    _v_name = field_validator("name")(_check_name)

    @field_validator("input_schema")
    @classmethod
    def _a_json_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = schema_problem(schema) if schema is not None else None
        if problem is not None:
            raise ValueError(f"input_schema is not a valid JSON schema: {problem}")
        return schema

    @field_validator("tools")
    @classmethod
    def _few_tools(cls, tools: tuple[str, ...]) -> tuple[str, ...]:
        if len(tools) > MAX_TOOLS_PER_AGENT:
            raise ValueError(
                f"{len(tools)} tools; an agent may have at most {MAX_TOOLS_PER_AGENT} "
                "(split the work across agents)"
            )
        if len(set(tools)) != len(tools):
            raise ValueError("a tool is listed twice")
        return tools


class HistorySpec(_Spec):
    """Keeps a run inside Temporal's limits however long it goes
    (docs/architecture.md#linear-history).

    A run continues as new when Temporal suggests it or when this run's history passes
    ``continue_as_new_events`` events or ``continue_as_new_bytes`` bytes, carrying a compacted
    conversation: the system prompt, the task, a summary of older work and the most recent
    ``keep_recent_messages`` messages. One message is at most ``max_message_chars`` characters.
    """

    continue_as_new_events: int = Field(default=8_000, ge=100)
    continue_as_new_bytes: int = Field(default=8_000_000, ge=100_000)
    keep_recent_messages: int = Field(default=40, ge=4)
    max_message_chars: int = Field(default=100_000, ge=1_000)


class Budget(_Spec):
    """Per-run limits. Low defaults: a runaway agent should cost cents, not dollars.

    Time spent waiting for a person does not count against ``max_wall_clock_s`` unless
    ``count_human_wait``: an approval's own expiry and escalation govern that wait."""

    max_tokens: int | None = Field(default=200_000, gt=0)
    max_cost_usd: float | None = Field(default=1.0, gt=0)
    max_wall_clock_s: float | None = Field(default=3600.0, gt=0)
    count_human_wait: bool = False


@dataclass(frozen=True)
class Reference:
    """A name a team uses that the worker must serve: a model profile or a tool."""

    kind: Literal["profile", "tool"]
    name: str
    location: str  # where in the team document, e.g. ``agents[0].tools[2]``


class TeamSpec(_Spec):
    """A team as the user wrote it. It names model profiles and tools; what they are (URLs,
    prices, schemas, code) is the worker's configuration, resolved when a run starts."""

    name: str
    description: str = ""
    pattern: Pattern = "single"
    agents: tuple[AgentSpec, ...]
    entry: str | None = None  # the agent that receives the input; default: the first
    # The model profile of routers, mergers, judges and schedulers that name none themselves.
    coordinator_model: str | None = None
    budget: Budget = Budget()
    history: HistorySpec = HistorySpec()
    memory: MemorySpec | None = None  # the default of agents without their own `memory:`
    teams: dict[str, TeamSpec] = Field(default_factory=dict)  # sub-teams usable as members
    supervisor: SupervisorSpec | None = None
    hierarchical: HierarchicalSpec | None = None
    pipeline: PipelineSpec | None = None
    fanout: FanoutSpec | None = None
    debate: DebateSpec | None = None
    handoff: HandoffSpec | None = None
    blackboard: BlackboardSpec | None = None
    rollout: RolloutRule | None = None  # when a canary of this version is rolled back/promoted

    _v_name = field_validator("name")(_check_name)

    @model_validator(mode="before")
    @classmethod
    def _no_worker_settings(cls, data: Any) -> Any:
        # Unknown keys are ignored on the wire, but these once configured the worker from the
        # run's input (model URLs, API-key variables, modules to import): a run that still
        # names them comes from an old client or an attacker, and is refused, not half-obeyed.
        if isinstance(data, dict):
            named = sorted(key for key in WORKER_OWNED_KEYS if key in data)
            if named:
                raise ValueError(f"{', '.join(named)}: worker configuration, never part of a "
                                 "team or a run's input (see docs/configuration.md)")
        return data

    @model_validator(mode="before")
    @classmethod
    def _coordinators_default(cls, data: Any) -> Any:
        return with_coordinator_model(data)

    @model_validator(mode="after")
    def _references_resolve(self) -> TeamSpec:
        names = [a.name for a in self.agents]
        if not names:
            raise ValueError("a team needs at least one agent")
        if len(set(names)) != len(names):
            raise ValueError("two agents share a name")
        if self.entry is not None and self.entry not in names:
            raise LocatedError(f"entry {self.entry!r} is not one of the agents {names}", "entry")
        if self.pattern == "single" and len(self.agents) != 1:
            raise ValueError("pattern 'single' takes exactly one agent")
        self._pattern_section_matches(set(names))
        return self

    def _pattern_section_matches(self, agents: set[str]) -> None:
        clashes = agents & set(self.teams)
        if clashes:
            raise ValueError(f"{sorted(clashes)} name both an agent and a sub-team")
        sections = [p for p in PATTERN_SECTIONS if getattr(self, p) is not None]
        for other in sections:
            if other != self.pattern:
                raise ValueError(f"section {other!r} given, but the pattern is {self.pattern!r}")
        section = self.section
        if self.pattern != "single" and section is None:
            raise ValueError(f"pattern {self.pattern!r} needs a {self.pattern!r} section")
        if section is not None:
            try:
                section.check(agents | set(self.teams), agents)
            except ValueError as exc:
                raise LocatedError(str(exc), self.pattern) from exc
        if self.hierarchical is not None:  # each level routes between teams that route again
            for worker in self.hierarchical.workers:
                if self.teams[worker].pattern not in ("supervisor", "hierarchical"):
                    raise ValueError(
                        f"hierarchical worker {worker!r} is a {self.teams[worker].pattern!r} "
                        "team; it must have its own supervisor (pattern supervisor or "
                        "hierarchical)")

    @property
    def section(self) -> PatternSpec | None:
        """The configuration of this team's pattern (None for ``single``)."""
        return None if self.pattern == "single" else getattr(self, self.pattern)

    def member_kind(self, name: str) -> Literal["agent", "team"]:
        if name in self.teams:
            return "team"
        self.agent(name)  # KeyError for neither
        return "agent"

    def for_agent(self, name: str, budget: Budget) -> TeamSpec:
        """A ``single`` team holding only one member agent (with its budget slice): the input of
        that agent's child workflow stays small however large the team is."""
        return TeamSpec(
            name=self.name, description=self.description, pattern="single",
            agents=(self.agent(name),), budget=budget, history=self.history,
            memory=self.memory)

    def memory_of(self, agent: str | None = None) -> MemorySpec:
        """The memory policy an agent works with: its own, else the team's, else none."""
        return self.agent(agent).memory or self.memory or MemorySpec()

    def depth(self) -> int:
        """1 for a team without sub-teams; nesting adds one per level."""
        return 1 + max((team.depth() for team in self.teams.values()), default=0)

    def references(self, prefix: str = "") -> list[Reference]:
        """Every model profile and tool this team and its sub-teams name, with where (in YAML
        terms): what the worker must serve for a run of this team to start."""
        refs: list[Reference] = []
        for index, agent in enumerate(self.agents):
            refs.append(Reference("profile", agent.model, f"{prefix}agents[{index}].model"))
            refs += [Reference("tool", tool, f"{prefix}agents[{index}].tools[{position}]")
                     for position, tool in enumerate(agent.tools)]
            working = (agent.memory or self.memory or MemorySpec()).working
            if working is not None and working.summarizer is not None:
                owner = f"{prefix}agents[{index}]." if agent.memory else prefix
                refs.append(Reference("profile", working.summarizer,
                                      f"{owner}memory.working.summarizer"))
        for name, team in self.teams.items():
            refs += team.references(f"{prefix}teams.{name}.")
        return refs

    def approval_overrides(self, prefix: str = "") -> list[tuple[str, str, ApprovalPolicy]]:
        """(location, tool, policy) of every per-agent approval override, sub-teams included:
        a run may make a tool's approval stricter than the worker's policy, never looser."""
        found = [(f"{prefix}agents[{index}].approvals.{tool}", tool, policy)
                 for index, agent in enumerate(self.agents)
                 for tool, policy in agent.approvals.items()]
        for name, team in self.teams.items():
            found += team.approval_overrides(f"{prefix}teams.{name}.")
        return found

    def agent(self, name: str | None = None) -> AgentSpec:
        wanted = name or self.entry or self.agents[0].name
        for agent in self.agents:
            if agent.name == wanted:
                return agent
        raise KeyError(wanted)
