"""The demo shop's SQLite database: orders, a refund outbox and a full-text help center.

Created on first use at ``$BATON_SUPPORT_DB`` (default ``$BATON_HOME/support.sqlite``, i.e.
``.baton/support.sqlite``), so the support example runs offline with nothing to install. When
``$BATON_SUPPORT_DB`` is a ``postgresql://`` URL instead, orders and refunds live there (see
:mod:`baton.examples.support_shop`) and this file, in ``$BATON_HOME``, serves the help center.
Creation is idempotent and safe when several worker processes start at once: WAL mode,
``CREATE ... IF NOT EXISTS``, ``INSERT OR IGNORE``, and the seeding runs inside one
``BEGIN IMMEDIATE`` transaction so concurrent seeders take turns.

``outbox.idempotency_key`` is UNIQUE on purpose: it is how ``issue_refund`` guarantees one refund
per tool call even if the call runs twice (see :mod:`baton.activities.tools.activity`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

__all__ = ["HELP_CENTER_DIR", "ORDERS", "connect", "db_path", "shop_url"]

HELP_CENTER_DIR = Path(__file__).parent / "help_center"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id   TEXT PRIMARY KEY,
    customer   TEXT NOT NULL,
    email      TEXT NOT NULL,
    item       TEXT NOT NULL,
    amount     REAL NOT NULL,
    currency   TEXT NOT NULL,
    status     TEXT NOT NULL,
    ordered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    order_id        TEXT NOT NULL REFERENCES orders(order_id),
    amount          REAL NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE VIRTUAL TABLE IF NOT EXISTS help_articles USING fts5(
    slug UNINDEXED, title, body, tokenize = 'porter unicode61'
);
"""

ORDERS = [
    ("A1001", "Maria Lopez", "maria.lopez@example.com", "Wireless headphones", 89.99, "EUR",
     "delivered", "2025-05-02T10:14:00Z"),
    ("A1002", "James Carter", "j.carter@example.com", "Espresso machine", 249.00, "EUR",
     "shipped", "2025-05-06T16:40:00Z"),
    ("A1003", "Aiko Tanaka", "aiko.t@example.com", "Running shoes (size 39)", 119.50, "EUR",
     "delivered", "2025-04-21T08:05:00Z"),
    ("A1004", "Lukas Meier", "lukas.meier@example.com", "Desk lamp", 39.90, "EUR",
     "processing", "2025-05-09T12:22:00Z"),
    ("A1005", "Fatima Zahra", "fatima.z@example.com", "Ceramic dinner set", 134.00, "EUR",
     "delivered", "2025-04-28T19:31:00Z"),
    ("A1006", "Noah Williams", "noah.w@example.com", "Mechanical keyboard", 159.00, "EUR",
     "cancelled", "2025-05-01T09:47:00Z"),
    ("A1007", "Chloé Dubois", "chloe.dubois@example.com", "Winter jacket (M)", 179.95, "EUR",
     "delivered", "2025-03-30T14:02:00Z"),
    ("A1008", "Oliver Smith", "oliver.smith@example.com", "Smartwatch", 299.00, "EUR",
     "shipped", "2025-05-08T11:18:00Z"),
]

_ready: set[Path] = set()
_ready_lock = threading.Lock()


def shop_url() -> str | None:
    """``$BATON_SUPPORT_DB`` when it is a PostgreSQL URL: the shared shop (orders, refunds)."""
    explicit = os.environ.get("BATON_SUPPORT_DB", "")
    return explicit if explicit.startswith(("postgresql://", "postgres://")) else None


def db_path() -> Path:
    """``$BATON_SUPPORT_DB``, else ``support.sqlite`` in ``$BATON_HOME`` (default ``.baton``);
    the latter also when ``$BATON_SUPPORT_DB`` is a PostgreSQL URL (then only for the help center).

    Read at every call, not at import, so tests and workers can point it elsewhere.
    """
    explicit = os.environ.get("BATON_SUPPORT_DB")
    if explicit and shop_url() is None:
        return Path(explicit)
    return Path(os.environ.get("BATON_HOME", ".baton")) / "support.sqlite"


def _articles() -> list[tuple[str, str, str]]:
    """(slug, title, body) of every shipped help-center article; the title is the ``#`` line."""
    articles = []
    for path in sorted(HELP_CENTER_DIR.glob("*.md")):
        first, _, body = path.read_text(encoding="utf-8").partition("\n")
        articles.append((path.stem, first.lstrip("# ").strip(), body.strip()))
    return articles


def _seed(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")  # must run outside a transaction
    conn.executescript(_SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ORDERS)
        # FTS5 tables have no unique constraints, so "insert or ignore" is done by hand; the
        # IMMEDIATE transaction makes the check-then-insert atomic across processes.
        for slug, title, body in _articles():
            row = conn.execute(
                "SELECT rowid, title, body FROM help_articles WHERE slug = ?", (slug,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO help_articles (slug, title, body) VALUES (?, ?, ?)",
                    (slug, title, body),
                )
            elif (row[1], row[2]) != (title, body):  # the shipped article was edited
                conn.execute(
                    "UPDATE help_articles SET title = ?, body = ? WHERE rowid = ?",
                    (title, body, row[0]),
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect() -> sqlite3.Connection:
    """A new autocommit connection to the demo database, creating and seeding it if needed.

    Rows come back as ``sqlite3.Row``. Callers open explicit transactions (``BEGIN IMMEDIATE``)
    when they read-then-write.
    """
    path = db_path().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = not path.exists()  # deleted since we seeded it: seed again
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    with _ready_lock:
        if missing or path not in _ready:
            try:
                _seed(conn)
            except BaseException:
                conn.close()
                raise
            _ready.add(path)
    return conn
