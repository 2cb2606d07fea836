"""Model calls: the ``chat`` activity and its provider adapters (OpenAI-compatible, Anthropic).

The scripted model server lives in :mod:`baton.scripted`; it is an HTTP server, so the
adapters here are the only code that talks to any model (docs/architecture.md#one-model-code-path).
"""

from baton.activities.llm.activity import LlmActivities
from baton.activities.llm.conversations import CacheStats, ConversationCache
from baton.activities.llm.errors import (
    classify_status,
    classify_transport,
    parse_retry_after,
    to_application_error,
)

__all__ = [
    "CacheStats",
    "ConversationCache",
    "LlmActivities",
    "classify_status",
    "classify_transport",
    "parse_retry_after",
    "to_application_error",
]
