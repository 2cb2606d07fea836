"""``baton codec-server``: decrypt payloads for the Temporal UI (see :mod:`baton.codec_server`)."""

from __future__ import annotations

from typing import Annotated

import typer

from baton.client.cli._common import settings_from
from baton.codec import encryption_codec
from baton.codec_server import serve_codec
from baton.errors import StackError

__all__ = ["codec_server"]


def codec_server(
    host: Annotated[str, typer.Option(help="interface to listen on (loopback unless the "
                                           "server sits behind authentication)")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="(env BATON_CODEC_SERVER_PORT)")] = None,
) -> None:
    """Serve Temporal's remote codec protocol (/encode, /decode) with this machine's codec keys
    (BATON_CODEC_KEYS or BATON_CODEC_KEYS_FILE), for the Temporal UI's "codec server" setting."""
    settings = settings_from(codec_server_port=port)
    codec = encryption_codec(settings)
    if codec is None:
        raise StackError("no codec keys: set BATON_CODEC_KEYS (see `baton keys codec`)")
    token = settings.codec_server_token
    serve_codec(codec, host, settings.codec_server_port, origins=settings.codec_cors_origins,
                token=token.get_secret_value() if token else None)
