"""``SupervisorWorkflow``: a router agent delegates sub-tasks to workers (agents or teams, each
a child workflow) and composes the answer from their reports.

The router runs in this workflow; each worker in its own. Delegation is a tool the router calls
(``delegate_to_<worker>``) that the orchestrator executes: a routing loop (the same worker given
the same sub-task again) is refused once with an explanation and then ends the run with
``routing_loop``; more than ``max_rounds`` delegations end it with ``max_rounds``.
"""

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

from baton.calls import ToolSchema
from baton.messages import AgentMessage, Message, ToolCall, UserMessage
from baton.patterns import SupervisorSpec
from baton.reports import NeedsHelp
from baton.runs import MembersCarry, RunInput, RunResult, RunStatus
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._agent_loop import AgentLoop, ContinueAsNew
from baton.workflows._approval import Resolution
from baton.workflows._ending import conclude
from baton.workflows._host import AgentHost, set_status
from baton.workflows._inputs import INPUT_INVALID, InputFixes, contract_of, fix_message
from baton.workflows._members import Members
from baton.workflows._needs_help import ask_person, settle
from baton.workflows._propagation import sees_of, worker_context
from baton.workflows._workflow_tools import Finished, WorkflowTool, WorkflowToolResult

__all__ = ["DELEGATE_PREFIX", "Delegation", "SupervisorWorkflow", "build_router", "format_report",
           "read_report", "run_router"]

DELEGATE_PREFIX = "delegate_to_"  # the router's tool for worker w is delegate_to_<w>


def format_report(worker: str, status: str, text: str) -> str:
    """A delegation's result as the router reads it."""
    return f"{worker} reports ({status}): {text}"


def read_report(content: str) -> tuple[str, str, str] | None:
    """(worker, status, text) of a ``format_report`` text, else None."""
    worker, found, rest = content.partition(" reports (")
    status, closed, text = rest.partition("): ")
    return (worker, status, text) if found and closed else None


def _normalise(task: str) -> str:
    return re.sub(r"\W+", " ", task.lower()).strip()


# (member, its report, the router's step) → the person's answer (on_needs_help: ask_person)
AskPerson = Callable[[str, NeedsHelp, int], Awaitable[Resolution]]


def _report_text(result: RunResult, note: str | None) -> str:
    """A member's result as the router reads it: its answer, its needs-help report or why it
    ended; never its transcript."""
    if result.status is RunStatus.COMPLETED:
        text = str(result.output)
    elif result.needs_help is not None:
        text = (f"{result.needs_help.text()} Decide: delegate differently (another worker, a "
                "narrower sub-task) or answer with what you have.")
    else:
        text = f"[{result.status.value}] {result.reason or ''}"
    return f"{text}\nNote: {note}." if note else text


class Delegation:
    """Routing state behind the router's ``delegate_to_<worker>`` tools."""

    def __init__(self, spec: SupervisorSpec, members: Members, router: str,
                 share: float = 1.0, ask: AskPerson | None = None) -> None:
        self.spec, self.members, self.router, self.share = spec, members, router, share
        self.ask = ask
        self.rounds = 0
        self.seen: Counter[tuple[str, str]] = Counter()
        self.warned = False
        self.inputs = InputFixes()

    def restore(self, carry: MembersCarry) -> None:
        """Go on from the previous continuation's routing state."""
        self.members.restore(carry)
        self.rounds, self.warned = carry.state.get("rounds", 0), carry.state.get("warned", False)
        self.seen = Counter({(w, task): n for w, task, n in carry.state.get("seen", [])})
        self.inputs = InputFixes(carry.state.get("input_fixes"))

    def carry(self) -> MembersCarry:
        return self.members.carry({"rounds": self.rounds, "warned": self.warned,
                                   "seen": [[w, task, n] for (w, task), n in self.seen.items()],
                                   "input_fixes": self.inputs.counts})

    def tools(self) -> dict[str, WorkflowTool]:
        team = self.members.team
        tools = {}
        for worker in self.spec.workers:
            about = team.teams[worker].description if worker in team.teams else (
                team.agent(worker).description)
            contract = contract_of(team, worker)
            # A worker with an input schema is given a JSON value of that shape as its task.
            task: dict[str, Any] = {"type": "string", "description": "the sub-task, self-contained"}
            if contract is not None:
                task = {**contract.input_schema,
                        "description": f"the sub-task: what {worker} takes (its input_schema)"}
            tools[f"{DELEGATE_PREFIX}{worker}"] = WorkflowTool(
                schema=ToolSchema(
                    name=f"{DELEGATE_PREFIX}{worker}",
                    description=f"Delegate a sub-task to {worker} ({about}); returns its report.",
                    parameters={
                        "type": "object", "additionalProperties": False, "required": ["task"],
                        "properties": {"task": task},
                    },
                ),
                run=self._runner(worker),
            )
        return tools

    def _task_of(self, worker: str, given: Any) -> str | WorkflowToolResult:
        """The sub-task as the worker's task text, or what the router must fix (the tool's
        result; past the worker's fix attempts it ends the run ``input_invalid``)."""
        contract = contract_of(self.members.team, worker)
        if contract is None:
            task = str(given or "").strip()
            return task or WorkflowToolResult(content="delegation needs a non-empty task",
                                              is_error=True)
        checked = self.inputs.check(worker, contract, given, producer=self.router)
        if checked.problem is None:
            return checked.text
        told = fix_message(worker, checked.problem, contract,
                           how=f"call {DELEGATE_PREFIX}{worker} again")
        return WorkflowToolResult(content=told, is_error=True, finish=Finished(
            RunStatus.INPUT_INVALID, checked.exhausted, error_type=INPUT_INVALID)
            if checked.exhausted else None)

    async def _delegate(self, worker: str, task: str, step: int) -> tuple[RunResult, str | None]:
        """Run the worker with what it sees of earlier reports; apply the team's policy when it
        needs help. Returns its result and a note on what the policy did."""
        team = self.members.team
        sees = sees_of(team, worker)
        context = worker_context(sees, self.members.records,
                                 limit=team.history.max_message_chars)
        result = await self.members.run(worker, task, step=step, share=self.share,
                                        context=context, sees=sees)

        async def rerun(factor: float, hint: str | None) -> RunResult:
            report = result.needs_help
            assert report is not None  # settle reruns only a member that needs help
            earlier: list[Message] = [UserMessage(source="baton", content=(
                f"An earlier attempt at this sub-task stopped: {report.text()}"))]
            again = f"{task}\n\nHint for this attempt: {hint}" if hint else task
            return await self.members.run(worker, again, step=step, share=self.share,
                                          grow=factor, context=[*context, *earlier], sees=sees)

        async def ask(report: NeedsHelp) -> Resolution:
            assert self.ask is not None  # build_router gives every router a way to ask
            return await self.ask(worker, report, step)

        return await settle(result, self.spec, member=worker, rerun=rerun, ask=ask)

    def _runner(self, worker: str) -> Callable[[ToolCall, int], Awaitable[WorkflowToolResult]]:
        async def run(call: ToolCall, step: int) -> WorkflowToolResult:
            task = self._task_of(worker, call.arguments.get("task"))
            if isinstance(task, WorkflowToolResult):
                return task
            refusal = self._refusal(worker, task)
            if refusal is not None:
                return refusal
            self.seen[(worker, _normalise(task))] += 1
            self.rounds += 1
            result, note = await self._delegate(worker, task, step)
            help_ = result.needs_help
            report = AgentMessage(source=worker, destination=self.router, kind="report",
                                  payload=help_.model_dump() if help_ else (
                                      result.output or result.reason or ""),
                                  trace_id=self.members.input.trace_id)
            finish = None
            if help_ is not None and self.spec.on_needs_help == "fail":
                finish = Finished(result.status, f"{worker} needed help ({help_.missing}) and "
                                  "the team's on_needs_help is fail", error_type=result.error_type)
            return WorkflowToolResult(
                content=format_report(worker, result.status.value, _report_text(result, note)),
                is_error=result.status is not RunStatus.COMPLETED, finish=finish,
                value=json.loads(report.model_dump_json()),
                key=self.members.records[-1].workflow_id)
        return run

    def _refusal(self, worker: str, task: str) -> WorkflowToolResult | None:
        repeats = self.seen[(worker, _normalise(task))]
        if repeats > self.spec.max_repeats:
            if self.warned:
                return WorkflowToolResult(content="routing loop", is_error=True, finish=Finished(
                    RunStatus.ROUTING_LOOP,
                    f"the router sent the same sub-task to {worker} again after a warning"))
            self.warned = True
            return WorkflowToolResult(is_error=True, content=(
                f"{worker} already handled this sub-task {repeats} time(s); its report is "
                "above. Use it, delegate something different, or give the final answer."))
        if self.rounds >= self.spec.max_rounds:
            return WorkflowToolResult(content="round limit", is_error=True, finish=Finished(
                RunStatus.MAX_ROUNDS,
                f"reached max_rounds={self.spec.max_rounds} delegations without an answer"))
        return None


def build_router(run: RunInput, spec: SupervisorSpec, share: float = 1.0,
                 ) -> tuple[AgentLoop, Delegation]:
    info = workflow.info()
    run_id = run.parent_run_id or info.workflow_id
    loop = AgentLoop(run.model_copy(update={"agent": spec.router}), run_id=run_id,
                     path=f"{info.workflow_id}/{spec.router}", on_status=set_status)

    async def ask(member: str, report: NeedsHelp, step: int) -> Resolution:
        # The router's gate: the question is listed and decided like its tool approvals.
        counted = run.team.budget.count_human_wait
        return await ask_person(loop.gate, spec, member=member, report=report, step=step,
                                run_id=run_id, deadline=loop.budget.deadline(workflow.now())
                                if counted else None)

    # Members share the router's log and budget, so every delegation is charged to this run.
    delegation = Delegation(spec, Members(run, run_id, loop.log, loop.budget), spec.router,
                            share, ask)
    if run.carry is not None and run.carry.members is not None:
        delegation.restore(run.carry.members)
    loop.add_workflow_tools(delegation.tools())
    return loop, delegation


async def run_router(loop: AgentLoop, delegation: Delegation, run: RunInput) -> RunResult:
    """The router's loop to its end; a long one continues as new between steps, carrying the
    conversation (compacted), the routing state and the member records."""
    delegation.members.catalog = loop.catalog  # admitted: members plan with the same catalog
    set_status(RunStatus.RUNNING)
    try:
        result = await loop.run_to_end()
    except ContinueAsNew as cut:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(run.model_copy(update={
            "carry": cut.carry.model_copy(update={"members": delegation.carry()}),
            "catalog": loop.catalog}))
    result = result.model_copy(update={
        "children": delegation.members.records, "details": {"rounds": delegation.rounds}})
    set_status(result.status, cost_usd=result.cost_usd)
    return result


@workflow.defn(name="SupervisorWorkflow", failure_exception_types=INVALID_INPUT)
class SupervisorWorkflow(AgentHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        assert run.team.supervisor is not None  # TeamSpec validates the section per pattern
        self._loop, self._delegation = build_router(run, run.team.supervisor)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        return await self._admit(run) or await run_router(self._loop, self._delegation, run)
