"""Rich rendering of the operator views: tenant budgets, rollouts side by side, cost reports
and the per-tool cache table ``baton show`` shares with the cost report. Pure functions from
models to renderables; every value from a run or a configuration is wrapped in ``Text``."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from baton.budgets import PeriodUsage, TenantBudgetReport
from baton.canary import VersionStats
from baton.client._cost import CostReport
from baton.client._rollouts import RolloutReport
from baton.client.views import ToolTotals
from baton.rollout import RolloutState

__all__ = ["budgets_table", "cost_tables", "rollout_state_lines", "rollout_table", "tools_table"]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _limit(spent: float, held: float, limit: float | None, money: bool) -> str:
    def show(value: float) -> str:
        return f"${value:.4f}" if money else f"{value:,.0f}"

    if limit is None:
        return show(spent) if spent or held else "-"
    left = max(limit - spent - held, 0)
    held_text = f" (+{show(held)} held)" if held else ""
    return f"{show(spent)}{held_text} of {show(limit)}, {show(left)} left"


def _period_cells(tenant: str, usage: PeriodUsage, report: TenantBudgetReport) -> list[Text]:
    tokens = _limit(usage.spent_tokens, usage.reserved_tokens, usage.max_tokens, False)
    usd = _limit(usage.spent_usd, usage.reserved_usd, usage.max_cost_usd, True)
    used = max((u for u in (usage.used("tokens"), usage.used("usd")) if u is not None),
               default=None)
    alert = report.budget.alert_at if report.budget else 1.0
    style = "bold red" if used is not None and used >= 1 else (
        "yellow" if used is not None and used >= alert else "")
    return [Text(tenant), Text(f"{usage.period} {usage.key}"), Text(tokens), Text(usd),
            Text(_share(used), style=style), Text(str(report.refused.get(usage.period, 0))),
            Text(str(report.open_reservations))]


def budgets_table(reports: list[TenantBudgetReport]) -> Table:
    table = Table(title=f"tenant budgets ({len(reports)} tenant(s))", title_justify="left")
    for column in ("tenant", "period", "tokens", "USD", "used", "refused", "in flight"):
        table.add_column(column, overflow="fold")
    for report in reports:
        for usage in report.periods:
            table.add_row(*_period_cells(report.tenant, usage, report))
    return table


def rollout_state_lines(state: RolloutState, *, audit: int = 5) -> list[Text]:
    lines = []
    if state.stable is not None:
        lines.append(Text(f"stable  {state.stable.label} ({state.stable.digest}), deployed "
                          f"{state.stable.deployed_at:%Y-%m-%d %H:%M} by "
                          f"{state.stable.deployed_by}", style="green"))
    if state.canary is not None:
        rule = state.rule
        since = f" since {state.canary_since:%Y-%m-%d %H:%M} UTC" if state.canary_since else ""
        lines.append(Text(f"canary  {state.canary.label} ({state.canary.digest}) on "
                          f"{state.percent}% of new runs{since}", style="yellow"))
        terms = ", ".join(f"{k}={v}" for k, v in rule.model_dump().items() if v is not None) \
            if rule else "none: promote or roll back by hand"
        lines.append(Text(f"rule    {terms}"))
    for entry in state.audit[-audit:]:
        lines.append(Text(f"  {entry.at:%Y-%m-%d %H:%M:%S} {entry.by}: {entry.action} "
                          f"{entry.label} ({entry.digest}) {entry.percent}%"
                          + (f" — {entry.reason}" if entry.reason else ""), style="dim"))
    return lines


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def rollout_table(report: RolloutReport) -> Table:
    """Stable and canary side by side, one column each."""
    versions: list[VersionStats] = report.versions
    table = Table(title=f"rollout of {report.state.team}", title_justify="left")
    table.add_column("")
    for v in versions:
        table.add_column(f"{v.track} {v.label or ''} ({v.digest})", overflow="fold")
    statuses = sorted({s for v in versions for s in v.statuses if s != "completed"})
    rows: list[tuple[str, list[str]]] = [
        ("runs finished", [str(v.runs) for v in versions]),
        ("running", [str(v.running) for v in versions]),
        ("completed", [f"{v.completed} ({_share(v.completed_share)})" for v in versions]),
        *((f"  {s}", [str(v.statuses.get(s, 0)) for v in versions]) for s in statuses),
        ("failure rate", [_share(v.failure_rate) for v in versions]),
        ("approvals rejected", [
            "-" if v.approvals is None else f"{v.approvals_rejected} of {v.approvals} "
            f"({_share(v.rejected_share)})" for v in versions]),
        ("cost per run", ["-" if v.cost_per_run is None else f"${v.cost_per_run:.6f}"
                          for v in versions]),
        ("duration p50", [_seconds(v.p50_s) for v in versions]),
        ("duration p95", [_seconds(v.p95_s) for v in versions]),
    ]
    for label, cells in rows:
        table.add_row(Text(label, style="bold"), *(Text(c) for c in cells))
    return table


def tools_table(tools: list[ToolTotals], title: str = "per tool") -> Table:
    """Calls, read-cache hit rate and what the hits saved (from the calls that filled it)."""
    table = Table(title=title, title_justify="left")
    for column in ("tool", "calls", "cache hits", "hit rate", "saved ms", "saved tokens",
                   "saved USD", "tool's own USD"):
        table.add_column(column, justify="left" if column == "tool" else "right")
    for t in tools:
        table.add_row(Text(t.tool), str(t.calls), str(t.cache_hits), _share(t.hit_rate),
                      f"{t.saved_ms:.0f}", str(t.saved_tokens), f"{t.saved_usd:.6f}",
                      f"{t.tool_cost_usd:.6f}")
    return table


def cost_tables(report: CostReport) -> list[RenderableType]:
    table = Table(title=f"cost of team {report.team} by {report.by}: {report.runs} finished "
                        f"run(s) since {report.since:%Y-%m-%d %H:%M} UTC", title_justify="left")
    for column in (report.by, "runs", "model calls", "tokens in", "tokens out", "USD",
                   "routing USD", "routing share"):
        table.add_column(column, justify="left" if column == report.by else "right")
    for row in [*report.rows, report.total]:
        style = "bold" if row is report.total else ""
        table.add_row(Text(row.key, style=style), str(row.runs), str(row.model_calls),
                      str(row.input_tokens), str(row.output_tokens), f"{row.cost_usd:.6f}",
                      f"{row.routing_cost_usd:.6f}", _share(row.routing_share), style=style)
    parts: list[RenderableType] = [table]
    if report.tools:
        parts.append(tools_table(report.tools, "read cache per tool"))
    if report.unread:
        parts.append(Text(f"{len(report.unread)} run(s) could not be read (no worker to answer "
                          f"their queries?): {', '.join(report.unread[:5])}", style="yellow"))
    parts.append(Text.assemble(("query  ", "bold"), report.query))
    return parts
