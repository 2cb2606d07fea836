"""A loopback stand-in for llama.cpp's OpenAI-compatible server (and older vLLM): the scripted
model behind a proxy that answers HTTP 500, in llama.cpp's error shape, to the two requests those
servers refuse: an assistant message with ``"content": null`` and a ``json_schema``
``response_format``. Everything else goes to the scripted server unchanged, so scripts, faults
and the call log work as usual (under the scripted server's own run ids)."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from baton.scripted.testing import ScriptedServer

__all__ = ["REFUSALS", "LlamaCppLike", "refusal"]

REFUSALS = {  # what llama.cpp's server answers, by the part of the request it cannot handle
    "null_content": "[json.exception.type_error.302] type must be string, but is null",
    "json_schema": "response_format type must be one of \"text\" or \"json_object\", but got: "
                   "json_schema",
}


def refusal(body: Any) -> str | None:
    """The 500 message llama.cpp gives ``body``, or None when it serves it."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if any(isinstance(m, dict) and m.get("role") == "assistant" and "content" in m
           and m["content"] is None for m in messages or []):
        return REFUSALS["null_content"]
    if isinstance(body, dict) and (body.get("response_format") or {}).get("type") == "json_schema":
        return REFUSALS["json_schema"]
    return None


class LlamaCppLike(ScriptedServer):
    """``with LlamaCppLike(upstream) as server:`` a strict proxy on its own loopback port in front
    of a running scripted server (``upstream``); ``refused`` lists the requests it answered 500."""

    def __init__(self, upstream: ScriptedServer) -> None:
        super().__init__()
        self.refused: list[str] = []

        async def chat(request: Request) -> Response:
            body = await request.json()
            if (said := refusal(body)) is not None:
                self.refused.append(said)
                return JSONResponse({"error": {"code": 500, "message": said,
                                               "type": "server_error"}}, 500)
            headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-baton")}
            async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
                answer = await http.post(f"{upstream.base_url}/chat/completions", json=body,
                                         headers=headers)
            return Response(answer.content, answer.status_code,
                            media_type="application/json")

        async def healthz(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        self._app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                                      Route("/healthz", healthz, methods=["GET"])])
