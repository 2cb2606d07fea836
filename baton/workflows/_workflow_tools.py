"""Tools that run in the workflow, not in an activity: delegation to a member (a child
workflow), handoff transfers, blackboard writes. The model sees them like any other tool; the
orchestrator executes them deterministically."""

from __future__ import annotations

from typing import Any

from baton.calls import ToolSchema
from baton.messages import ToolCall
from baton.reports import InputContract
from baton.runs import RunStatus, Transfer
from baton.workflow_records import WorkflowTool, WorkflowToolResult
from baton.workflows._inputs import INPUT_INVALID, InputFixes, fix_message

__all__ = ["TRANSFER_PREFIX", "Finished", "WorkflowTool", "WorkflowToolResult", "transfer_tool"]

TRANSFER_PREFIX = "transfer_to_"  # an agent's tool for handing over to agent a: transfer_to_<a>


class Finished(Exception):  # control flow: "the loop is finished", not an error
    def __init__(self, status: RunStatus, reason: str | None = None, *,
                 output: str | None = None, error_type: str | None = None,
                 transfer: Transfer | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.output, self.error_type = status, reason, output, error_type
        self.transfer = transfer


def transfer_tool(source: str, target: str, description: str,
                  contract: InputContract | None = None) -> WorkflowTool:
    """``transfer_to_<target>``: control moves to ``target`` (a transfer, not a delegation:
    nothing comes back to this agent). The agent loop attaches the conversation, including
    this turn's tool results, when it finishes the turn. A target with an input contract takes
    an ``input`` too: one that does not match goes back to this agent to fix, a bounded number
    of times (then this agent ends ``input_invalid``)."""
    fixes = InputFixes()
    name = f"{TRANSFER_PREFIX}{target}"

    async def run(call: ToolCall, step: int) -> WorkflowToolResult:
        del step  # a transfer does not depend on the step
        reason = str(call.arguments.get("reason") or "no reason given")
        checked = fixes.check(target, contract, call.arguments.get("input"), producer=source)
        if contract is not None and checked.problem is not None:
            told = fix_message(target, checked.problem, contract, how=f"call {name} again")
            return WorkflowToolResult(content=told, is_error=True, finish=Finished(
                RunStatus.INPUT_INVALID, checked.exhausted, error_type=INPUT_INVALID)
                if checked.exhausted else None)
        given = checked.value if contract is not None else None
        transfer = Transfer(source=source, to=target, reason=reason, input=given)
        return WorkflowToolResult(
            content=f"Transferred to {target}.", value={"to": target, "reason": reason},
            finish=Finished(RunStatus.TRANSFERRED, f"transferred to {target}: {reason}",
                            transfer=transfer))

    properties: dict[str, Any] = {
        "reason": {"type": "string", "description": "why this agent should take over"}}
    if contract is not None:
        properties["input"] = {**contract.input_schema,
                               "description": f"what {target} works on (its input_schema)"}
    return WorkflowTool(
        schema=ToolSchema(
            name=name,
            description=f"Transfer the conversation to {target}"
                        + (f": {description}" if description else "."),
            parameters={"type": "object", "additionalProperties": False,
                        "required": sorted(properties), "properties": properties},
        ),
        run=run,
    )
