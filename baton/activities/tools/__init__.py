"""Tool execution: the ``execute_tool`` activity, its idempotency ledger and read cache.

The worker builds one ``ToolActivities(registry, open_ledger(settings.resolved_ledger_url))`` and
registers its bound ``execute_tool`` method. The ledger interface and its two stores are in
:mod:`baton.activities.tools.store`; the retry rule for exceptions a tool raises is in
:mod:`baton.activities.tools.retry`; the exactly-once guarantee for write tools in
:mod:`baton.activities.tools.activity`.
"""

from baton.activities.tools.activity import DEFAULT_LEASE_S, ToolActivities
from baton.activities.tools.results import MAX_VALUE_BYTES
from baton.activities.tools.retry import TRANSIENT_ERRORS, RetryableToolError
from baton.activities.tools.sqlite_ledger import SqliteLedger
from baton.activities.tools.store import LedgerStore, canonical_json, open_ledger
from baton.idempotency import idempotency_key

__all__ = [
    "DEFAULT_LEASE_S",
    "EXECUTE_TOOL",
    "MAX_VALUE_BYTES",
    "TRANSIENT_ERRORS",
    "Ledger",
    "LedgerStore",
    "RetryableToolError",
    "SqliteLedger",
    "ToolActivities",
    "canonical_json",
    "idempotency_key",
    "open_ledger",
]

# The activity type name, for workflows that start it by name.
EXECUTE_TOOL = "execute_tool"

# The embedded store under its earlier name: callers that build a ledger from a file path.
Ledger = SqliteLedger
