"""The CLI's lists — runs, open approvals, lint findings — readable at any terminal width.

A table of seven or nine columns is unreadable in an 80-column terminal: every cell folds into
a tower of fragments. Below ``NARROW`` columns each list changes shape instead: fewer columns
for runs (the rest is in ``--json`` and ``baton show``), and a short block of lines per
approval and per finding, which wrap like prose.
"""

from __future__ import annotations

import json

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from baton.approvals import PendingApproval
from baton.client.cli._render import status_style
from baton.client.views import RunRow
from baton.lint import Finding
from baton.runs import RunStatus

__all__ = ["NARROW", "approvals_table", "findings_table", "runs_table"]

NARROW = 120


def _status(row: RunRow) -> Text:
    status = row.status or "?"
    known = status in {s.value for s in RunStatus}
    return Text(status, style=status_style(RunStatus(status)) if known else "")


def runs_table(rows: list[RunRow], *, width: int) -> Table:
    """``baton runs``: newest first, as the rows come."""
    table = Table(title=f"{len(rows)} run(s), newest first", title_justify="left",
                  box=box.SIMPLE_HEAD if width < NARROW else box.HEAVY_HEAD)
    cost = [Text(f"${r.cost_usd:.4f}" if r.cost_usd is not None else "-") for r in rows]
    if width < NARROW:
        for column in ("run id", "team/tenant", "status", "cost", "started"):
            table.add_column(column, no_wrap=column in ("run id", "started", "cost"))
        for row, spent in zip(rows, cost, strict=True):
            table.add_row(Text(row.run_id), Text(f"{row.team or '?'}/{row.tenant or '?'}"),
                          _status(row), spent,
                          Text(f"{row.started_at:%m-%d %H:%M}" if row.started_at else "-"))
        return table
    for column in ("run id", "team", "tenant", "status", "temporal", "cost", "started",
                   "version", "workflow type"):
        table.add_column(column, overflow="fold")
    for row, spent in zip(rows, cost, strict=True):
        table.add_row(Text(row.run_id), Text(row.team or "?"), Text(row.tenant or "?"),
                      _status(row), Text(row.execution_status.lower()), spent,
                      Text(f"{row.started_at:%Y-%m-%d %H:%M:%S}" if row.started_at else "-"),
                      Text(row.version or "-"), Text(row.workflow_type))
    return table


def _indented(text: str, style: str = "") -> Padding:
    """A line of a block: wrapped lines keep the indent."""
    return Padding(Text(text, style=style), (0, 0, 0, 2))


def _expires(p: PendingApproval) -> str:
    return f"{p.expires_at:%Y-%m-%d %H:%M:%S}" if p.expires_at else "never"


def approvals_table(pending: list[PendingApproval], *, runs: bool, width: int
                    ) -> RenderableType:
    """``baton approvals``: what waits, who may decide, until when."""
    if width < NARROW:
        lines: list[RenderableType] = [Text("open approvals", style="bold")]
        for p in pending:
            args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in p.args.items())
            lines += [Text.assemble((p.approval_id, "bold"), f"  {p.agent} → ",
                                    (p.tool, "cyan")),
                      _indented(args),
                      _indented(f"why: {p.reason}; may decide: "
                                f"{', '.join(p.allowed_deciders) or 'anyone'}; expires "
                                f"{_expires(p)}", style="dim")]
            if runs:
                member = f", member {p.workflow_id}" if p.workflow_id != p.run_id else ""
                lines.append(_indented(f"run {p.run_id}{member}", style="dim"))
        return Group(*lines)
    table = Table(title="open approvals")
    columns = ("approval", "agent", "tool", "arguments", "why", "approvers", "expires")
    for column in (("run", "workflow") if runs else ()) + columns:
        table.add_column(column, overflow="fold")
    for p in pending:
        where = (p.run_id, p.workflow_id) if runs else ()
        table.add_row(*(Text(cell) for cell in (
            *where, p.approval_id, p.agent, p.tool, json.dumps(p.args, ensure_ascii=False),
            p.reason, ", ".join(p.allowed_deciders) or "anyone", _expires(p))))
    return table


def findings_table(findings: list[Finding], title: str = "lint", *, width: int = NARROW
                   ) -> RenderableType:
    """``baton lint``'s findings; ``baton run`` prints them too before refusing a team."""
    def level(f: Finding) -> Text:
        return Text(f.level, style="bold red" if f.level == "error" else "yellow")

    if width < NARROW:
        lines: list[RenderableType] = [Text(title, style="bold")]
        for f in findings:
            lines += [Text.assemble(level(f), " ", (f.code, "bold"), f"  at {f.location}"),
                      _indented(f.message), _indented(f"fix: {f.fix}", style="dim")]
        return Group(*lines)
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("level", "code", "location", "message", "fix"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(level(f), Text(f.code), Text(f.location), Text(f.message), Text(f.fix))
    return table
