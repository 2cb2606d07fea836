"""Baton's client side: the typed async API, reading runs, the embedded stack and the CLI.

``from baton.client import BatonClient, EmbeddedStack`` is the programmatic entry point;
``BatonClient.runs`` is a :class:`RunReader`, which reads runs with nothing but a Temporal
client; ``BatonClient.session`` opens a :class:`Session`, a conversation with a team. The
``baton`` CLI lives in :mod:`baton.client.cli` and only orchestrates these.
"""

from baton.client._workflow import run_result
from baton.client.api import WORKFLOW_TYPE, BatonClient, QueryTimeoutError, RunExistsError, RunView
from baton.client.reader import RunReader
from baton.client.session import Session
from baton.client.stack import EmbeddedStack, find_temporal_binary, free_port

__all__ = [
    "WORKFLOW_TYPE",
    "BatonClient",
    "EmbeddedStack",
    "QueryTimeoutError",
    "RunExistsError",
    "RunReader",
    "RunView",
    "Session",
    "find_temporal_binary",
    "free_port",
    "run_result",
]
