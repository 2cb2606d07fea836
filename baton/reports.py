"""What members of a team hand each other besides their answers: a needs-help report when an
agent ran out of steps or budget, and the input contract a transfer target holds its input to.

Pure data (no I/O, no clock): runs carry these in their results and inputs, and the sandbox
passes the module through like ``baton.runs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InputContract", "NeedsHelp"]


class _Model(BaseModel):
    # Wire payloads, like everything in baton.runs: unknown fields are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class NeedsHelp(_Model):
    """Why an agent inside a team stopped without an answer and what it had done, built from its
    own run (no model call), so its supervisor can decide what to do next: re-route, retry with
    a larger slice or ask a person (``on_needs_help``)."""

    status: str  # the member's end: ``max_steps`` or ``budget_exhausted``
    tried: list[str] = Field(default_factory=list)  # its tool calls and how each went
    missing: str  # what it still lacked, in words
    last_answer: str | None = None  # the last thing it said, if anything
    steps: int = 0
    tokens: int = 0

    def text(self) -> str:
        """The report as its supervisor's model reads it."""
        tried = "; ".join(self.tried) if self.tried else "no tool calls"
        said = f" Its last words: {self.last_answer}" if self.last_answer else ""
        return (f"needs help after {self.steps} step(s) and {self.tokens} tokens "
                f"({self.status}). Tried: {tried}. Missing: {self.missing}.{said}")


class InputContract(_Model):
    """The input a transfer target accepts: ``transfer_to_<agent>`` carries an ``input`` that
    must match ``schema``; a mismatch goes back to the transferring agent at most
    ``max_fix_attempts`` times before it ends ``input_invalid``."""

    input_schema: dict[str, Any]
    max_fix_attempts: int = 2
