"""A test tool that spends money of its own (as a summariser calling a model, or a paid API
would) and says so through its context: what a cache hit on it saves is measurable."""

from __future__ import annotations

import time

from baton.tools import ToolContext, tool

__all__ = ["SUMMARY_COST_USD", "SUMMARY_TOKENS", "summarise_document"]

SUMMARY_TOKENS = 1_200
SUMMARY_COST_USD = 0.0036


@tool(cacheable=True, cache_ttl_s=600.0, timeout_s=10.0)
def summarise_document(doc_id: str, ctx: ToolContext) -> str:
    """Summarise one stored document by its id (e.g. D1), with a model of the tool's own.

    Args:
        doc_id: The document id.
    """
    time.sleep(0.05)  # the tool's own model call takes a while: a cache hit saves that time
    ctx.report_cost(tokens=SUMMARY_TOKENS, cost_usd=SUMMARY_COST_USD)
    return f"Document {doc_id}: retries need idempotency keys; side effects happen once."
