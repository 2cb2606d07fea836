"""Per-run budget accounting, deterministic and kept in workflow state
(docs/architecture.md#budgets).

Spend is bounded *before* each model call, not noticed after it: the call's prompt is
estimated (one token per three UTF-8 bytes, scaled up by the largest actual/estimated ratio
seen so far in the run), its ``max_tokens`` is capped to what the token and cost budgets still
allow, and a call that cannot pay for its prompt plus ``MIN_OUTPUT_TOKENS`` is not made (the
run ends ``budget_exhausted``). A member is only started with a slice that can pay for one
such call. So a run spends at most its caps, plus whatever a provider counts beyond the
estimate for the prompts of calls in flight (none with the scripted model: it counts four bytes
a token).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from baton.messages import Usage
from baton.specs import Budget

__all__ = ["MIN_OUTPUT_TOKENS", "BudgetTracker", "estimate_tokens", "schema_texts"]

MIN_OUTPUT_TOKENS = 16  # a call that may answer less than this cannot say anything useful
_BYTES_PER_TOKEN = 3  # conservative: English runs ~4 bytes a token, CJK ~3, code and JSON ~3
_PER_MESSAGE = 4  # role and framing tokens every provider adds per message


class _Described(Protocol):  # a tool as the model sees it (ToolSchema, ToolSpec)
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def parameters(self) -> dict[str, Any]: ...


def schema_texts(tools: Iterable[_Described], output_schema: dict[str, Any] | None
                 ) -> list[str]:
    """What the tool definitions and the output schema put into a prompt."""
    texts = [t.name + t.description + json.dumps(t.parameters) for t in tools]
    return [*texts, json.dumps(output_schema)] if output_schema is not None else texts


def estimate_tokens(texts: Iterable[str], *, messages: int = 0, measured_bytes: int = 0) -> int:
    """A deliberately high estimate of the tokens ``texts`` (plus ``measured_bytes`` already
    counted, and ``messages`` messages' framing) take in a prompt."""
    size = measured_bytes + sum(len(text.encode("utf-8")) for text in texts)
    return math.ceil(size / _BYTES_PER_TOKEN) + _PER_MESSAGE * messages


class BudgetTracker:
    def __init__(self, budget: Budget, started_at: datetime, usage: Usage | None = None,
                 cost_usd: float = 0.0, waited_s: float = 0.0) -> None:
        self.budget = budget
        self.started_at = started_at
        self.usage = usage or Usage()
        self.cost_usd = cost_usd
        # Time spent waiting for people, which the wall clock does not count (unless the team
        # says so): the closed intervals, and the start of the one still open.
        self.waited_s = waited_s
        self.waiting_since: datetime | None = None
        # Slices handed to members still running: parallel branches must not each be given
        # the same remaining money.
        self.reserved_tokens = 0
        self.reserved_cost_usd = 0.0
        # How far actual prompts exceeded the estimate so far (never below 1): later estimates
        # are scaled by it, so a provider that counts more than three bytes a token is learned.
        self.prompt_ratio = 1.0

    def room_for_call(self, prompt_tokens: int, *, max_output: int, price_input_per_mtok: float,
                      price_output_per_mtok: float) -> tuple[int, str | None]:
        """(``max_tokens`` for the next call, or why it cannot be made) given its estimated
        prompt: the output is capped to what the token and cost budgets leave after the
        prompt; a call that cannot answer ``MIN_OUTPUT_TOKENS`` is refused."""
        prompt = math.ceil(prompt_tokens * self.prompt_ratio)
        room = max_output
        budget = self.budget
        if budget.max_tokens is not None:
            left = budget.max_tokens - self.usage.total_tokens - self.reserved_tokens
            room = min(room, left - prompt)
        if budget.max_cost_usd is not None and price_output_per_mtok > 0:
            left_usd = budget.max_cost_usd - self.cost_usd - self.reserved_cost_usd
            after_prompt = left_usd - prompt * price_input_per_mtok / 1_000_000
            room = min(room, math.floor(after_prompt * 1_000_000 / price_output_per_mtok))
        if room < MIN_OUTPUT_TOKENS:
            return 0, (f"the next model call needs about {prompt:,} prompt tokens plus at least "
                       f"{MIN_OUTPUT_TOKENS} to answer, more than the budget has left "
                       f"({self._left_text()})")
        return room, None

    def learn_prompt(self, estimated: int, actual: int) -> None:
        if estimated > 0 and actual > estimated * self.prompt_ratio:
            self.prompt_ratio = actual / estimated

    def can_pay_for(self, budget: Budget, prompt_tokens: int, *, price_input_per_mtok: float,
                    price_output_per_mtok: float) -> bool:
        """Whether a member with ``budget`` can make one minimal call of ``prompt_tokens``."""
        needed = math.ceil(prompt_tokens * self.prompt_ratio) + MIN_OUTPUT_TOKENS
        if budget.max_tokens is not None and budget.max_tokens < needed:
            return False
        cost = (math.ceil(prompt_tokens * self.prompt_ratio) * price_input_per_mtok
                + MIN_OUTPUT_TOKENS * price_output_per_mtok) / 1_000_000
        return budget.max_cost_usd is None or budget.max_cost_usd >= cost

    def _left_text(self) -> str:
        parts = []
        if self.budget.max_tokens is not None:
            parts.append(f"{self.budget.max_tokens - self.usage.total_tokens:,} of "
                         f"{self.budget.max_tokens:,} tokens")
        if self.budget.max_cost_usd is not None:
            parts.append(f"${self.budget.max_cost_usd - self.cost_usd:.4f} of "
                         f"${self.budget.max_cost_usd:.4f}")
        return ", ".join(parts) or "nothing"

    def reserve(self, budget: Budget) -> None:
        self.reserved_tokens += budget.max_tokens or 0
        self.reserved_cost_usd += budget.max_cost_usd or 0.0

    def release(self, budget: Budget) -> None:
        self.reserved_tokens -= budget.max_tokens or 0
        self.reserved_cost_usd -= budget.max_cost_usd or 0.0

    def wait_for_people(self, waiting: bool, now: datetime) -> None:
        """Someone started (or stopped) waiting for a person: pause (or resume) the clock."""
        if self.budget.count_human_wait:
            return
        if waiting and self.waiting_since is None:
            self.waiting_since = now
        elif not waiting and self.waiting_since is not None:
            self.waited_s += (now - self.waiting_since).total_seconds()
            self.waiting_since = None

    def paused_s(self, now: datetime) -> float:
        """Seconds the wall clock has not counted so far."""
        open_ = (now - self.waiting_since).total_seconds() if self.waiting_since else 0.0
        return self.waited_s + open_

    def charge(self, usage: Usage, cost_usd: float) -> None:
        self.usage = self.usage + usage
        self.cost_usd += cost_usd

    def slice(self, own: Budget, share: float = 1.0, *, now: datetime) -> Budget:
        """A member's budget: its own limits, capped by ``share`` of what this run has left."""
        def cap(limit: float | None, left: float | None) -> float | None:
            if left is None:
                return limit
            return left * share if limit is None else min(limit, left * share)

        budget = self.budget
        tokens = cap(own.max_tokens, None if budget.max_tokens is None
                     else budget.max_tokens - self.usage.total_tokens - self.reserved_tokens)
        cost = cap(own.max_cost_usd, None if budget.max_cost_usd is None
                   else budget.max_cost_usd - self.cost_usd - self.reserved_cost_usd)
        deadline = self.deadline(now)
        wall = cap(own.max_wall_clock_s, None if deadline is None
                   else (deadline - now).total_seconds())
        return Budget(
            max_tokens=None if tokens is None else max(int(tokens), 1),
            max_cost_usd=None if cost is None else max(cost, 1e-9),
            max_wall_clock_s=None if wall is None else max(wall, 1e-3),
            count_human_wait=budget.count_human_wait)

    def deadline(self, now: datetime) -> datetime | None:
        """When the wall clock runs out, if nobody waits for a person from ``now`` on."""
        if self.budget.max_wall_clock_s is None:
            return None
        return self.started_at + timedelta(
            seconds=self.budget.max_wall_clock_s + self.paused_s(now))

    def exhausted(self, now: datetime) -> str | None:
        """Which limit is used up, in words, or None while there is room for another step."""
        budget = self.budget
        if budget.max_tokens is not None and self.usage.total_tokens >= budget.max_tokens:
            return f"token budget used up: {self.usage.total_tokens} of {budget.max_tokens} tokens"
        if budget.max_cost_usd is not None and self.cost_usd >= budget.max_cost_usd:
            return f"cost budget used up: ${self.cost_usd:.4f} of ${budget.max_cost_usd:.4f}"
        if budget.max_wall_clock_s is not None:
            elapsed = now - self.started_at - timedelta(seconds=self.paused_s(now))
            if elapsed >= timedelta(seconds=budget.max_wall_clock_s):
                return (f"wall-clock budget used up: {elapsed.total_seconds():.0f}s of "
                        f"{budget.max_wall_clock_s:.0f}s")
        return None
