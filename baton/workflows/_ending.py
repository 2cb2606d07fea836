"""How a run's workflow closes: honestly, as Temporal sees it.

A run that completed (or handed its conversation over) closes ``Completed`` with its
``RunResult``. Any other end — ``failed``, ``budget_exhausted``, ``max_steps``, ``refused``… —
closes the workflow ``Failed`` with an ``ApplicationError`` of type ``BatonRunNotCompleted``
whose first detail is the ``RunResult``; a cancelled run closes ``Canceled``. So the Temporal
UI's list, its failure counts, metrics and alerts show the truth, while ``BatonClient.result``
and parent runs still read the typed result.
"""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ApplicationError

from baton.runs import RUN_NOT_COMPLETED, RunResult, RunStatus

__all__ = ["conclude", "result_of_failure"]


def conclude(result: RunResult) -> RunResult:
    """Return ``result`` for a run that succeeded; raise what closes the workflow otherwise."""
    if result.status.succeeded:
        return result
    if result.status is RunStatus.CANCELLED:
        raise asyncio.CancelledError(result.reason or "the run was cancelled")
    raise ApplicationError(f"{result.status.value}: {result.reason or 'no reason given'}",
                           result, type=RUN_NOT_COMPLETED, non_retryable=True)


def result_of_failure(error: BaseException) -> RunResult | None:
    """The typed result carried by a member run's failure, when it is one ``conclude`` raised."""
    cause = error.__cause__ if error.__cause__ is not None else getattr(error, "cause", None)
    if isinstance(cause, ApplicationError) and cause.type == RUN_NOT_COMPLETED and cause.details:
        return RunResult.model_validate(cause.details[0])
    return None
