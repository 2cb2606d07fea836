"""Memory as a run's history shows it: working-memory summaries and long-term recall.

A summariser call is a ``chat`` activity whose request names the range it folds
(``summarize``): its answer is the summary (``summarized``; a failed one leaves a mechanical
summary, noted with the failure). The ``recall_memories`` activity's result is what the agent
was shown at its start (``recalled``). The prompt sizes before and after a fold are estimates
only workflow code made: history does not hold them (0 here). Whether a person was asked,
and what they answered, reads from the ``ask_person`` approval.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.history.v1 import HistoryEvent

from baton.client._history.decode import tolerant
from baton.client._history.state import WalkState, at, jdict, number, text
from baton.memory import RecallResult
from baton.messages import Usage
from baton.runs import RecalledEvent, SummarizedEvent
from baton.specs import ServedProfile

__all__ = ["MemoryEvents"]


def _step(payload: dict[str, Any]) -> int:
    step = payload.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else 0


class MemoryEvents(WalkState):
    def summarized(self, event: HistoryEvent, request: dict[str, Any],
                   response: dict[str, Any] | None, error: str | None = None) -> None:
        fold = request.get("summarize")
        start, end = (fold if isinstance(fold, list) and len(fold) == 2 else (0, 1))
        profile = tolerant(ServedProfile, request.get("profile")) or ServedProfile()
        usage = tolerant(Usage, (response or {}).get("usage")) or Usage()
        message = jdict((response or {}).get("message"))
        self.emit(SummarizedEvent, at(event), agent=str(request.get("agent") or self.host),
                  step=_step(request), profile=str(request.get("profile_name") or "?"),
                  model=str((response or {}).get("model") or profile.model),
                  folded_messages=max(int(end) - int(start) - 1, 0), kept_messages=0,
                  tokens_before=0, tokens_after=0, summary=text(message.get("content")) or "",
                  usage=usage, cost_usd=profile.cost_usd(usage),
                  latency_ms=number((response or {}).get("latency_ms")),
                  error=error if error else None if response else "no answer")

    def recalled(self, event: HistoryEvent, request: dict[str, Any], value: Any) -> None:
        found = tolerant(RecallResult, value) or RecallResult()
        shown = found.hits or found.stale
        self.emit(RecalledEvent, at(event), agent=self.host, step=0,
                  subject=str(request.get("subject") or ""),
                  outcome="recalled" if found.hits else "too_old" if found.stale
                  else "nothing_relevant", mode=found.mode, memories=[
                      {"id": h.record.id, "kind": h.record.kind, "text": h.record.text,
                       "source_run": h.record.source_run, "age_s": round(h.age_s, 1),
                       "stale": h.stale} for h in shown])
