"""Exponential backoff for things that restart or reconnect: 0.5 s, 1 s, 2 s, … up to a cap, and
back to the start once the thing has stayed up for a while.

Pure (the caller says how long the last attempt stayed up), so the embedded stack's supervisor
and ``baton worker``'s reconnect loop share one rule and tests check it without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Delays ``initial_s * factor**n``, capped at ``max_s``; ``n`` counts the failures since the
    last attempt that stayed up ``reset_after_s`` or longer (that one counts as a success)."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    reset_after_s: float = 60.0
    failures: int = 0

    def next_delay(self, *, up_for_s: float = 0.0) -> float:
        """The pause before the next attempt, after one that failed having been up ``up_for_s``."""
        if up_for_s >= self.reset_after_s:
            self.failures = 0
        delay = min(self.max_s, self.initial_s * self.factor ** self.failures)
        if delay < self.max_s:
            # Only while below the cap: a worker retrying for days must not overflow the float.
            self.failures += 1
        return delay
