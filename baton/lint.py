"""The team one-pager rules: what makes a team easy to read, bounded and likely to work.

API (used by ``baton lint TEAM.yaml`` and by ``baton run``, which refuses teams with errors)::

    from baton.lint import Finding, lint_team, has_errors
    findings = lint_team(load_team("baton/examples/support_desk.yaml"))
    for f in findings:
        print(f"{f.level} {f.code} at {f.location}: {f.message} Fix: {f.fix}")
    if has_errors(findings): ...

``lint_team`` is pure (no I/O), deterministic (findings sorted by location, then code) and
recurses into sub-teams (their locations start with ``teams.<name>.``). Each ``Finding`` has a
``level`` (``error`` blocks a run, ``warning`` does not), a stable ``code``, a ``location`` in
YAML terms, a ``message`` and a concrete ``fix``.

Rules (code: level):

* ``missing-role`` / ``missing-instructions``: error. Every agent says who it is (description)
  and how to work (instructions).
* ``no-termination``: warning. An agent ends by an explicit ``max_steps``, a stop tool or an
  ``output_schema``; otherwise only the default step bound stops it.
* ``io-undescribed``: warning. A pattern member's description says what it receives and what
  it returns (or it has an ``output_schema``), so the next member knows what to expect.
* ``tool-not-served``: warning (only when linted against a worker configuration). An agent
  names a tool the configuration's ``tool_modules`` do not serve: a run would be refused.
* ``too-many-tools``: error. More than 10 tools per agent (split the work).
* ``overlapping-agents``: warning. Two agents of one team whose tool sets and description
  words overlap heavily: mean Jaccard of tools and description stems >= 0.6 with description
  Jaccard >= 0.4 (when neither has tools: description Jaccard >= 0.6). Debaters are exempt
  (they share a role by design).
* ``too-many-workers``: warning. More than 8 workers under one supervisor.
* ``handoff-no-exit``: error. In a handoff, no agent reachable from the entry can finish the
  conversation. An agent can finish when it has a tool, an ``output_schema``, or its
  description/instructions do not declare it transfer-only ("only transfers", "never
  answers", "must hand off" ...).
* ``handoff-unreachable``: warning. A handoff agent the entry can never reach.
* ``deep-nesting``: warning. Sub-teams nested more than 2 levels (``team.depth() > 2``).
* ``unused-member``: warning. An agent or sub-team the pattern section never references.
* ``router-duplicates-worker``: warning. A supervisor's router holds a tool one of its workers
  has: it will do the work itself instead of delegating.
* ``coordinator-priced-above-workers``: warning (only when linted against a worker
  configuration). A router, merger, judge or scheduler uses a model profile priced above every
  profile of the members it coordinates (input plus output price per million tokens): routing
  usually does as well on a cheaper model (``coordinator_model``).
* ``stage-schema-mismatch``: warning. A pipeline stage has an ``input_schema`` the previous
  stage's output cannot be shown to satisfy: the previous agent has no ``output_schema`` (free
  text), or its ``output_schema`` differs structurally (types, required keys, refused keys,
  enums, nested objects and items; see ``baton.lint_schemas``). A run would spend fix attempts
  on it, or end ``input_invalid``.
* ``sees-ignored`` / ``input-schema-ignored``: warning. An agent sets ``sees`` or
  ``input_schema`` where no pattern reads it (only pipeline stages, supervisors' workers and
  handoff agents are given earlier work or held to an input schema).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from baton.lint_schemas import schema_gaps
from baton.patterns import HandoffSpec, PipelineSpec, SupervisorSpec, coordinator_names
from baton.specs import MAX_TOOLS_PER_AGENT, AgentSpec, ServedProfile, TeamSpec, ToolSpec

__all__ = ["Finding", "has_errors", "lint_team"]

MAX_WORKERS = 8
MAX_DEPTH = 2
OVERLAP = 0.6
OVERLAP_WORDS = 0.4  # the same tools in clearly different roles (pipeline stages) are fine
_INPUT = re.compile(r"\b(receiv|get|gets|take|takes|read|reads|given|from|input|sees|see)",
                    re.IGNORECASE)
_OUTPUT = re.compile(r"\b(return|produc|writ|report|answer|output|post|give|list|send|decid)",
                     re.IGNORECASE)
_TRANSFER_ONLY = re.compile(
    r"\b(?:only|always)\s+(?:transfer|route|hand(?:s)?\s*off|forward|pass)|never answer|"
    r"(?:do not|don't|does not|doesn't|must not) answer|must (?:transfer|hand off)",
    re.IGNORECASE)
_WORD = re.compile(r"[a-z]{3,}")
_STOP = frozenset({
    "the", "and", "for", "with", "from", "that", "this", "its", "their", "them", "then", "than",
    "into", "onto", "who", "what", "when", "which", "one", "each", "any", "all", "are", "was",
    "were", "has", "have", "not", "you", "your"})


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    code: str
    location: str
    message: str
    fix: str


def has_errors(findings: list[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _agent_rules(team: TeamSpec, agent: AgentSpec, where: str, members: set[str],
                 out: list[Finding], *, tools: Mapping[str, ToolSpec] | None) -> None:
    def add(level: Literal["error", "warning"], code: str, message: str, fix: str) -> None:
        out.append(Finding(level, code, where, message, fix))

    if not agent.description.strip():
        add("error", "missing-role", f"agent {agent.name!r} has no description (its role)",
            "write one line: who it is, what it receives and what it returns")
    if not agent.instructions.strip():
        add("error", "missing-instructions", f"agent {agent.name!r} has no instructions",
            "say how it should work, when to use each tool and when it is done")
    stop_tool = any(tools[t].stop for t in agent.tools if t in tools) if tools else False
    for position, name in enumerate(agent.tools):
        if tools is not None and name not in tools:
            out.append(Finding(
                "warning", "tool-not-served", f"{where}.tools[{position}]",
                f"tool {name!r} is not served by this worker configuration (its tool_modules "
                f"serve: {', '.join(sorted(tools)) or 'none'})", "add the module that defines "
                "it to tool_modules in baton.toml, or fix the name; a run naming it is refused"))
    if "max_steps" not in agent.model_fields_set and not stop_tool and not agent.output_schema:
        add("warning", "no-termination",
            f"agent {agent.name!r} has no explicit termination (max_steps, a stop tool or an "
            "output_schema); only the default max_steps=8 bounds it",
            "set max_steps to the most model calls the job needs (e.g. 4)")
    if len(agent.tools) > MAX_TOOLS_PER_AGENT:
        add("error", "too-many-tools",
            f"agent {agent.name!r} has {len(agent.tools)} tools (at most {MAX_TOOLS_PER_AGENT})",
            "split the tools across agents with narrower roles")
    if agent.name in members and agent.output_schema is None and not (
            _INPUT.search(agent.description) and _OUTPUT.search(agent.description)):
        add("warning", "io-undescribed",
            f"pattern member {agent.name!r} does not say what it receives and what it returns",
            "extend the description, e.g. '…; receives the draft and returns a list of issues', "
            "or give it an output_schema")


def _overlaps(team: TeamSpec, prefix: str, out: list[Finding]) -> None:
    debaters = set(team.debate.debaters) if team.debate else set()
    index = {a.name: i for i, a in enumerate(team.agents)}
    for a, b in combinations(team.agents, 2):
        if a.name in debaters and b.name in debaters:
            continue
        words = _jaccard(_stems(a.description), _stems(b.description))
        tools_a, tools_b = set(a.tools), set(b.tools)
        score = words if not (tools_a or tools_b) else (_jaccard(tools_a, tools_b) + words) / 2
        if score >= OVERLAP and words >= OVERLAP_WORDS:
            out.append(Finding(
                "warning", "overlapping-agents", f"{prefix}agents[{index[b.name]}]",
                f"agents {a.name!r} and {b.name!r} overlap heavily (tools and role, score "
                f"{score:.2f})", "merge them into one agent, or make their roles distinct"))


def _handoff_rules(team: TeamSpec, spec: HandoffSpec, prefix: str, out: list[Finding]) -> None:
    entry = spec.entry or (team.entry if team.entry in spec.agents else None) or spec.agents[0]
    reachable, queue = {entry}, [entry]
    while queue:
        for target in spec.targets(queue.pop()):
            if target not in reachable:
                reachable.add(target)
                queue.append(target)

    def can_finish(name: str) -> bool:
        agent = team.agent(name)
        return bool(agent.tools) or agent.output_schema is not None or not _TRANSFER_ONLY.search(
            f"{agent.description}\n{agent.instructions}")

    if not any(can_finish(name) for name in reachable):
        out.append(Finding(
            "error", "handoff-no-exit", f"{prefix}handoff",
            f"no agent reachable from {entry!r} can finish: every one only transfers "
            f"({', '.join(sorted(reachable))})",
            "let one agent answer: give it a tool or an output_schema, or drop 'only "
            "transfer' from its instructions"))
    for name in spec.agents:
        if name not in reachable:
            out.append(Finding(
                "warning", "handoff-unreachable", f"{prefix}handoff.agents",
                f"handoff agent {name!r} is never reached from the entry {entry!r}",
                f"add {name!r} to the routes of an agent that is reached, or remove it"))


def _price(profiles: Mapping[str, ServedProfile], name: str) -> float | None:
    profile = profiles.get(name)
    return None if profile is None else (
        profile.price_input_per_mtok + profile.price_output_per_mtok)


def _coordinator_prices(team: TeamSpec, prefix: str, out: list[Finding],
                        profiles: Mapping[str, ServedProfile]) -> None:
    coordinators = set(coordinator_names(team.section))
    section = team.section
    members = [m for m in (section.members() if section else []) if m not in coordinators]
    worker_agents = [a for m in members
                     for a in (team.teams[m].agents if m in team.teams else (team.agent(m),))]
    worker_prices = [p for a in worker_agents if (p := _price(profiles, a.model)) is not None]
    if not worker_prices:
        return
    for index, agent in enumerate(team.agents):
        price = _price(profiles, agent.model)
        if agent.name in coordinators and price is not None and price > max(worker_prices):
            out.append(Finding(
                "warning", "coordinator-priced-above-workers", f"{prefix}agents[{index}].model",
                f"coordinator {agent.name!r} uses profile {agent.model!r} at ${price:g} per "
                f"million tokens (in + out), above every worker it coordinates (at most "
                f"${max(worker_prices):g})", "give it a cheaper profile, or set "
                "coordinator_model on the team: routing rarely needs the strongest model"))


def _team_rules(team: TeamSpec, prefix: str, out: list[Finding],
                tools: Mapping[str, ToolSpec] | None,
                profiles: Mapping[str, ServedProfile] | None = None) -> None:
    section = team.section
    members = set(section.members()) if section is not None else set()
    for index, agent in enumerate(team.agents):
        _agent_rules(team, agent, f"{prefix}agents[{index}]", members, out, tools=tools)
    _overlaps(team, prefix, out)
    if section is not None:
        for index, agent in enumerate(team.agents):
            if agent.name not in members:
                out.append(Finding(
                    "warning", "unused-member", f"{prefix}agents[{index}]",
                    f"agent {agent.name!r} is declared but the {team.pattern} section never "
                    "uses it", f"reference it in the {team.pattern} section, or remove it"))
        for name in team.teams:
            if name not in members:
                out.append(Finding(
                    "warning", "unused-member", f"{prefix}teams.{name}",
                    f"sub-team {name!r} is declared but the {team.pattern} section never uses "
                    "it", f"reference it in the {team.pattern} section, or remove it"))
    if isinstance(section, SupervisorSpec):
        _supervisor_rules(team, section, prefix, out)
    if isinstance(section, HandoffSpec):
        _handoff_rules(team, section, prefix, out)
    if profiles is not None:
        _coordinator_prices(team, prefix, out, profiles)
    if isinstance(section, PipelineSpec):
        _stage_schema_rules(team, section, prefix, out)
    _handed_work_rules(team, prefix, out)
    for name, sub in team.teams.items():
        _team_rules(sub, f"{prefix}teams.{name}.", out, tools, profiles)


def _supervisor_rules(team: TeamSpec, spec: SupervisorSpec, prefix: str,
                      out: list[Finding]) -> None:
    where = f"{prefix}{team.pattern}"
    if len(spec.workers) > MAX_WORKERS:
        out.append(Finding(
            "warning", "too-many-workers", f"{where}.workers",
            f"{len(spec.workers)} workers under one router (more than about {MAX_WORKERS}); "
            "routing gets unreliable", "group related workers into sub-teams with their own "
            "supervisors (pattern: hierarchical)"))
    router_tools = set(team.agent(spec.router).tools)
    for worker in spec.workers:
        agents = team.teams[worker].agents if worker in team.teams else (team.agent(worker),)
        shared = sorted(router_tools & {t for a in agents for t in a.tools})
        if shared:
            out.append(Finding(
                "warning", "router-duplicates-worker", f"{where}.router",
                f"router {spec.router!r} has {', '.join(shared)}, which worker {worker!r} "
                "also has: it may do the work itself instead of delegating",
                f"remove {', '.join(shared)} from the router; delegate to {worker!r}"))


def _stage_schema_rules(team: TeamSpec, spec: PipelineSpec, prefix: str,
                        out: list[Finding]) -> None:
    for index, (before, stage) in enumerate(zip(spec.stages, spec.stages[1:], strict=False)):
        if stage in team.teams or before in team.teams:
            continue  # a sub-team's output or input is its own members'
        accepted, produced = team.agent(stage).input_schema, team.agent(before).output_schema
        if accepted is None:
            continue
        gaps = ["its output is free text (no output_schema)"] if produced is None else (
            schema_gaps(produced, accepted))
        if gaps:
            out.append(Finding(
                "warning", "stage-schema-mismatch", f"{prefix}pipeline.stages[{index + 1}]",
                f"the output of stage {before!r} may not satisfy the input_schema of {stage!r}: "
                + "; ".join(gaps[:5]) + (f" (and {len(gaps) - 5} more)" if len(gaps) > 5
                                         else ""),
                f"give {before!r} an output_schema that fits the input_schema of {stage!r}, "
                f"or relax that input_schema"))


def _handed_work_rules(team: TeamSpec, prefix: str, out: list[Finding]) -> None:
    """``sees`` and ``input_schema`` where the pattern gives the agent nothing to apply them to."""
    section = team.section
    takers: set[str] = set()  # the agents that are given earlier work and held to inputs
    if isinstance(section, SupervisorSpec):
        takers = set(section.workers)
    elif isinstance(section, PipelineSpec):
        takers = set(section.stages)
    elif isinstance(section, HandoffSpec):
        takers = set(section.agents)
    for index, agent in enumerate(team.agents):
        for field, code in (("sees", "sees-ignored"), ("input_schema", "input-schema-ignored")):
            if getattr(agent, field) is not None and agent.name not in takers:
                out.append(Finding(
                    "warning", code, f"{prefix}agents[{index}].{field}",
                    f"agent {agent.name!r} sets {field}, but as a {team.pattern} "
                    f"{'member' if team.pattern != 'single' else 'agent'} it is never applied",
                    f"remove {field}, or make {agent.name!r} a pipeline stage, a supervisor's "
                    "worker or a handoff agent"))


def lint_team(team: TeamSpec, tools: Mapping[str, ToolSpec] | None = None,
              profiles: Mapping[str, ServedProfile] | None = None) -> list[Finding]:
    """Every finding for ``team`` and its sub-teams, sorted by location then code. ``tools``
    and ``profiles``: what a worker configuration serves, when known (stop tools, unknown
    names, prices)."""
    out: list[Finding] = []
    if team.depth() > MAX_DEPTH:
        out.append(Finding(
            "warning", "deep-nesting", "teams",
            f"sub-teams nest {team.depth()} levels deep (more than {MAX_DEPTH}); runs get hard "
            "to follow and budgets thin out", "flatten a level: make the innermost team's "
            "agents members of its parent"))
    _team_rules(team, "", out, tools, profiles)
    return sorted(out, key=lambda f: (f.location, f.code, f.message))
