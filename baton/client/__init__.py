"""Baton's client side: the typed async API, the embedded stack and the ``baton`` CLI.

``from client import BatonClient, EmbeddedStack`` is the programmatic entry point; the CLI lives
in :mod:`baton.client.cli` and only orchestrates these two.
"""

from baton.client.api import WORKFLOW_TYPE, BatonClient, QueryTimeoutError, RunExistsError, RunView
from baton.client.stack import EmbeddedStack, find_temporal_binary, free_port

__all__ = [
    "WORKFLOW_TYPE",
    "BatonClient",
    "EmbeddedStack",
    "QueryTimeoutError",
    "RunExistsError",
    "RunView",
    "find_temporal_binary",
    "free_port",
]
