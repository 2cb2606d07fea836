"""``Session``: a conversation with a running team, from Python (``BatonClient.session``) and
``baton chat``.

::

    session = await client.session("support.yaml")
    reply = await session.send("Where is order A1001?")
    print(reply.text)
    async for item in session.events():  # the turns' events as they happen, members included
        ...
    await session.close()

A message is a ``send`` update whose id the client chooses once (``msg-<hex>``), so a send
repeated after a lost connection is the same message, answered once. A session that continues
as new fails the messages it had queued but not started with ``SessionContinuing``; ``send``
then sends them again, to the new run, without the caller noticing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from baton.client._workflow import not_found
from baton.client.reader import RunReader
from baton.errors import RunExistsError, SessionBusyError, SessionClosedError
from baton.loader import load_team
from baton.rollout import team_digest
from baton.runs import RunInput, RunResult, RunStatus
from baton.sessions import (
    SESSION_AGENT,
    SESSION_BUSY,
    SESSION_CLOSED,
    SESSION_CONTINUING,
    SESSION_WORKFLOW,
    SessionInput,
    SessionMessage,
    SessionReply,
    SessionView,
)
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.streaming import EVENTS, EventsPage, EventsRequest, TreeEvent
from baton.visibility import AGENT, STATUS, TEAM, TENANT, VERSION

__all__ = ["Session", "Sessions"]

CONTINUING_RETRY_S = 0.05  # between a session's continue-as-new and its new run taking messages


class Session:
    """One session (its id is the workflow id). ``send`` a message and get the team's reply."""

    def __init__(self, client: Client, runs: RunReader, session_id: str) -> None:
        self.id, self._runs = session_id, runs
        self._handle = client.get_workflow_handle(session_id)  # always the newest run

    async def send(self, text: str, *, message_id: str | None = None) -> SessionReply:
        """Send a message and wait for the team's reply (a turn may wait for a person's
        approval: decide it with ``client.decide(..., workflow_id=session.id)``). Raises
        ``SessionBusyError`` when the session already queues as many messages as it may,
        ``SessionClosedError`` when it has ended."""
        return await (await self.submit(text, message_id=message_id))

    async def submit(self, text: str, *, message_id: str | None = None
                     ) -> asyncio.Future[SessionReply]:
        """Send a message; return once the session has queued it, with the future of its
        reply (so a caller can go on: decide the turn's approvals, queue more messages)."""
        message = SessionMessage(text=text)  # an empty or oversized message fails here
        key = message_id or f"msg-{uuid.uuid4().hex[:16]}"
        handle = await self._queued(message, key)
        return asyncio.ensure_future(self._reply(handle, message, key))

    async def _queued(self, message: SessionMessage, key: str
                      ) -> WorkflowUpdateHandle[SessionReply]:
        while True:
            try:
                return await self._handle.start_update(
                    "send", message, id=key, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                    result_type=SessionReply)
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                continue  # no worker took it yet: the same update, asked again
            except WorkflowUpdateFailedError as exc:
                await self._refused(exc)
            except RPCError as exc:
                if not_found(exc):  # the workflow has closed
                    raise SessionClosedError(f"session {self.id} has ended") from exc
                if exc.status is RPCStatusCode.RESOURCE_EXHAUSTED:  # Temporal's own bound
                    raise SessionBusyError(f"session {self.id}: too many updates in flight "
                                           f"({exc.message}); send again once a reply has "
                                           "come") from exc
                raise

    async def _reply(self, handle: WorkflowUpdateHandle[SessionReply], message: SessionMessage,
                     key: str) -> SessionReply:
        while True:
            try:
                return await handle.result()
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                continue  # the reply takes longer than one RPC: the same update answers
            except WorkflowUpdateFailedError as exc:
                await self._refused(exc)
                handle = await self._queued(message, key)  # to the session's new run

    async def _refused(self, exc: WorkflowUpdateFailedError) -> None:
        """Return (after a pause) when the session continues as new; raise otherwise."""
        kind, why = getattr(exc.cause, "type", None), str(exc.cause or exc)
        if kind == SESSION_CONTINUING:
            await asyncio.sleep(CONTINUING_RETRY_S)
            return
        if kind == SESSION_BUSY:
            raise SessionBusyError(f"session {self.id}: {why}") from exc
        if kind == SESSION_CLOSED:
            raise SessionClosedError(f"session {self.id}: {why}") from exc
        raise exc

    async def close(self) -> SessionView:
        """End the session (``/exit``): the turn in progress finishes, nothing else starts."""
        try:
            view: SessionView = await self._handle.execute_update("close",
                                                                  result_type=SessionView)
        except RPCError as exc:
            if not_found(exc):
                return await self.view()
            raise
        return view

    async def view(self) -> SessionView:
        """The session: whether it is open, its turns so far (the latest ones), its spend."""
        view: SessionView = await self._runs.query(self.id, "session", None, SessionView)
        return view

    def events(self, offset: int = 0) -> AsyncIterator[TreeEvent]:
        """The session's events and its turns' (each turn is a run), as they happen."""
        return self._runs.event_tree(self.id, offset=offset)

    async def log_end(self) -> int:
        """The offset of the session's next event: ``events(await session.log_end())`` shows
        only what happens from now on."""
        page: EventsPage = await self._runs.query(self.id, EVENTS, EventsRequest(limit=1),
                                                  EventsPage)
        return page.end

    async def result(self) -> RunResult:
        """Wait for the session to end; how it ended (``details["ended"]``) and its spend."""
        return await self._runs.result(self.id)


def _team(team: TeamSpec | str | Path) -> TeamSpec:
    return team if isinstance(team, TeamSpec) else load_team(Path(team))


class Sessions:
    """``BatonClient``'s session methods (a mixin, so the client module stays about runs)."""

    client: Client
    settings: BatonSettings
    runs: RunReader

    async def _start_admitted(self, workflow: str, run: object, options: dict[str, Any],
                              timeout_s: float | None = None) -> None:
        raise NotImplementedError  # BatonClient's

    async def session(self, team: TeamSpec | str | Path, *, tenant: str = "default",
                      session_id: str | None = None, idle_timeout_s: float = 1800.0,
                      max_queued: int = 4) -> Session:
        """Open a session with ``team`` (a spec or a YAML file, as it is: sessions do not take
        rollouts): a long-lived conversation, one run of the team per message
        (``await session.send("...")`` returns the reply). It ends on ``session.close()``,
        after ``idle_timeout_s`` without a message, or when the team's budget (for the whole
        session) is spent; it queues at most ``max_queued`` messages. Returns once a worker
        admitted it, as ``start`` does for a run."""
        spec = _team(team)
        session = SessionInput(team=spec, tenant=tenant, idle_timeout_s=idle_timeout_s,
                               max_queued=max_queued)
        RunInput(team=spec, input="(a session)", tenant=tenant)  # the same checks as a run's
        session_id = session_id or f"{spec.name}-chat-{uuid.uuid4().hex[:8]}"
        options: dict[str, Any] = {
            "id": session_id, "task_queue": self.settings.task_queue,
            "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
            "search_attributes": TypedSearchAttributes([
                SearchAttributePair(TEAM, spec.name), SearchAttributePair(TENANT, tenant),
                SearchAttributePair(AGENT, SESSION_AGENT),
                SearchAttributePair(VERSION, team_digest(spec)),
                SearchAttributePair(STATUS, RunStatus.RUNNING.value)]),
            "static_summary": f"session of {spec.name}"}
        try:
            await self._start_admitted(SESSION_WORKFLOW, session, options)
        except WorkflowAlreadyStartedError as exc:
            raise RunExistsError(f"session {session_id!r} already exists; `baton chat "
                                 f"--resume {session_id}` reattaches to it") from exc
        return Session(self.client, self.runs, session_id)

    async def resume_session(self, session_id: str) -> Session:
        """Reattach to a session (``baton chat --resume``); ``SessionClosedError`` if it ended."""
        session = Session(self.client, self.runs, session_id)
        if (await session.view()).state == "ended":
            raise SessionClosedError(f"session {session_id} has ended")
        return session
