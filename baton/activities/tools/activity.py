"""The ``execute_tool`` activity: validate, deduplicate, run, serialise one tool call.

Exactly-once for write tools, stated honestly. Temporal delivers activities at least once: an
attempt can finish its work and then lose its completion (worker crash, network), and the next
attempt runs again. For ``effect="write"`` tools the activity consults a durable ledger keyed by
the call's idempotency key (``baton.idempotency.idempotency_key``, computed by the workflow):

* a call whose outcome is recorded is never executed again; the recorded outcome is returned
  with ``ledger_hit=True``;
* the remaining window, between the tool's own commit and the ledger row (a crash right there),
  is closed by the tool itself using ``ctx.idempotency_key``: a UNIQUE column in its database, or
  an ``Idempotency-Key`` header on its HTTP call. The example ``issue_refund`` does exactly that,
  so re-running it with the same key returns the existing refund instead of creating a second.

Only outcomes (``ok`` and tool errors) are recorded, never infrastructure exceptions: those are
retried and the retry must be free to act. Read tools marked ``cacheable`` are served from a TTL
cache keyed by (tool, canonical arguments) in the same SQLite file. Which exceptions are retried
is documented in :mod:`baton.activities.tools.retry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from baton.activities.tools.ledger import Ledger
from baton.activities.tools.results import error_outcome, ok_outcome
from baton.activities.tools.retry import TRANSIENT_ERRORS, RetryableToolError
from baton.calls import ToolInvocation, ToolOutcome
from baton.errors import ToolDefinitionError, UnknownToolError
from baton.telemetry.spans import observe_tool
from baton.tools import ToolContext, ToolDefinition, ToolRegistry

__all__ = ["ToolActivities"]

# Without a heartbeat timeout nothing waits on heartbeats, but they still carry cancellation.
_IDLE_HEARTBEAT_S = 10.0


class _Heartbeat:
    """Heartbeats for one running tool: automatic ticks plus the tool's own ``ctx.heartbeat``.

    The ticks come from the event loop, so they prove the *worker* is alive; a tool stuck in a
    thread is caught by the start-to-close timeout, not by heartbeats. ``ctx.heartbeat`` may be
    called from the tool's thread: the SDK's heartbeat must run on the loop, so it is handed over
    with ``call_soon_threadsafe`` inside the activity's context.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self.details: tuple[Any, ...] = ()

    def __call__(self, *details: Any) -> None:
        self.details = details
        # RuntimeError: the loop is gone, so the activity already ended and nobody listens.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._send, context=self._context)

    def _send(self) -> None:
        activity.heartbeat(*self.details)

    async def tick(self, interval_s: float) -> None:
        while True:
            self._send()  # resend the latest details so ticks never erase the tool's progress
            await asyncio.sleep(interval_s)


def _problems(exc: ValidationError, allowed: list[str]) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(arguments)"
        message = err["msg"]
        if err["type"] == "missing":
            message = "required argument is missing"
        elif err["type"] == "extra_forbidden":
            message = f"unknown argument; allowed: {', '.join(allowed) or 'none'}"
        problems.append({"field": field, "message": message})
    return problems


class ToolActivities:
    """Worker-side state for tool execution: the tool registry and the ledger/cache."""

    def __init__(
        self, registry: ToolRegistry, ledger: Ledger, *, max_result_chars: int = 16_000
    ) -> None:
        self.registry = registry
        self.ledger = ledger
        self.max_result_chars = max_result_chars

    @activity.defn(name="execute_tool")
    async def execute_tool(self, invocation: ToolInvocation) -> ToolOutcome:
        started = time.perf_counter()
        # The ``execute_tool {name}`` span and the tool latency histogram
        # (baton.telemetry.spans); the span is recorded only on a worker that traces.
        with observe_tool(invocation) as observed:
            outcome = await self._execute(invocation)
            observed.outcome(outcome)
        duration_ms = (time.perf_counter() - started) * 1000
        return outcome.model_copy(update={"duration_ms": round(duration_ms, 3)})

    async def _execute(self, inv: ToolInvocation) -> ToolOutcome:
        limit = self.max_result_chars
        try:
            definition = self.registry.resolve(inv.tool.name)
        except UnknownToolError as exc:
            return error_outcome(
                "unknown_tool", f"{exc}. Call only the tools you were given.", max_chars=limit
            )
        except ToolDefinitionError as exc:
            # A broken tool module is the deployment's bug: retrying cannot fix it, and the model
            # cannot either, so fail the activity loudly for the operator.
            raise ApplicationError(
                str(exc), type="ToolDefinitionError", non_retryable=True
            ) from exc
        parsed = self._validate(definition, inv)
        if isinstance(parsed, ToolOutcome):
            return parsed
        arguments = parsed.model_dump(mode="json")
        # The run's spec is what the workflow planned with; the code's spec is what the function
        # really does. Either one saying "write" is enough to protect the side effect.
        is_write = "write" in (inv.tool.effect, definition.spec.effect)
        cacheable = not is_write and inv.tool.cacheable and definition.spec.cacheable

        if is_write:
            if not inv.idempotency_key:
                raise ApplicationError(
                    f"write tool {inv.tool.name} invoked without an idempotency key",
                    type="MissingIdempotencyKey",
                    non_retryable=True,
                )
            recorded = await asyncio.to_thread(self.ledger.lookup, inv.idempotency_key)
            if recorded is not None:
                activity.logger.info("tool %s: recorded outcome returned", inv.tool.name)
                return recorded.model_copy(update={"ledger_hit": True})
        elif cacheable:
            cached = await asyncio.to_thread(self.ledger.cache_get, inv.tool.name, arguments)
            if cached is not None:
                return cached.model_copy(update={"cache_hit": True})

        outcome = await self._call(definition, inv, parsed)

        if is_write:
            winner = await asyncio.to_thread(
                self.ledger.record, inv.idempotency_key, inv.tool.name, arguments, outcome
            )
            # Another attempt of this very call recorded first: report its outcome, not ours.
            return outcome if winner == outcome else winner.model_copy(update={"ledger_hit": True})
        if cacheable and outcome.status == "ok":
            await asyncio.to_thread(
                self.ledger.cache_put, inv.tool.name, arguments, outcome, inv.tool.cache_ttl_s
            )
        return outcome

    def _validate(self, definition: ToolDefinition, inv: ToolInvocation) -> BaseModel | ToolOutcome:
        name = inv.tool.name
        allowed = list(definition.arguments_model.model_fields)
        if inv.raw_arguments is not None:
            shown = inv.raw_arguments[:200] + ("…" if len(inv.raw_arguments) > 200 else "")
            return error_outcome(
                "invalid_arguments",
                f"invalid arguments for tool {name}: they are not a JSON object: {shown!r}. "
                f"Call {name} again with a JSON object of the parameters "
                f"({', '.join(allowed) or 'none'}).",
                max_chars=self.max_result_chars,
                extra={"errors": [{"field": "(arguments)", "message": "not a JSON object"}]},
            )
        try:
            return definition.arguments_model.model_validate(inv.arguments)
        except ValidationError as exc:
            problems = _problems(exc, allowed)
            lines = "\n".join(f"- {p['field']}: {p['message']}" for p in problems)
            return error_outcome(
                "invalid_arguments",
                f"invalid arguments for tool {name}:\n{lines}\n"
                f"Call {name} again with corrected arguments.",
                max_chars=self.max_result_chars,
                extra={"errors": problems},
            )

    async def _call(
        self, definition: ToolDefinition, inv: ToolInvocation, args: BaseModel
    ) -> ToolOutcome:
        name = inv.tool.name
        info = activity.info()
        beat = _Heartbeat()
        # Attribute access, not model_dump: nested pydantic arguments reach the tool as models.
        kwargs: dict[str, Any] = {field: getattr(args, field) for field in type(args).model_fields}
        if definition.context_param:
            kwargs[definition.context_param] = ToolContext(
                idempotency_key=inv.idempotency_key,
                run_id=inv.run_id,
                workflow_id=inv.workflow_id,
                agent=inv.agent,
                step=inv.step,
                call_id=inv.call_id,
                attempt=info.attempt,
                heartbeat=beat,
            )
        timeout = info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else None
        base = timeout or inv.tool.heartbeat_s
        # A third of the timeout leaves room for two late beats before the server gives up.
        ticker = asyncio.create_task(beat.tick(base / 3 if base else _IDLE_HEARTBEAT_S))
        try:
            if definition.is_async:
                result = await definition.fn(**kwargs)
            else:
                result = await asyncio.to_thread(definition.fn, **kwargs)
        except ApplicationError:
            raise
        except TRANSIENT_ERRORS as exc:
            described = f"{type(exc).__name__}: {exc}"
            if info.attempt >= inv.tool.retry.max_attempts:
                return error_outcome(
                    "tool_unavailable",
                    f"tool {name} is unavailable after {info.attempt} attempts: {described}",
                    max_chars=self.max_result_chars,
                )
            delay = exc.retry_after if isinstance(exc, RetryableToolError) else None
            raise ApplicationError(
                f"tool {name}: {described}",
                type=type(exc).__name__,
                next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
            ) from exc
        except Exception as exc:
            activity.logger.info("tool %s raised %s", name, type(exc).__name__)
            return error_outcome(
                "tool_raised",
                f"tool {name} failed: {type(exc).__name__}: {exc}",
                max_chars=self.max_result_chars,
            )
        finally:
            ticker.cancel()
        return ok_outcome(name, result, max_chars=self.max_result_chars)
