"""The demo shop's orders and refund outbox, in SQLite (default) or PostgreSQL.

``$BATON_SUPPORT_DB`` names the shop: a file path (default ``$BATON_HOME/support.sqlite``, see
:mod:`baton.examples.support_db`) or a ``postgresql://`` URL. Worker replicas on several hosts
must share one PostgreSQL shop: a refund retried on another replica then finds the first
attempt's outbox row by its idempotency key instead of refunding again in a database of its own.
The help center is read-only shipped content and stays in each host's SQLite file.

The refund logic is written once over a two-method connection adapter; what differs is how each
database serialises refunds of one order (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a row lock on
the order) so the refundable-amount check and the insert see the same outbox.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any, Protocol

from baton.examples import support_db

__all__ = ["order", "refund"]

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id   TEXT PRIMARY KEY,
    customer   TEXT NOT NULL,
    email      TEXT NOT NULL,
    item       TEXT NOT NULL,
    amount     DOUBLE PRECISION NOT NULL,
    currency   TEXT NOT NULL,
    status     TEXT NOT NULL,
    ordered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    order_id        TEXT NOT NULL REFERENCES orders(order_id),
    amount          DOUBLE PRECISION NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
)
"""
_pg_ready: set[str] = set()
_pg_lock = threading.Lock()


class _Db(Protocol):
    def one(self, sql: str, *params: Any) -> dict[str, Any] | None: ...
    def run(self, sql: str, *params: Any) -> None: ...


class _Sqlite:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def one(self, sql: str, *params: Any) -> dict[str, Any] | None:
        row = self.conn.execute(sql.replace("%s", "?"), params).fetchone()
        return None if row is None else dict(row)

    def run(self, sql: str, *params: Any) -> None:
        self.conn.execute(sql.replace("%s", "?"), params)


class _Postgres:
    def __init__(self, conn: Any) -> None:  # psycopg.Connection, imported only when used
        self.conn = conn

    def one(self, sql: str, *params: Any) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(sql, params).fetchone()
        return row

    def run(self, sql: str, *params: Any) -> None:
        self.conn.execute(sql, params)


def _pg_connect(url: str) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    with _pg_lock:
        if url not in _pg_ready:
            with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
                # Replicas starting together: one creates the tables, the others wait for it.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('baton-example-shop'))")
                conn.execute(_PG_SCHEMA)
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (order_id) DO NOTHING", support_db.ORDERS)
            _pg_ready.add(url)
    return psycopg.connect(url, row_factory=dict_row)


@contextmanager
def _transaction(order_id: str, *, lock: bool = True) -> Iterator[_Db]:
    """One transaction; with ``lock``, refunds of ``order_id`` are serialised in it."""
    url = support_db.shop_url()
    if url is None:
        with closing(support_db.connect()) as conn:
            conn.execute("BEGIN IMMEDIATE" if lock else "BEGIN")
            try:
                yield _Sqlite(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return
    with _pg_connect(url) as conn:  # commits on success, rolls back on an exception
        db = _Postgres(conn)
        if lock:
            db.run("SELECT 1 FROM orders WHERE order_id = %s FOR UPDATE", order_id)
        yield db


def _order(db: _Db, order_id: str) -> dict[str, Any]:
    row = db.one("SELECT * FROM orders WHERE order_id = %s", order_id)
    if row is None:
        raise LookupError(f"no order with id {order_id}; check the id with the customer")
    return row


def order(order_id: str) -> dict[str, Any]:
    """The order's row; LookupError names an unknown id."""
    with _transaction(order_id, lock=False) as db:
        return _order(db, order_id)


def _refund_row(db: _Db, key: str) -> dict[str, Any] | None:
    return db.one("SELECT o.*, ord.currency FROM outbox o JOIN orders ord USING (order_id) "
                  "WHERE o.idempotency_key = %s", key)


def _check_refundable(db: _Db, order_id: str, amount: float) -> None:
    found = _order(db, order_id)
    if amount <= 0:
        raise ValueError("the refund amount must be positive")
    if found["status"] == "cancelled":
        raise ValueError(f"order {order_id} was cancelled and has already been refunded in full")
    total = db.one("SELECT COALESCE(SUM(amount), 0) AS refunded FROM outbox "
                   "WHERE order_id = %s AND kind = 'refund'", order_id)
    refunded = round(float(total["refunded"] if total else 0), 2)
    remaining = round(found["amount"] - refunded, 2)
    if amount > remaining:
        raise ValueError(
            f"cannot refund {amount:.2f} {found['currency']} on order {order_id}: it was paid "
            f"{found['amount']:.2f} and {refunded:.2f} is already refunded, so at most "
            f"{remaining:.2f} can be refunded"
        )


def refund(key: str, order_id: str, amount: float, reason: str) -> dict[str, Any]:
    """The refund recorded for ``key``, queued now unless it exists already (a re-execution of
    the same call finds its row: the UNIQUE key makes the refund happen once)."""
    with _transaction(order_id) as db:
        row = _refund_row(db, key)
        if row is None:
            _check_refundable(db, order_id, amount)
            db.run("INSERT INTO outbox (idempotency_key, kind, order_id, amount, reason) "
                   "VALUES (%s, 'refund', %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING",
                   key, order_id, amount, reason)
            row = _refund_row(db, key)
    if row is None:  # impossible: the row was found or inserted in the transaction above
        raise RuntimeError(f"refund {key} vanished from the outbox")
    return row
