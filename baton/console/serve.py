"""Running the console as a process (``baton console``): uvicorn on the configured address."""

from __future__ import annotations

import uvicorn

from baton.client.api import BatonClient
from baton.console.app import console_app
from baton.console.identity import console_identity
from baton.settings import BatonSettings

__all__ = ["serve_console"]

# Open live pages hold a stream each; a stop should not wait for every browser to go away.
GRACEFUL_SHUTDOWN_S = 3


async def serve_console(settings: BatonSettings) -> None:
    """Serve until SIGINT/SIGTERM. Before listening, raises ``ConsoleConfigError`` when the
    configuration gives no way to know who decides, and ``StackError`` when Temporal is out of
    reach (one line each, not a server's traceback)."""
    console_identity(settings)
    client = await BatonClient.connect(settings)
    app = console_app(settings, client=client)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.console_host, port=settings.console_port, log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
    await server.serve()
