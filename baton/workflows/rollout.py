"""``RolloutWorkflow``: the durable rollout state of one team, and its automatic rule.

One per team (id ``baton-rollout-<team>``), started by the first ``baton deploy`` and never
ended (it continues as new when its history grows): the stable version, at most one canary with
the share of new runs it gets, and an audit entry (who, when, why) for every change. Clients
read the ``state`` query before starting a run and pick the version from the run id.

While a canary with a rule (its team YAML's ``rollout:``) is out, the workflow judges it every
``check_every_s``: a timer, then the ``version_stats`` activity (Temporal visibility: statuses,
cost, durations of both versions' runs since the canary was deployed), then the rule — which
may roll the canary back or promote it, audited as ``ROLE_RULE``. Polling on a timer, rather
than being told by each run as it ends, keeps runs unaware of rollouts (no extra command in
any run's history) and costs one visibility read per check, only while a canary is out.

Public interface: updates ``deploy`` (``DeployRequest``), ``promote`` and ``rollback``
(``RolloutDecision``), each answering the new ``RolloutState``; queries ``state`` and
``last_check`` (what the rule said last, in words).
"""

from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

from baton.canary import RolloutRule, evaluate
from baton.rollout import (
    DeployRequest,
    RolloutDecision,
    RolloutInput,
    RolloutState,
    TeamVersion,
    VersionQuery,
    VersionRef,
)
from baton.workflows import _activities

__all__ = ["ROLE_RULE", "RolloutWorkflow"]

ROLE_RULE = "rollout rule"  # the "who" of changes the automatic rule makes


def _ref(version: TeamVersion, track: Literal["stable", "canary"]) -> VersionRef:
    return VersionRef(digest=version.digest, label=version.label, track=track)


# Auto-upgrading under worker versioning, like TenantBudgetWorkflow: it outlives every build.
@workflow.defn(name="RolloutWorkflow")
class RolloutWorkflow:
    @workflow.init
    def __init__(self, start: RolloutInput) -> None:
        self._state = start.state or RolloutState(team=start.team)
        self._limit = start.continue_after_events
        self._changed = False
        self._last_check = ""

    @workflow.run
    async def run(self, start: RolloutInput) -> None:
        while not self._long():
            self._describe()
            rule = self._state.rule
            woken = lambda: self._changed or self._long()  # noqa: E731
            if self._state.canary is None or rule is None:
                await workflow.wait_condition(woken)
            else:
                try:
                    await workflow.wait_condition(
                        woken, timeout=timedelta(seconds=rule.check_every_s))
                except TimeoutError:
                    await self._check(rule)
            self._changed = False
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(start.model_copy(update={"state": self._state}))

    def _long(self) -> bool:
        info = workflow.info()
        return (info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._limit)

    def _describe(self) -> None:
        state = self._state
        stable = f"stable {state.stable.label} ({state.stable.digest})" if state.stable else (
            "no stable version")
        canary = (f"; canary {state.canary.label} ({state.canary.digest}) on {state.percent}% "
                  "of new runs") if state.canary else ""
        workflow.set_current_details(f"{state.team}: {stable}{canary}")

    async def _check(self, rule: RolloutRule) -> None:
        state = self._state
        if state.stable is None or state.canary is None:
            return
        canary = state.canary
        query = VersionQuery(team=state.team, since=state.canary_since,
                             versions=[_ref(state.stable, "stable"), _ref(canary, "canary")])
        try:
            stable_stats, canary_stats = await _activities.version_stats(query)
        except ActivityError as exc:
            self._last_check = f"{workflow.now():%H:%M:%S} could not read run stats: {exc}"
            return
        if self._state.canary is None or self._state.canary.digest != canary.digest:
            return  # a person changed the rollout while the stats were read
        verdict = evaluate(rule, stable_stats, canary_stats)
        self._last_check = f"{workflow.now():%Y-%m-%d %H:%M:%S} UTC: {verdict.reason}"
        decision = RolloutDecision(by=ROLE_RULE, reason=verdict.reason)
        if verdict.action == "rollback":
            self._state = self._state.rollback(decision, workflow.now())
        elif verdict.action == "promote":
            self._state = self._state.promote(decision, workflow.now())
        if verdict.action is not None:
            workflow.logger.warning("team %s: canary %s %s by the rollout rule: %s",
                                    state.team, canary.label,
                                    "rolled back" if verdict.action == "rollback" else "promoted",
                                    verdict.reason)

    def _apply(self, state: RolloutState) -> RolloutState:
        self._state, self._changed = state, True
        return state

    @workflow.update(name="deploy")
    def deploy(self, request: DeployRequest) -> RolloutState:
        return self._apply(self._state.deploy(request, workflow.now()))

    @deploy.validator
    def _deploy_allowed(self, request: DeployRequest) -> None:
        self._state.deploy(request, workflow.now())  # ValueError refuses the update

    @workflow.update(name="promote")
    def promote(self, decision: RolloutDecision) -> RolloutState:
        return self._apply(self._state.promote(decision, workflow.now()))

    @promote.validator
    def _promote_allowed(self, decision: RolloutDecision) -> None:
        self._state.promote(decision, workflow.now())

    @workflow.update(name="rollback")
    def rollback(self, decision: RolloutDecision) -> RolloutState:
        return self._apply(self._state.rollback(decision, workflow.now()))

    @rollback.validator
    def _rollback_allowed(self, decision: RolloutDecision) -> None:
        self._state.rollback(decision, workflow.now())

    @workflow.query(name="state")
    def state(self) -> RolloutState:
        return self._state

    @workflow.query(name="last_check")
    def last_check(self) -> str:
        return self._last_check
