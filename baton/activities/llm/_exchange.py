"""The part of a model call both adapters share: post, time, parse, wrap as a ChatResponse."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import BaseModel

from baton.activities.llm.errors import post_json
from baton.calls import ChatRequest, ChatResponse
from baton.errors import ProviderResponseError
from baton.messages import AssistantMessage, Usage

__all__ = ["ParsedChat", "exchange"]


class ParsedChat(BaseModel):
    """What both adapters extract from a provider's answer (before latency is known)."""

    message: AssistantMessage
    usage: Usage
    model: str
    finish_reason: str | None = None
    refusal: str | None = None
    recovered_tool_calls: int = 0


async def exchange(
    http: httpx.AsyncClient,
    request: ChatRequest,
    *,
    url: str,
    payload: dict[str, Any],
    headers: Mapping[str, str],
    provider: str,
    parse: Callable[[Mapping[str, Any]], ParsedChat],
) -> ChatResponse:
    """One POST; raises a classified ProviderError on failure (see ``post_json``)."""
    started = time.monotonic()
    body, request_id = await post_json(http, url, payload, headers=headers,
                                       timeout_s=request.profile.timeout_s, provider=provider)
    latency_ms = (time.monotonic() - started) * 1000
    try:
        parsed = parse(body)
    except ProviderResponseError as exc:
        exc.request_id = request_id  # an unreadable answer is worth a ticket too
        raise
    return ChatResponse(
        message=parsed.message.model_copy(update={"agent": request.agent}),
        usage=parsed.usage,
        model=parsed.model or request.profile.model,
        provider=provider,
        finish_reason=parsed.finish_reason,
        latency_ms=round(latency_ms, 1),  # stored in every call's history: 0.1 ms says enough
        refusal=parsed.refusal,
        request_id=request_id,
        recovered_tool_calls=parsed.recovered_tool_calls,
    )
