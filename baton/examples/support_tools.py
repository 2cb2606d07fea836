"""Tools of the customer-support example: look up orders, search the help center, refund.

Orders and refunds are the demo shop's (:mod:`baton.examples.support_shop`: SQLite by default,
PostgreSQL when replicas share it), the help center is the offline SQLite database of
:mod:`baton.examples.support_db`. Errors are raised as plain ``LookupError``/``ValueError`` with a
sentence the model can act on: the tool activity turns them into error outcomes the agent reads
(see :mod:`baton.activities.tools.retry`).
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from typing import Any

from baton.examples import support_shop
from baton.examples.support_db import connect
from baton.tools import ToolContext, tool

__all__ = ["issue_refund", "lookup_order", "search_help_center"]

_ORDER_ID = re.compile(r"^[A-Z]\d{3,}$")
# Words that appear in most questions and would only add noise to the FTS ranking.
_STOPWORDS = frozenset(
    [
        "a", "an", "and", "are", "be", "can", "do", "does", "for", "from", "get", "has", "have",
        "how", "i", "if", "in", "is", "it", "me", "my", "no", "not", "of", "on", "or", "our",
        "please", "the", "this", "to", "was", "what", "when", "where", "which", "why", "will",
        "with", "you", "your",
    ]
)
_MARKED = re.compile("\x01([^\x02]*)\x02")  # a match, as marked by FTS5 highlight()
_MAX_QUERY_TOKENS = 12
_MAX_RESULTS = 10


def _order_id(raw: str) -> str:
    order_id = raw.strip().upper()
    if not _ORDER_ID.match(order_id):
        raise ValueError(f"{raw!r} is not an order id; order ids look like A1001")
    return order_id


@tool(cacheable=True, cache_ttl_s=60.0, timeout_s=10.0)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id (e.g. A1001): customer, item, amount, status.

    Args:
        order_id: The order id, a letter followed by digits, e.g. A1001.
    """
    return support_shop.order(_order_id(order_id))


def _fts_query(query: str) -> str:
    """Free text → a safe FTS5 expression: quoted word tokens joined by OR.

    Quoting every token means no user text is parsed as FTS syntax (``NEAR``, ``*``, ``:``,
    unbalanced quotes), and OR with bm25 ranking lets partial matches still surface.
    """
    words = [w for w in re.findall(r"\w+", query.lower()) if w not in _STOPWORDS]
    if not words:
        raise ValueError("the query has no searchable words; describe the customer's problem")
    unique = list(dict.fromkeys(words))[:_MAX_QUERY_TOKENS]
    return " OR ".join(f'"{word}"' for word in unique)


def _relevance(row: sqlite3.Row) -> tuple[int, int]:
    """(distinct words matched, matches with a title match worth five body matches).

    FTS5's bm25 is useless on a corpus this small: its IDF is clamped to ~0 for any word found
    in over half the articles, so the ranking is done here from FTS5's own match markers.
    """
    title = _MARKED.findall(row["title_marked"])
    body = _MARKED.findall(row["body_marked"])
    return len({word.lower() for word in title + body}), 5 * len(title) + len(body)


@tool(timeout_s=10.0)
def search_help_center(query: str, limit: int = 3) -> list[dict[str, str]]:
    """Search the help-center articles (refunds, shipping, returns, warranty, accounts) and
    return the best matching titles with a short snippet.

    Args:
        query: What the customer is asking about, in plain words.
        limit: How many articles to return (1 to 10).
    """
    limit = min(max(limit, 1), _MAX_RESULTS)
    with closing(connect()) as conn:
        rows = conn.execute(
            "SELECT slug, title, snippet(help_articles, 2, '', '', ' … ', 24) AS snippet, "
            "highlight(help_articles, 1, char(1), char(2)) AS title_marked, "
            "highlight(help_articles, 2, char(1), char(2)) AS body_marked "
            "FROM help_articles WHERE help_articles MATCH ?",
            (_fts_query(query),),
        ).fetchall()
    ranked = sorted(rows, key=_relevance, reverse=True)
    # Articles are hard-wrapped markdown; the model reads snippets better as one line.
    return [
        {"article": r["slug"], "title": r["title"], "snippet": " ".join(r["snippet"].split())}
        for r in ranked[:limit]
    ]


# Approval (docs/architecture.md#approvals) is a decorator option, e.g.
# approval=ApprovalPolicy(mode="when",
# condition="amount > 100"); it stays at the default "never" until approvals are wired up.
@tool(effect="write", timeout_s=15.0)
def issue_refund(order_id: str, amount: float, reason: str, ctx: ToolContext) -> dict[str, Any]:
    """Refund part or all of an order to the customer's original payment method.

    Args:
        order_id: The order to refund, e.g. A1001.
        amount: How much to refund, in the order's currency; at most what is still refundable.
        reason: Why the customer is refunded, in one sentence (kept for the audit trail).
    """
    # The shop's UNIQUE idempotency key is what makes this exactly-once even when the activity's
    # ledger never heard that the refund committed (a crash between the two).
    row = support_shop.refund(ctx.idempotency_key, _order_id(order_id), round(amount, 2), reason)
    return {
        "refund_id": f"RF-{row['id']:05d}",
        "order_id": row["order_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "status": "queued",
        "created_at": row["created_at"],
    }
