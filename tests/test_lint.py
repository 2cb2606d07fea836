"""``baton.lint``: each one-pager rule fires on a team that breaks it and stays quiet on one
that follows it."""

from __future__ import annotations

from typing import Any

from baton.lint import Finding, has_errors, lint_team
from baton.loader import parse_team
from baton.specs import AgentSpec, TeamSpec


def agent(name: str, description: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": name,
            "description": description if description is not None else
            f"{name} specialist; receives one sub-task about {name} and returns its findings",
            "instructions": f"Handle {name} work.", "max_steps": 4, **fields}


def team(pattern: str = "single", agents: list[dict[str, Any]] | None = None,
         **extra: Any) -> TeamSpec:
    return parse_team({"name": "t", "pattern": pattern,
                       "agents": agents or [agent("solo")], **extra})


def supervisor(workers: list[dict[str, Any]], router: dict[str, Any] | None = None,
               **extra: Any) -> TeamSpec:
    router = router or agent("router", "Router; receives the request and returns one answer")
    return team("supervisor", [router, *workers], supervisor={
        "router": router["name"], "workers": [w["name"] for w in workers]}, **extra)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_a_clean_team_has_no_findings() -> None:
    assert lint_team(supervisor([agent("billing", tools=["lookup_order"]), agent("tech")])) == []


def test_every_finding_has_a_location_message_and_fix() -> None:
    findings = lint_team(team(agents=[agent("solo", "", instructions=" ")]))
    assert {f.code for f in findings} == {"missing-role", "missing-instructions"}
    assert has_errors(findings)
    for f in findings:
        assert f.level == "error" and f.location == "agents[0]" and f.message and f.fix


def test_termination_is_max_steps_a_stop_tool_or_an_output_schema() -> None:
    bare = {"name": "solo", "description": "d", "instructions": "i"}
    findings = lint_team(team(agents=[bare]))
    assert [(f.code, f.level) for f in findings] == [("no-termination", "warning")]
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert lint_team(team(agents=[{**bare, "output_schema": schema}])) == []
    assert lint_team(team(agents=[{**bare, "max_steps": 8}])) == []


def test_pattern_members_describe_what_they_receive_and_return() -> None:
    vague = agent("tech", "Technical support")
    findings = lint_team(supervisor([agent("billing"), vague]))
    assert [(f.code, f.location) for f in findings] == [("io-undescribed", "agents[2]")]
    schema = {"type": "object", "properties": {"steps": {"type": "string"}}}
    assert lint_team(supervisor([agent("billing"), {**vague, "output_schema": schema}])) == []
    # a single agent is not a pattern member: no I/O contract needed
    assert lint_team(team(agents=[agent("solo", "Technical support")])) == []


def test_more_than_ten_tools_is_an_error() -> None:
    base = team(agents=[agent("solo")])
    crowded = AgentSpec.model_construct(**{**base.agents[0].model_dump(),
                                           "tools": tuple(f"t{i}" for i in range(11))})
    findings = lint_team(base.model_copy(update={"agents": (crowded,)}))
    assert ("too-many-tools", "error") in {(f.code, f.level) for f in findings}
    assert "too-many-tools" not in codes(lint_team(base))


def test_overlapping_agents_should_merge() -> None:
    same = "Billing specialist; receives order questions and returns refunds and charges"
    twins = supervisor([agent("billing", same, tools=["lookup_order", "issue_refund"]),
                        agent("billing2", same, tools=["lookup_order", "issue_refund"])])
    [finding] = [f for f in lint_team(twins) if f.code == "overlapping-agents"]
    assert "'billing' and 'billing2'" in finding.message and finding.level == "warning"
    distinct = supervisor([agent("billing", same, tools=["lookup_order", "issue_refund"]),
                           agent("tech", tools=["lookup_order", "troubleshoot"])])
    assert "overlapping-agents" not in codes(lint_team(distinct))


def test_debaters_may_share_a_role() -> None:
    same = "Architect; receives the question and returns a position with reasons"
    debate = team("debate", [agent("a", same), agent("b", same),
                             agent("judge", "Judge; receives positions and returns a decision")],
                  debate={"debaters": ["a", "b"], "judge": "judge"})
    assert lint_team(debate) == []


def test_more_than_eight_workers_suggests_hierarchical_teams() -> None:
    many = supervisor([agent(f"w{i}", f"Worker {i} for topic{i}; receives x{i}, returns y{i}")
                       for i in range(9)])
    [finding] = [f for f in lint_team(many) if f.code == "too-many-workers"]
    assert finding.location == "supervisor.workers" and "hierarchical" in finding.fix
    eight = supervisor([agent(f"w{i}", f"Worker {i} for topic{i}; receives x{i}, returns y{i}")
                        for i in range(8)])
    assert "too-many-workers" not in codes(lint_team(eight))


def handoff(agents: list[dict[str, Any]], **section: Any) -> TeamSpec:
    return team("handoff", agents, handoff={"agents": [a["name"] for a in agents], **section})


ONLY = "Only transfer the customer; never answer yourself."


def test_handoff_without_an_exit_is_an_error() -> None:
    looping = handoff([agent("a", instructions=ONLY), agent("b", instructions=ONLY)])
    [finding] = [f for f in lint_team(looping) if f.code == "handoff-no-exit"]
    assert finding.level == "error" and finding.location == "handoff"
    # one agent that can answer (a tool, or no transfer-only rule) is an exit
    assert "handoff-no-exit" not in codes(lint_team(handoff([
        agent("a", instructions=ONLY), agent("b", instructions=ONLY, tools=["lookup_order"])])))
    assert "handoff-no-exit" not in codes(lint_team(handoff([
        agent("a", instructions=ONLY), agent("b")])))


def test_the_exit_must_be_reachable_from_the_entry() -> None:
    cut_off = handoff([agent("a", instructions=ONLY), agent("b", instructions=ONLY),
                       agent("c", tools=["lookup_order"])],
                      routes={"a": ["b"], "b": ["a"], "c": ["a"]})
    found = codes(lint_team(cut_off))
    assert {"handoff-no-exit", "handoff-unreachable"} <= found


def test_nesting_deeper_than_two_levels_is_a_warning() -> None:
    inner = {"name": "inner", "pattern": "supervisor",
             "agents": [agent("r2", "Router; receives x and returns y"), agent("w2")],
             "supervisor": {"router": "r2", "workers": ["w2"]}}
    middle = {"name": "middle", "pattern": "supervisor",
              "agents": [agent("r1", "Router; receives x and returns y")],
              "teams": {"inner": inner}, "supervisor": {"router": "r1", "workers": ["inner"]}}
    deep = team("supervisor", [agent("r0", "Router; receives x and returns y")],
                teams={"middle": middle}, supervisor={"router": "r0", "workers": ["middle"]})
    assert deep.depth() == 3
    assert [f.code for f in lint_team(deep)] == ["deep-nesting"]
    shallow = team("supervisor", [agent("r0", "Router; receives x and returns y")],
                   teams={"inner": inner}, supervisor={"router": "r0", "workers": ["inner"]})
    assert lint_team(shallow) == []


def test_unused_agents_and_sub_teams_are_flagged() -> None:
    unused = team("supervisor", [agent("router", "Router; receives x and returns y"),
                                 agent("billing"), agent("ghost")],
                  supervisor={"router": "router", "workers": ["billing"]})
    [finding] = [f for f in lint_team(unused) if f.code == "unused-member"]
    assert "'ghost'" in finding.message and finding.location == "agents[2]"
    assert "unused-member" not in codes(lint_team(supervisor([agent("billing")])))


def test_a_router_with_a_workers_tool_is_flagged() -> None:
    greedy = supervisor([agent("billing", tools=["lookup_order"])],
                        router=agent("router", "Router; receives x and returns y",
                                     tools=["lookup_order"]))
    [finding] = [f for f in lint_team(greedy) if f.code == "router-duplicates-worker"]
    assert "lookup_order" in finding.message and "billing" in finding.fix
    own = supervisor([agent("billing", tools=["lookup_order"])],
                     router=agent("router", "Router; receives x and returns y",
                                  tools=["search_help_center"]))
    assert "router-duplicates-worker" not in codes(lint_team(own))


def test_findings_are_sorted_and_deterministic() -> None:
    messy = team("supervisor", [agent("router", ""), agent("b", "B"), agent("ghost")],
                 supervisor={"router": "router", "workers": ["b"]})
    first, second = lint_team(messy), lint_team(messy)
    assert first == second
    assert first == sorted(first, key=lambda f: (f.location, f.code, f.message))
