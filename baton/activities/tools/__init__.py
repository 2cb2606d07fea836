"""Tool execution: the ``execute_tool`` activity, its idempotency ledger and read cache.

The worker builds one ``ToolActivities(registry, Ledger(settings.resolved_ledger_path))`` and
registers its bound ``execute_tool`` method. The retry rule for exceptions a tool raises is in
:mod:`baton.activities.tools.retry`; the exactly-once guarantee for write tools in
:mod:`baton.activities.tools.activity`.
"""

from baton.activities.tools.activity import ToolActivities
from baton.activities.tools.ledger import Ledger, canonical_json
from baton.activities.tools.results import MAX_VALUE_BYTES
from baton.activities.tools.retry import TRANSIENT_ERRORS, RetryableToolError
from baton.idempotency import idempotency_key

__all__ = [
    "EXECUTE_TOOL",
    "MAX_VALUE_BYTES",
    "TRANSIENT_ERRORS",
    "Ledger",
    "RetryableToolError",
    "ToolActivities",
    "canonical_json",
    "idempotency_key",
]

# The activity type name, for workflows that start it by name.
EXECUTE_TOOL = "execute_tool"
