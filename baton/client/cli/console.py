"""``baton console``: the web console (approvals inbox, runs) on its own.

``baton up`` starts the same process next to the embedded stack. Alone, it reads the
deployment's configuration like every command (``baton.toml``, ``BATON_*``): the Temporal
address, who decides (``BATON_CONSOLE_USER_HEADER`` behind an authenticating proxy, or a
name-only sign-in where ``BATON_ALLOW_UNSIGNED_DECISIONS`` is set) and its signing key
(``BATON_CONSOLE_KEY_FILE``).
"""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from baton.client.cli._common import Address, Namespace, run_async, settings_from

__all__ = ["console"]


def console(
    host: Annotated[str | None, typer.Option(
        help="interface to listen on (env BATON_CONSOLE_HOST; loopback unless an "
             "authenticating proxy is the only way in)")] = None,
    port: Annotated[int | None, typer.Option(help="(env BATON_CONSOLE_PORT, default 8235)")]
    = None,
    address: Address = None, namespace: Namespace = None,
) -> None:
    """Serve the web console: approvals inbox across runs, run search, live run pages."""
    from baton.console import serve_console  # starlette and jinja only for this command

    settings = settings_from(console_host=host, console_port=port, temporal_address=address,
                             namespace=namespace)
    # uvicorn re-raises the Ctrl-C it handled once the server has stopped: a clean exit here.
    with contextlib.suppress(KeyboardInterrupt):
        run_async(serve_console(settings))
