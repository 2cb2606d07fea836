"""The ``execute_tool`` activity: validate, deduplicate, run, serialise one tool call.

Exactly-once for write tools, stated honestly. Temporal delivers activities at least once: an
attempt can finish its work and lose its completion (worker crash, network), a retry can start
while a timed-out attempt's thread still runs the tool, and a retry can land on another worker.
For ``effect="write"`` tools the activity therefore *claims* the call in a durable ledger
(:mod:`baton.activities.tools.store`) before running it, keyed by the tenant and the call's
idempotency key (``baton.idempotency.idempotency_key``, computed by the workflow):

* a call whose outcome is recorded is never executed again; the recorded outcome is returned
  with ``ledger_hit=True``;
* a call another attempt holds a live claim on is not executed either: the attempt fails with a
  retryable ``ToolCallInProgress`` whose ``next_retry_delay`` is when that claim's lease expires,
  so Temporal comes back when the holder has recorded its outcome (or died);
* the claim's lease is renewed from the heartbeat loop while the tool runs, even after the
  attempt itself was cancelled (see :mod:`baton.activities.tools.lease`);
* the remaining window, a holder that crashed after the tool's own commit and before recording
  it, ends when its lease expires (on the SQLite ledger, as soon as its process is known to be
  gone: :mod:`baton.activities.tools.holders`) and a retry takes the claim over and runs the
  tool again. It is
  closed by the tool itself using ``ctx.idempotency_key``: a UNIQUE column in its database, or an
  ``Idempotency-Key`` header on its HTTP call. The example ``issue_refund`` does exactly that.

Only outcomes (``ok`` and tool errors) are recorded, never infrastructure exceptions: those
release the claim and are retried, and the retry must be free to act. Read tools marked
``cacheable`` are served from a TTL cache keyed by (tenant, tool, canonical arguments) in the same
store. Which exceptions are retried is documented in :mod:`baton.activities.tools.retry`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from baton.activities.llm.conversations import ConversationCache
from baton.activities.memory.service import MemoryHandle, MemoryService
from baton.activities.tools.arguments import Arguments, allowed_arguments, check_arguments
from baton.activities.tools.heartbeat import Heartbeat
from baton.activities.tools.lease import Lease, Orphans
from baton.activities.tools.results import error_outcome, ok_outcome
from baton.activities.tools.retry import TRANSIENT_ERRORS, RetryableToolError
from baton.activities.tools.store import Busy, ClaimRequest, LedgerStore, Recorded, new_owner
from baton.calls import ToolInvocation, ToolOutcome
from baton.errors import ToolDefinitionError, UnknownToolError
from baton.telemetry.spans import observe_tool
from baton.tools import ToolContext, ToolDefinition, ToolRegistry

__all__ = ["DEFAULT_LEASE_S", "ToolActivities"]

# How long a claim lives without renewal: how long a retry waits for a crashed holder.
DEFAULT_LEASE_S = 30.0


def _discard(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class ToolActivities:
    """Worker-side state for tool execution: the tool registry and the ledger/cache store.

    ``drain()`` waits for tools still running after their attempt was cancelled; the worker
    calls it before closing ``ledger``. ``unavailable(name)`` says why a tool this worker would
    serve cannot run right now (an MCP server that is down), or None: such a call is retried
    like a transient failure instead of being answered "unknown tool". ``conversations``: the
    worker's llm conversation cache, told each result so the next model call can refer to it.
    """

    def __init__(self, registry: ToolRegistry, ledger: LedgerStore, *,
                 max_result_chars: int = 16_000, lease_s: float = DEFAULT_LEASE_S,
                 unavailable: Callable[[str], str | None] | None = None,
                 memory: MemoryService | None = None,
                 conversations: ConversationCache | None = None) -> None:
        self.registry = registry
        self.conversations = conversations
        self.ledger = ledger
        self.memory = memory  # long-term memory, for tools whose invocation carries a policy
        self.max_result_chars = max_result_chars
        self.lease_s = lease_s
        self.unavailable = unavailable
        self.orphans = Orphans()

    async def drain(self) -> None:
        await self.orphans.drain()

    @activity.defn(name="execute_tool")
    async def execute_tool(self, invocation: ToolInvocation) -> ToolOutcome:
        started = time.perf_counter()
        # The ``execute_tool {name}`` span and the tool latency histogram
        # (baton.telemetry.spans); the span is recorded only on a worker that traces.
        with observe_tool(invocation) as observed:
            outcome = await self._execute(invocation)
            observed.outcome(outcome)
        duration_ms = (time.perf_counter() - started) * 1000
        if self.conversations is not None:
            self.conversations.tool_answered((invocation.workflow_id, invocation.agent),
                                             outcome.message(invocation.call_id,
                                                             invocation.tool.name))
        return outcome.model_copy(update={"duration_ms": round(duration_ms, 3)})

    async def _execute(self, inv: ToolInvocation) -> ToolOutcome:
        limit = self.max_result_chars
        try:
            definition = self.registry.resolve(inv.tool.name)
        except UnknownToolError as exc:
            why = self.unavailable(inv.tool.name) if self.unavailable else None
            if why is not None:  # raises for Temporal to retry; the last attempt tells the model
                return self._outcome(inv, activity.info().attempt, None, RetryableToolError(why))
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
        arguments = parsed.canonical
        # The run's spec is what the workflow planned with; the code's spec is what the function
        # really does. Either one saying "write" is enough to protect the side effect.
        is_write = "write" in (inv.tool.effect, definition.spec.effect)
        cacheable = not is_write and inv.tool.cacheable and definition.spec.cacheable
        if is_write:
            return await self._execute_write(definition, inv, parsed, arguments)
        if cacheable:
            cached = await self.ledger.cache_get(inv.tenant, inv.tool.name, arguments)
            if cached is not None:
                # The tool does not run: what the cached call cost (its time, what it reported
                # spending) is what this hit saved.
                return cached.model_copy(update={"cache_hit": True,
                                                 "original_ms": cached.duration_ms})
        started = time.perf_counter()
        outcome = await self._call(definition, inv, parsed, None)
        if cacheable and outcome.status == "ok":
            took = round((time.perf_counter() - started) * 1000, 3)
            # Tagged with the run's subject: forgetting a subject purges its cached reads too.
            await self.ledger.cache_put(inv.tenant, inv.tool.name, arguments,
                                        outcome.model_copy(update={"duration_ms": took}),
                                        inv.tool.cache_ttl_s, subject=inv.subject)
        return outcome

    async def _execute_write(self, definition: ToolDefinition, inv: ToolInvocation,
                             parsed: Arguments, arguments: dict[str, Any]) -> ToolOutcome:
        name, attempt = inv.tool.name, activity.info().attempt
        if not inv.idempotency_key:
            raise ApplicationError(f"write tool {name} invoked without an idempotency key",
                                   type="MissingIdempotencyKey", non_retryable=True)
        owner = new_owner()
        claim = await self.ledger.claim(ClaimRequest(
            tenant=inv.tenant, key=inv.idempotency_key, tool=name, arguments=arguments,
            owner=owner, attempt=attempt, lease_s=self.lease_s))
        if isinstance(claim, Recorded):
            activity.logger.info("tool %s: recorded outcome returned", name)
            return claim.outcome.model_copy(update={"ledger_hit": True})
        if isinstance(claim, Busy):
            return self._busy(inv, claim, attempt)
        if claim.claims > 1:
            activity.logger.warning("tool %s: took over the claim of an attempt that ended "
                                    "(claim %d); the tool may have acted before", name,
                                    claim.claims)
        lease = Lease(self.ledger, tenant=inv.tenant, key=inv.idempotency_key, owner=owner,
                      tool=name, lease_s=self.lease_s)
        try:
            outcome = await self._call(definition, inv, parsed, lease)
        except asyncio.CancelledError:
            if not lease.adopted:  # an async tool was cancelled with its attempt: it stopped
                self.orphans.spawn(lease.release())
            raise
        except BaseException:
            await lease.release()  # a retryable failure: the retry must be free to act
            raise
        winner = await lease.record(outcome)
        # Another attempt of this very call recorded first: report its outcome, not ours.
        return outcome if winner == outcome else winner.model_copy(update={"ledger_hit": True})

    def _busy(self, inv: ToolInvocation, busy: Busy, attempt: int) -> ToolOutcome:
        holder = f"attempt {busy.attempt} ({busy.owner})"
        if attempt >= inv.tool.retry.max_attempts:
            # Not recorded: it is not the call's outcome, which the holder may still produce.
            return error_outcome(
                "tool_unavailable",
                f"tool {inv.tool.name} is still running in {holder} and this call has no "
                "attempts left; its result is unknown. Do not call it again: check its effect "
                "first.", max_chars=self.max_result_chars, extra={"in_progress": True})
        raise ApplicationError(
            f"tool {inv.tool.name}: call in progress in {holder}; its claim expires in "
            f"{busy.expires_in_s:.1f}s", type="ToolCallInProgress",
            # By then the holder has recorded its outcome, renewed its lease, or died.
            next_retry_delay=timedelta(seconds=max(busy.expires_in_s, 0.1)))

    def _validate(self, definition: ToolDefinition, inv: ToolInvocation) -> Arguments | ToolOutcome:
        name = inv.tool.name
        allowed = allowed_arguments(definition)
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
        checked = check_arguments(definition, inv.arguments)
        if isinstance(checked, Arguments):
            return checked
        lines = "\n".join(f"- {p['field']}: {p['message']}" for p in checked)
        return error_outcome(
            "invalid_arguments",
            f"invalid arguments for tool {name}:\n{lines}\n"
            f"Call {name} again with corrected arguments.",
            max_chars=self.max_result_chars,
            extra={"errors": checked},
        )

    async def _call(self, definition: ToolDefinition, inv: ToolInvocation, args: Arguments,
                    lease: Lease | None) -> ToolOutcome:
        info = activity.info()
        beat = Heartbeat(lease)
        kwargs = dict(args.kwargs)
        context = ToolContext(
            idempotency_key=inv.idempotency_key, run_id=inv.run_id, workflow_id=inv.workflow_id,
            agent=inv.agent, step=inv.step, call_id=inv.call_id, attempt=info.attempt,
            heartbeat=beat, tenant=inv.tenant, subject=inv.subject, memory=self._memory(inv))
        if definition.context_param:
            kwargs[definition.context_param] = context
        timeout = info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else None
        ticker = asyncio.create_task(beat.tick(beat.interval_s(timeout or inv.tool.heartbeat_s)))
        settle = functools.partial(self._settle, inv, info.attempt, context)
        try:
            if definition.is_async:
                result = await definition.fn(**kwargs)
            else:
                # Shielded: a cancelled attempt cannot stop the thread, so the thread's future
                # must survive the cancellation for the lease to follow it to the end.
                running = asyncio.get_running_loop().run_in_executor(
                    None, functools.partial(contextvars.copy_context().run, definition.fn,
                                            **kwargs))
                try:
                    result = await asyncio.shield(running)
                except asyncio.CancelledError:
                    if lease is not None and not running.done():
                        lease.adopted = True
                        self.orphans.adopt(running, lease, settle)
                    else:  # a read: nobody waits for it, but its error must not go unread
                        running.add_done_callback(_discard)
                    raise
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as exc:
            return settle(None, exc)
        finally:
            # Awaited, so no renewal is still in flight when the claim is released or recorded.
            beat.stop()
            await ticker
        return settle(result, None)

    def _memory(self, inv: ToolInvocation) -> MemoryHandle | None:
        if self.memory is None or inv.memory is None:
            return None
        return MemoryHandle(self.memory, inv.memory, tenant=inv.tenant,
                            subject=inv.memory.scope_subject(inv.subject),
                            run_id=inv.run_id, agent=inv.agent, key=inv.idempotency_key)

    def _settle(self, inv: ToolInvocation, attempt: int, context: ToolContext, result: Any,
                error: BaseException | None) -> ToolOutcome:
        """What the tool returned or raised, as an outcome with what it reported spending; a
        transient failure raises a retryable ``ApplicationError`` instead (see
        :mod:`baton.activities.tools.retry`)."""
        outcome = self._outcome(inv, attempt, result, error)
        if not (context.tokens or context.cost_usd):
            return outcome
        return outcome.model_copy(update={"tool_tokens": context.tokens,
                                          "tool_cost_usd": round(context.cost_usd, 9)})

    def _outcome(self, inv: ToolInvocation, attempt: int, result: Any,
                 error: BaseException | None) -> ToolOutcome:
        name = inv.tool.name
        if isinstance(error, ApplicationError):
            raise error
        if isinstance(error, TRANSIENT_ERRORS):
            described = f"{type(error).__name__}: {error}"
            if attempt >= inv.tool.retry.max_attempts:
                return error_outcome(
                    "tool_unavailable",
                    f"tool {name} is unavailable after {attempt} attempts: {described}",
                    max_chars=self.max_result_chars,
                )
            delay = error.retry_after if isinstance(error, RetryableToolError) else None
            raise ApplicationError(
                f"tool {name}: {described}", type=type(error).__name__,
                next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
            ) from error
        if error is not None:
            activity.logger.info("tool %s raised %s", name, type(error).__name__)
            return error_outcome("tool_raised", f"tool {name} failed: {type(error).__name__}: "
                                 f"{error}", max_chars=self.max_result_chars)
        return ok_outcome(name, result, max_chars=self.max_result_chars)
