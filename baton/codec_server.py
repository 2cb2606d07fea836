"""``baton codec-server``: Temporal's remote codec protocol over Baton's payload encryption.

The Temporal UI (and ``temporal`` CLI with ``--codec-endpoint``) sends the payloads it shows to
``POST /decode`` and gets plaintext back, so a person reads a run in the UI while the database
holds only ciphertext; ``POST /encode`` serves the reverse (signals typed in the UI). Bodies are
Temporal's ``Payloads`` message in protobuf JSON: ``{"payloads": [{"metadata": {...}, "data":
"<base64>"}]}``.

The server holds the codec keys, so who can reach it can read every payload: bind it to
loopback (``baton up`` does), or require ``BATON_CODEC_SERVER_TOKEN`` as a bearer token and put
it behind the same authentication as the UI. CORS answers only the configured UI origins.
"""

from __future__ import annotations

import hmac

import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from baton.codec import EncryptionCodec

__all__ = ["codec_app", "serve_codec"]


def codec_app(codec: EncryptionCodec, *, origins: list[str], token: str | None) -> Starlette:
    async def convert(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "a bearer token is required"}, status_code=401)
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as exc:
            return JSONResponse({"error": f"not a Payloads message: {exc}"}, status_code=400)
        try:
            if request.url.path.endswith("/encode"):
                converted = await codec.encode(payloads.payloads)
            else:
                converted = await codec.decode(payloads.payloads)
        except ValueError as exc:  # an unknown key id: say which, never a stack trace
            return JSONResponse({"error": str(exc)}, status_code=400)
        body = json_format.MessageToJson(Payloads(payloads=converted))
        return Response(body, media_type="application/json")

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[Route("/encode", convert, methods=["POST"]),
                Route("/decode", convert, methods=["POST"]),
                Route("/healthz", healthz)],
        middleware=[Middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["POST"],
            allow_headers=["Content-Type", "X-Namespace", "Authorization"],
            allow_credentials=True)],
    )


def serve_codec(codec: EncryptionCodec, host: str, port: int, *, origins: list[str],
                token: str | None) -> None:
    uvicorn.run(codec_app(codec, origins=origins, token=token), host=host, port=port,
                log_level="warning")
