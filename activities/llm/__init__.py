"""Model calls: the ``chat`` activity and its provider adapters (OpenAI-compatible, Anthropic).

The scripted model server lives in :mod:`activities.llm.scripted`; it is an HTTP server, so the
adapters here are the only code that talks to any model (DESIGN.md decision 2).
"""

from activities.llm.activity import LlmActivities, effective_profile
from activities.llm.conversations import CacheStats, ConversationCache
from activities.llm.errors import (
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
    "effective_profile",
    "parse_retry_after",
    "to_application_error",
]
