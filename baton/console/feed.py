"""What waits for a person, shared by every open page: one poll for all of them.

Every inbox page (and its live stream) asks :class:`ApprovalsFeed` for the open approvals of
every run. Asking Temporal costs a visibility query plus one query per waiting run, so the
answer is shared for ``interval_s``: ten open inboxes cost what one does. A quarter of a second
keeps "an approval shows within a second of being requested" with room for visibility to catch
up.
"""

from __future__ import annotations

import asyncio
import time

from baton.approvals import PendingApproval
from baton.client.api import BatonClient

__all__ = ["INTERVAL_S", "ApprovalsFeed", "may_decide", "visible_to"]

INTERVAL_S = 0.25


def may_decide(person: str, approval: PendingApproval) -> bool:
    """Whether ``person`` may decide ``approval`` (its deciders are people, groups already
    expanded by the run; none listed: anyone)."""
    return not approval.allowed_deciders or person in approval.allowed_deciders


def visible_to(person: str, approvals: list[PendingApproval]) -> list[PendingApproval]:
    """What ``person`` may decide, soonest to expire first (then oldest first)."""
    mine = [a for a in approvals if may_decide(person, a)]
    return sorted(mine, key=lambda a: (a.expires_at is None, a.expires_at or a.requested_at,
                                       a.requested_at))


class ApprovalsFeed:
    """Open approvals across runs, members included, refreshed at most every ``interval_s``."""

    def __init__(self, client: BatonClient, *, interval_s: float = INTERVAL_S) -> None:
        self._client = client
        self.interval_s = interval_s
        self._lock = asyncio.Lock()
        self._at = float("-inf")
        self._approvals: list[PendingApproval] = []

    async def current(self) -> list[PendingApproval]:
        async with self._lock:  # concurrent pages wait for the one refresh in flight
            if time.monotonic() - self._at >= self.interval_s:
                self._approvals = await self._client.pending_approvals()
                self._at = time.monotonic()
            return self._approvals

    async def find(self, workflow_id: str, approval_id: str) -> PendingApproval | None:
        """One open approval, asked of its run directly (fresh, not the shared answer)."""
        for approval in await self._client.pending_approvals(workflow_id):
            if approval.approval_id == approval_id:
                return approval
        return None
