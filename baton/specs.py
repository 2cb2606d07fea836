"""Specs are data: what a team, an agent, a tool and a model profile *are*.

A run carries its ``TeamSpec`` (with resolved ``ToolSpec``s) in its workflow input, so editing
a YAML never changes a run in flight. Callables, HTTP clients and secrets live only in the
worker, which resolves tools and model profiles by name.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from baton.approvals import ApprovalPolicy  # re-exported: a ToolSpec carries one
from baton.patterns import (
    BlackboardSpec,
    DebateSpec,
    FanoutSpec,
    HandoffSpec,
    HierarchicalSpec,
    PatternSpec,
    PipelineSpec,
    SupervisorSpec,
)

__all__ = [
    "MAX_TOOLS_PER_AGENT",
    "PATTERN_SECTIONS",
    "AgentSpec",
    "ApprovalPolicy",
    "Budget",
    "HistorySpec",
    "ModelProfile",
    "Pattern",
    "RetrySpec",
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


class _Spec(BaseModel):
    # Unknown keys are errors: a typo in a YAML must not silently become a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ModelProfile(_Spec):
    """How to reach one model. ``base_url`` None means the embedded scripted model server that the
    worker was configured with; ``api_key_env`` names an environment variable read by the worker."""

    provider: Literal["openai", "anthropic"] = "openai"
    model: str = "baton-scripted"
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_output_tokens: int = Field(default=1024, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    price_input_per_mtok: float = Field(default=0.0, ge=0)
    price_output_per_mtok: float = Field(default=0.0, ge=0)
    max_attempts: int = Field(default=6, ge=1, le=100)  # retries before failing over / failing
    fallback: str | None = None  # profile to fail over to once max_attempts are used up

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.price_input_per_mtok + output_tokens * self.price_output_per_mtok
        ) / 1_000_000


class RetrySpec(_Spec):
    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_interval_s: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_s: float = Field(default=30.0, gt=0)


class ToolSpec(_Spec):
    """A tool as the workflow and the model see it: no callable, only data."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    module: str  # Python module that registers it; the worker imports it by name
    effect: Literal["read", "write"] = "read"
    cacheable: bool = False
    cache_ttl_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float | None = Field(default=None, gt=0)
    retry: RetrySpec = RetrySpec()
    approval: ApprovalPolicy = ApprovalPolicy()
    stop: bool = False  # calling it ends the agent's loop with its result as the answer

    _v_name = field_validator("name")(_check_name)


class AgentSpec(_Spec):
    name: str
    description: str
    instructions: str
    model: str = "default"  # a key of TeamSpec.models
    tools: tuple[str, ...] = ()
    output_schema: dict[str, Any] | None = None
    max_steps: int = Field(default=8, ge=1, le=10_000)
    max_output_fix_attempts: int = Field(default=2, ge=0, le=10)
    approvals: dict[str, ApprovalPolicy] = Field(default_factory=dict)  # per-tool overrides

    _v_name = field_validator("name")(_check_name)

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
    """Keeps a run inside Temporal's limits however long it goes (DESIGN.md decision 4).

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
    """Per-run limits. Low defaults: a runaway agent should cost cents, not dollars."""

    max_tokens: int | None = Field(default=200_000, gt=0)
    max_cost_usd: float | None = Field(default=1.0, gt=0)
    max_wall_clock_s: float | None = Field(default=3600.0, gt=0)


class TeamSpec(_Spec):
    name: str
    description: str = ""
    pattern: Pattern = "single"
    agents: tuple[AgentSpec, ...]
    entry: str | None = None  # the agent that receives the input; default: the first
    models: dict[str, ModelProfile] = Field(default_factory=lambda: {"default": ModelProfile()})
    tool_modules: tuple[str, ...] = ()
    tools: dict[str, ToolSpec] = Field(default_factory=dict)  # resolved by the loader
    budget: Budget = Budget()
    history: HistorySpec = HistorySpec()
    approver_groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="group name → people, for approval policies")
    teams: dict[str, TeamSpec] = Field(default_factory=dict)  # sub-teams usable as members
    supervisor: SupervisorSpec | None = None
    hierarchical: HierarchicalSpec | None = None
    pipeline: PipelineSpec | None = None
    fanout: FanoutSpec | None = None
    debate: DebateSpec | None = None
    handoff: HandoffSpec | None = None
    blackboard: BlackboardSpec | None = None

    _v_name = field_validator("name")(_check_name)

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
        for index, agent in enumerate(self.agents):
            if agent.model not in self.models:
                raise LocatedError(
                    f"agent {agent.name!r} uses model profile {agent.model!r}, "
                    f"which is not defined under models (have: {sorted(self.models)})",
                    f"agents[{index}].model")
        for profile_name, profile in self.models.items():
            if profile.fallback is not None and profile.fallback not in self.models:
                raise LocatedError(
                    f"model profile {profile_name!r} falls back to unknown {profile.fallback!r}",
                    f"models.{profile_name}.fallback")
        self._no_fallback_cycle()
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
        """A ``single`` team holding only what one member agent needs (its profile chain,
        tools, approver groups): the input of that agent's child workflow stays small however
        large the team is."""
        agent = self.agent(name)
        profiles: dict[str, ModelProfile] = {}
        profile: str | None = agent.model
        while profile is not None and profile not in profiles:
            profiles[profile] = self.models[profile]
            profile = self.models[profile].fallback
        return TeamSpec(
            name=self.name, description=self.description, pattern="single", agents=(agent,),
            models=profiles, tool_modules=self.tool_modules,
            tools={t: self.tools[t] for t in agent.tools if t in self.tools},
            budget=budget, history=self.history, approver_groups=self.approver_groups)

    def depth(self) -> int:
        """1 for a team without sub-teams; nesting adds one per level."""
        return 1 + max((team.depth() for team in self.teams.values()), default=0)

    def _no_fallback_cycle(self) -> None:
        for start in self.models:
            seen, name = [start], self.models[start].fallback
            while name is not None:
                if name in seen:
                    chain = " -> ".join([*seen, name])
                    raise LocatedError(f"model profiles fall back in a cycle: {chain}",
                                       f"models.{start}.fallback")
                seen.append(name)
                name = self.models[name].fallback

    def agent(self, name: str | None = None) -> AgentSpec:
        wanted = name or self.entry or self.agents[0].name
        for agent in self.agents:
            if agent.name == wanted:
                return agent
        raise KeyError(wanted)
