"""Pattern sections of a team YAML: who does what in each orchestration pattern.

Members are referenced by name: an agent of the team or a sub-team under ``teams:`` (so a
pipeline stage, a fan-out branch, a supervisor's worker or a debater may itself be a team,
docs/architecture.md#composable-patterns). Each section validates its own references; ``TeamSpec``
calls
``check(members)`` for the section that matches its ``pattern``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton.messages import CompactModel

__all__ = [
    "COORDINATOR_FIELDS",
    "SEES_DEFAULT",
    "BlackboardKey",
    "BlackboardRule",
    "BlackboardSpec",
    "DebateSpec",
    "FanoutSpec",
    "HandoffSpec",
    "HierarchicalSpec",
    "OnNeedsHelp",
    "PatternSpec",
    "PipelineSpec",
    "Sees",
    "SupervisorSpec",
    "coordinator_names",
    "with_coordinator_model",
]

# The section fields that name an agent coordinating the others rather than doing the work: a
# supervisor's (or hierarchical team's) router, a fan-out's merger or judge, a debate's judge,
# a blackboard's scheduler. They read every member's output, so they are what routing costs.
COORDINATOR_FIELDS = ("router", "merger", "judge", "scheduler_agent")

# What a member is given of the work done before it (an agent's ``sees``): only its task,
# a digest of earlier work, earlier work in full, or nothing but its instruction. Which work
# counts as earlier depends on the pattern (docs/architecture.md#what-members-see).
Sees = Literal["task", "summary", "full", "none"]
SEES_DEFAULT: Sees = "summary"  # pipeline stages and supervisors' workers

# What a team does when a member agent runs out of steps or budget and reports it needs help.
OnNeedsHelp = Literal["reroute", "retry_larger", "ask_person", "fail"]



def coordinator_names(section: Any) -> list[str]:
    """The coordinating agents a pattern section (a model or its YAML mapping) names."""
    if section is None:
        return []
    values = [section.get(f) if isinstance(section, Mapping) else getattr(section, f, None)
              for f in COORDINATOR_FIELDS]
    return [name for name in values if isinstance(name, str)]


def with_coordinator_model(team: Any) -> Any:
    """A team document (mapping) whose coordinating agents without a ``model`` of their own use
    the team's ``coordinator_model``: routing is where a cheaper model usually does as well."""
    if not isinstance(team, dict) or not team.get("coordinator_model"):
        return team
    names = set(coordinator_names(team.get(str(team.get("pattern", "single")))))
    agents = team.get("agents")
    if not names or not isinstance(agents, list | tuple):
        return team
    model = team["coordinator_model"]

    def chosen(agent: Any) -> Any:
        if isinstance(agent, dict) and agent.get("name") in names and "model" not in agent:
            return {**agent, "model": model}
        if isinstance(agent, BaseModel) and getattr(agent, "name", None) in names and (
                "model" not in agent.model_fields_set):
            return agent.model_copy(update={"model": model})
        return agent

    return {**team, "agents": [chosen(agent) for agent in agents]}


class _Section(CompactModel):
    # Wire-tolerant like every spec; the loader refuses unknown keys in a team file.
    model_config = ConfigDict(extra="ignore", frozen=True)

    def members(self) -> list[str]:
        """Every member name this section references."""
        raise NotImplementedError

    def check(self, members: set[str], agents: set[str]) -> None:
        """Raise ValueError naming the first reference that does not resolve."""
        for name in self.members():
            if name not in members:
                raise ValueError(
                    f"{type(self).__name__.removesuffix('Spec').lower()} refers to {name!r}, "
                    f"which is neither an agent nor a sub-team (have: {sorted(members)})")


class _HelpPolicy(_Section):
    """What the team does with a member's needs-help report (an agent that reached its
    ``max_steps`` or budget): ``reroute`` gives it to the router as the delegation's result;
    ``retry_larger`` runs the member once more with ``retry_budget_factor`` times its steps and
    budget share; ``ask_person`` asks one of ``help_approvers`` through the approval gate
    (approve or edit: retry larger, with the person's hint; reject: no retry); ``fail`` ends the
    run with the member's status."""

    on_needs_help: OnNeedsHelp = "reroute"
    retry_budget_factor: float = Field(default=2.0, gt=1, le=10)
    help_approvers: tuple[str, ...] = ()  # people or groups (empty: anyone)
    help_expires_in_s: float | None = Field(default=86_400, gt=0)  # then: no retry


class SupervisorSpec(_HelpPolicy):
    """A router agent delegates sub-tasks to workers until it composes the answer."""

    router: str
    workers: tuple[str, ...] = Field(min_length=1)
    max_rounds: int = Field(default=6, ge=1, le=1000)  # delegations before the run stops
    max_repeats: int = Field(default=1, ge=0, le=10)  # same worker + same sub-task again

    def members(self) -> list[str]:
        return [self.router, *self.workers]

    def check(self, members: set[str], agents: set[str]) -> None:
        super().check(members, agents)
        if self.router not in agents:
            raise ValueError(f"router {self.router!r} must be an agent, not a sub-team")
        if self.router in self.workers:
            raise ValueError(f"router {self.router!r} cannot also be one of its workers")


class HierarchicalSpec(SupervisorSpec):
    """A top router over teams that have their own supervisors; depth and budgets bounded."""

    max_depth: int = Field(default=2, ge=1, le=4)
    budget_share: float = Field(default=0.5, gt=0, le=1)  # of the remaining budget per delegation

    def check(self, members: set[str], agents: set[str]) -> None:
        super().check(members, agents)
        for worker in self.workers:
            if worker in agents:
                raise ValueError(
                    f"hierarchical worker {worker!r} must be a sub-team with its own supervisor, "
                    "not an agent (use pattern 'supervisor' for agent workers)")


class PipelineSpec(_HelpPolicy):
    """Fixed stages; each stage's output is the next stage's input."""

    stages: tuple[str, ...] = Field(min_length=1)
    stage_retries: int = Field(default=1, ge=0, le=5)  # a failed stage is re-run this many times
    on_needs_help: OnNeedsHelp = "fail"  # no router to re-route to: plain stage retries

    def members(self) -> list[str]:
        return list(self.stages)

    @model_validator(mode="after")
    def _no_router(self) -> PipelineSpec:
        if self.on_needs_help == "reroute":
            raise ValueError("a pipeline has no router to re-route to: on_needs_help is "
                             "retry_larger, ask_person or fail")
        return self


class FanoutSpec(_Section):
    """The input (or a split of it) to N branches in parallel, then a merge."""

    branches: tuple[str, ...] = Field(min_length=1)
    split: Literal["none", "lines", "paragraphs"] = "none"  # none: every branch gets all
    max_concurrency: int = Field(default=8, ge=1, le=200)
    # Jobs (one per part of a split task) one run may start: each is a child workflow.
    max_branches: int = Field(default=100, ge=1, le=1000)
    merge: Literal["agent", "concat", "vote", "best_of"] = "agent"
    merger: str | None = None  # the merge agent (merge: agent) or the judge (best_of)

    def members(self) -> list[str]:
        return [*self.branches, *([self.merger] if self.merger else [])]

    @model_validator(mode="after")
    def _merger_when_needed(self) -> FanoutSpec:
        if self.merge in ("agent", "best_of") and not self.merger:
            raise ValueError(f"merge {self.merge!r} needs a merger (the agent that merges/judges)")
        if len(self.branches) > self.max_branches:
            raise ValueError(f"{len(self.branches)} branches; max_branches is "
                             f"{self.max_branches}")
        return self


class DebateSpec(_Section):
    """Peers argue over rounds seeing each other's latest positions; a judge decides."""

    debaters: tuple[str, ...] = Field(min_length=2)
    judge: str
    max_rounds: int = Field(default=3, ge=1, le=100)
    consensus: Literal["unanimous", "majority", "none"] = "unanimous"

    def members(self) -> list[str]:
        return [*self.debaters, self.judge]


class HandoffSpec(_Section):
    """One conversation; the active agent transfers control with ``transfer_to_<agent>``."""

    agents: tuple[str, ...] = Field(min_length=2)
    entry: str | None = None  # default: the first
    history: Literal["full", "last_message", "summary", "none"] = "full"
    max_handoffs: int = Field(default=4, ge=1, le=500)
    routes: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # agent → may transfer to

    def members(self) -> list[str]:
        return [*self.agents, *([self.entry] if self.entry else [])]

    def check(self, members: set[str], agents: set[str]) -> None:
        super().check(members, agents)
        for name in self.agents:
            if name not in agents:
                raise ValueError(f"handoff agent {name!r} must be an agent (one conversation)")
        for source, targets in self.routes.items():
            for name in (source, *targets):
                if name not in self.agents:
                    raise ValueError(f"handoff route {source!r} -> {name!r}: not a handoff agent")

    def targets(self, agent: str) -> tuple[str, ...]:
        return self.routes.get(agent, tuple(a for a in self.agents if a != agent))


class BlackboardKey(_Section):
    type: Literal["string", "number", "boolean", "object", "array"] = "string"
    description: str = ""

    def members(self) -> list[str]:
        return []


class BlackboardRule(_Section):
    """Rule-based scheduling: ``agent`` acts when every ``needs`` key is filled and none of
    ``fills`` is filled yet."""

    agent: str
    needs: tuple[str, ...] = ()
    fills: tuple[str, ...] = Field(min_length=1)

    def members(self) -> list[str]:
        return [self.agent]


class BlackboardSpec(_Section):
    keys: dict[str, BlackboardKey] = Field(min_length=1)
    goal: str
    scheduler: Literal["rules", "model"] = "rules"
    rules: tuple[BlackboardRule, ...] = ()
    scheduler_agent: str | None = None  # scheduler: model
    max_turns: int = Field(default=10, ge=1, le=2000)

    def members(self) -> list[str]:
        names = [rule.agent for rule in self.rules]
        return names + ([self.scheduler_agent] if self.scheduler_agent else [])

    @model_validator(mode="after")
    def _consistent(self) -> BlackboardSpec:
        if self.goal not in self.keys:
            raise ValueError(f"goal {self.goal!r} is not a declared key ({sorted(self.keys)})")
        if self.scheduler == "rules" and not self.rules:
            raise ValueError("scheduler 'rules' needs rules")
        if self.scheduler == "model" and not self.scheduler_agent:
            raise ValueError("scheduler 'model' needs scheduler_agent")
        for rule in self.rules:
            for key in (*rule.needs, *rule.fills):
                if key not in self.keys:
                    raise ValueError(f"rule for {rule.agent!r} uses undeclared key {key!r}")
        return self


PatternSpec = (SupervisorSpec | HierarchicalSpec | PipelineSpec | FanoutSpec | DebateSpec
               | HandoffSpec | BlackboardSpec)
