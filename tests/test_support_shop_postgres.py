"""The support example's shop on a real PostgreSQL server (``BATON_SUPPORT_DB=postgresql://...``),
as compose workers share it: one refund per idempotency key, and concurrent refunds of one order
never exceed what it was paid."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from baton.examples.support_tools import issue_refund, lookup_order, search_help_center
from baton.tools import ToolContext


@pytest.fixture
def shop(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATON_SUPPORT_DB", pg_url)
    return pg_url


def ctx(key: str) -> ToolContext:
    return ToolContext(idempotency_key=key, run_id="run", workflow_id="wf",
                       agent="support_agent", step=1, call_id=f"call-{key}")


def outbox(url: str) -> list[tuple[str, str, float]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT idempotency_key, order_id, amount FROM outbox "
                            "ORDER BY id").fetchall()


def test_orders_are_seeded_and_looked_up(shop: str) -> None:
    order = lookup_order("a1003")
    assert (order["customer"], order["amount"]) == ("Aiko Tanaka", 119.5)
    with pytest.raises(LookupError, match="no order with id A9999"):
        lookup_order("A9999")
    # The help center is shipped content and stays in the host's SQLite file.
    assert search_help_center("refund")[0]["title"] == "Refund policy"


def test_the_same_key_refunds_once(shop: str) -> None:
    first = issue_refund("A1001", 25.0, "arrived late", ctx("key-1"))
    again = issue_refund("A1001", 25.0, "arrived late", ctx("key-1"))
    assert first == again and first["refund_id"].startswith("RF-")
    assert outbox(shop) == [("key-1", "A1001", 25.0)]
    with pytest.raises(ValueError, match=r"at most 64\.99"):
        issue_refund("A1001", 65.0, "too much", ctx("key-2"))
    with pytest.raises(ValueError, match="cancelled"):
        issue_refund("A1006", 10.0, "cancelled order", ctx("key-3"))


def test_concurrent_refunds_are_serialised_per_order(shop: str) -> None:
    lookup_order("A1001")  # seed first, so the threads only race on refunds
    keys = [f"k{i}" for i in range(12)]

    def attempt(key: str) -> str:
        try:
            issue_refund("A1001", 10.0, "partial", ctx(key))
            return "refunded"
        except ValueError:
            return "refused"

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, keys + keys))  # every key twice, at once
    rows = outbox(shop)
    assert len(rows) == 8  # 89.99 paid: eight refunds of 10.00 fit, the ninth does not
    assert len({key for key, _, _ in rows}) == 8
    assert results.count("refunded") == 16  # each refunded key answered twice, one row each
