"""Admission: a run resolves the model profiles and tools it names before its first step.

A team names profiles and tools; the worker serves them. At start a top-level run asks a worker
(the ``resolve_catalog`` activity) for what it serves of those names and records the answer in
its history. A name the worker does not serve ends the run at once, typed and located — never a
stuck workflow. Members and continuations inherit the catalog of the run that resolved it. A
catalog found in a *top-level* run's input is ignored: run input is untrusted, and prices or
timeouts must come from the worker.

The ``admission`` update lets a client wait for this decision (``BatonClient.start`` does), so a
run that cannot start is refused to the person starting it, with the reason.
"""

from pydantic import ValidationError
from temporalio import workflow

from baton.approvals import relaxation
from baton.calls import Catalog, CatalogRequest
from baton.runs import Admission, AdmissionProblem, RunInput
from baton.workflows import _activities

__all__ = ["INVALID_INPUT", "AdmissionHost", "admit"]

# A run input (or a continuation's) that does not validate ends the run as failed, with pydantic's
# explanation, instead of failing its workflow task again and again: a hand-made input started
# with `temporal workflow start` is untrusted like any other.
INVALID_INPUT: list[type[BaseException]] = [ValidationError]


async def admit(run: RunInput) -> tuple[Catalog, Admission]:
    info = workflow.info()
    inherited = info.parent is not None or info.continued_run_id is not None
    if run.catalog is not None and inherited:
        return run.catalog, Admission(accepted=True)
    references = run.team.references()
    resolution = await _activities.resolve_catalog(CatalogRequest(
        profiles=tuple(r.name for r in references if r.kind == "profile"),
        tools=tuple(r.name for r in references if r.kind == "tool"), tenant=run.tenant))
    problems: list[AdmissionProblem] = []
    for ref in references:
        unknown = resolution.unknown_profiles if ref.kind == "profile" else (
            resolution.unknown_tools)
        if ref.name not in unknown:
            continue
        served = resolution.served_profiles if ref.kind == "profile" else resolution.served_tools
        what = "model profile" if ref.kind == "profile" else "tool"
        why = resolution.unavailable_tools.get(ref.name) if ref.kind == "tool" else None
        problems.append(AdmissionProblem(
            kind=ref.kind, name=ref.name, location=ref.location,
            message=f"{what} {ref.name!r} is not served by the worker: {why}" if why else
                    f"{what} {ref.name!r} is not served by the worker "
                    f"(served: {', '.join(served) or 'none'})"))
    problems += _relaxed_approvals(run, resolution.catalog)
    return resolution.catalog, Admission(accepted=not problems, problems=problems)


def _relaxed_approvals(run: RunInput, catalog: Catalog) -> list[AdmissionProblem]:
    problems = []
    for location, tool, policy in run.team.approval_overrides():
        spec = catalog.tools.get(tool)
        if spec is None:
            continue  # an unserved tool is already a problem of its own
        why = relaxation(spec.approval, policy, catalog.approvals, write=spec.effect == "write",
                         expiry_may_approve=spec.expiry_may_approve)
        if why is not None:
            problems.append(AdmissionProblem(kind="approval", name=tool, location=location,
                                             message=f"approval override for {tool}: {why}"))
    return problems


class AdmissionHost:
    """The ``admission`` update of every Baton workflow: answers once the run is admitted."""

    def _admitted(self) -> Admission | None:
        raise NotImplementedError  # the host's run state keeps it

    @workflow.update(name="admission")
    async def admission(self) -> Admission:
        await workflow.wait_condition(lambda: self._admitted() is not None)
        admission = self._admitted()
        assert admission is not None
        return admission
