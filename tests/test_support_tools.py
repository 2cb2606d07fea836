"""The support example's tools against their own demo database in a temporary directory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from baton.examples import support_db
from baton.examples.support_tools import issue_refund, lookup_order, search_help_center
from baton.loader import load_team
from baton.tools import ToolContext, default_registry

EXAMPLES = Path(__file__).parent.parent / "baton" / "examples"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "nested" / "support.sqlite"
    monkeypatch.setenv("BATON_SUPPORT_DB", str(path))
    return path


def ctx(key: str) -> ToolContext:
    return ToolContext(
        idempotency_key=key, run_id="run", workflow_id="wf", agent="support_agent", step=1,
        call_id=f"call-{key}",
    )


def outbox_rows(path: Path) -> list[tuple[str, str, float]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT idempotency_key, order_id, amount FROM outbox").fetchall()


def test_lookup_order(db: Path) -> None:
    order = lookup_order(" a1003 ")
    assert order["order_id"] == "A1003"
    assert order["customer"] == "Aiko Tanaka"
    assert order["amount"] == pytest.approx(119.5)
    assert db.exists()  # created on first use, parent directory included


def test_lookup_unknown_or_malformed_order(db: Path) -> None:
    with pytest.raises(LookupError, match="no order with id A9999"):
        lookup_order("A9999")
    with pytest.raises(ValueError, match="look like A1001"):
        lookup_order("order 12")


def test_search_finds_the_refund_article(db: Path) -> None:
    hits = search_help_center("How do I get a refund for my order?")
    assert hits[0]["title"] == "Refund policy"
    assert "refund" in hits[0]["snippet"].lower()
    assert len(search_help_center("refund shipping returns", limit=1)) == 1


def test_search_sanitises_fts_syntax(db: Path) -> None:
    # Quotes, NEAR, stars and colons would be FTS5 syntax errors if passed through.
    hits = search_help_center('password" NEAR(reset* title:')
    assert hits[0]["article"] == "password-reset"
    with pytest.raises(ValueError, match="no searchable words"):
        search_help_center("?? !!")


def test_refund_twice_with_the_same_key_writes_one_row(db: Path) -> None:
    first = issue_refund("A1001", 25.0, "arrived late", ctx("key-1"))
    again = issue_refund("A1001", 25.0, "arrived late", ctx("key-1"))
    assert first == again
    assert first["status"] == "queued"
    assert first["refund_id"].startswith("RF-")
    assert outbox_rows(db) == [("key-1", "A1001", 25.0)]


def test_refund_over_the_order_amount_is_refused(db: Path) -> None:
    with pytest.raises(ValueError, match=r"at most 89\.99"):
        issue_refund("A1001", 90.0, "too much", ctx("key-1"))
    issue_refund("A1001", 80.0, "partial", ctx("key-2"))
    # Earlier refunds count: only 9.99 is left on this order.
    with pytest.raises(ValueError, match=r"at most 9\.99"):
        issue_refund("A1001", 10.0, "one more", ctx("key-3"))
    with pytest.raises(ValueError, match="positive"):
        issue_refund("A1001", 0, "nothing", ctx("key-4"))
    with pytest.raises(ValueError, match="cancelled"):
        issue_refund("A1006", 10.0, "cancelled order", ctx("key-5"))
    assert outbox_rows(db) == [("key-2", "A1001", 80.0)]


def test_concurrent_first_use_seeds_once(db: Path) -> None:
    errors: list[BaseException] = []

    def open_db() -> None:
        try:
            support_db.connect().close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_db) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 8
        articles = conn.execute("SELECT COUNT(*) FROM help_articles").fetchone()[0]
    assert articles == len(list(support_db.HELP_CENTER_DIR.glob("*.md")))


def test_support_team_yaml_loads() -> None:
    team = load_team(EXAMPLES / "support.yaml")
    assert team.pattern == "single"
    assert team.agent().tools == ("lookup_order", "search_help_center", "issue_refund")
    # What a worker configured with the example's module serves for those names.
    served = default_registry.serving(["baton.examples.support_tools"]).specs()
    assert set(team.agent().tools) <= set(served)
    assert served["issue_refund"].effect == "write"
    assert served["lookup_order"].cacheable
