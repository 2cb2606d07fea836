"""Adding up a run tree: tokens, cost and calls per agent, per model and in total.

Pure functions over :class:`baton.client.views.RunView`, so the numbers ``baton show`` prints
and the ``--json`` model agree by construction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from baton.client.views import AgentTotals, ModelTotals, RunView, ToolTotals, Totals
from baton.messages import Usage
from baton.runs import ModelAttemptEvent, ModelCallEvent, SummarizedEvent, ToolCallEvent

__all__ = ["tool_totals", "totals"]


# A working-memory summary is a model call too: its tokens and cost count where it was made.
_Call = ModelCallEvent | SummarizedEvent


@dataclass
class _Agent:
    calls: list[_Call] = field(default_factory=list)
    steps: set[int] = field(default_factory=set)
    tools: int = 0


def totals(root: RunView) -> Totals:
    """Tokens, cost and calls of ``root`` and every member run below it."""
    per_agent: dict[tuple[str, str], _Agent] = {}
    per_model: dict[str, list[_Call]] = defaultdict(list)
    tools: list[ToolCallEvent] = []
    failed = 0
    for node in root.walk():
        failed += sum(isinstance(e, ModelAttemptEvent) for e in node.events)
        for event in node.events:
            if isinstance(event, ModelCallEvent | SummarizedEvent):
                per_model[event.model].append(event)
                agent = per_agent.setdefault((node.run_id, event.agent), _Agent())
                agent.calls.append(event)
                agent.steps.add(event.step)
            elif isinstance(event, ToolCallEvent):
                tools.append(event)
                per_agent.setdefault((node.run_id, event.agent), _Agent()).tools += 1
    agents = [AgentTotals(workflow_id=wid, agent=name, steps=len(a.steps),
                          model_calls=len(a.calls), tool_calls=a.tools, usage=_sum_usage(a.calls),
                          cost_usd=round(sum(c.cost_usd for c in a.calls), 6))
              for (wid, name), a in per_agent.items()]
    models = [ModelTotals(model=name, calls=len(calls), usage=_sum_usage(calls),
                          cost_usd=round(sum(c.cost_usd for c in calls), 6),
                          latency_ms=round(sum(c.latency_ms for c in calls), 1))
              for name, calls in sorted(per_model.items())]
    # Members only their parent's history told of: what their results report.
    reported = [(node.run_id, node.result) for node in root.walk()
                if node.source == "parent" and node.result is not None]
    agents += [AgentTotals(workflow_id=wid, agent=r.agent, steps=r.steps, model_calls=0,
                           tool_calls=0, usage=r.usage, cost_usd=r.cost_usd)
               for wid, r in reported]
    every = [c for calls in per_model.values() for c in calls]
    usage = sum((r.usage for _, r in reported), _sum_usage(every))
    cost = sum(c.cost_usd for c in every) + sum(r.cost_usd for _, r in reported)
    return Totals(usage=usage, cost_usd=round(cost, 6),
                  model_calls=len(every), tool_calls=len(tools),
                  cache_hits=sum(t.cache_hit for t in tools),
                  ledger_hits=sum(t.ledger_hit for t in tools), failed_attempts=failed,
                  per_agent=agents, per_model=models, per_tool=tool_totals(tools))


def tool_totals(calls: list[ToolCallEvent]) -> list[ToolTotals]:
    """Per tool, sorted by name: calls, cache and ledger hits, and what the hits saved. A hit's
    saving is what the call that filled the cache cost: its duration and the tokens and dollars
    the tool reported spending (a tool that calls a model or a paid API)."""
    by_tool: dict[str, list[ToolCallEvent]] = defaultdict(list)
    for call in calls:
        if call.effect != "workflow":  # delegations and transfers are not tool executions
            by_tool[call.tool].append(call)
    out = []
    for name, events in sorted(by_tool.items()):
        hits = [e for e in events if e.cache_hit]
        ran = [e for e in events if not e.cache_hit and not e.ledger_hit]
        out.append(ToolTotals(
            tool=name, calls=len(events), cache_hits=len(hits),
            ledger_hits=sum(e.ledger_hit for e in events),
            errors=sum(e.status == "error" for e in events),
            duration_ms=round(sum(e.duration_ms for e in events), 3),
            tool_tokens=sum(e.tool_tokens for e in ran),
            tool_cost_usd=round(sum(e.tool_cost_usd for e in ran), 9),
            saved_ms=round(sum(max((e.original_ms or 0.0) - e.duration_ms, 0.0) for e in hits),
                           3),
            saved_tokens=sum(e.tool_tokens for e in hits),
            saved_usd=round(sum(e.tool_cost_usd for e in hits), 9)))
    return out


def _sum_usage(calls: list[_Call]) -> Usage:
    return sum((c.usage for c in calls), Usage())
